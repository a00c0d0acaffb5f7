"""``gridmgr account``: dashboard passwords of roster persons (set, disable, enable), and the
refused logins."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from rich.markup import escape

from gridmgr.cli.common import console, load_grid, settings_of
from gridmgr.cli.store import db_option, opened_store

person_option = click.option(
    "--person", "person_id", required=True, help="Roster person id, e.g. P00044."
)


@click.group()
def account() -> None:
    """Dashboard logins: each is a roster person with a password (API clients use tokens)."""


@account.command("set-password")
@person_option
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@db_option
@click.pass_context
def account_set_password(
    ctx: click.Context, person_id: str, password_stdin: bool, db: str | None
) -> None:
    """Set a person's dashboard password (creating his account); asked twice, not shown.

    At least 10 characters, not only digits, not the person id. Sessions logged in with the old
    password end at once.
    """
    from gridmgr.datafiles import load_roster
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.accounts import check_password_policy, set_login_password

    roster = load_roster(settings_of(ctx), load_grid(ctx, None))
    person = roster.person(person_id)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            f"new password for {person.name} ({person.person_id})",
            hide_input=True,
            confirmation_prompt="repeat it",
            err=True,
        )
    check_password_policy(person.person_id, password)  # before opening the database
    with opened_store(ctx, db, create=True) as store:
        done = set_login_password(
            store, person.person_id, password, now=datetime.now(TZ), actor="cli:account"
        )
    note = " (the account is disabled: `gridmgr account enable`)" if done.disabled else ""
    console.print(f"password set for {person.name} ({person.person_id}){note}")


@account.command("disable")
@person_option
@db_option
@click.pass_context
def account_disable(ctx: click.Context, person_id: str, db: str | None) -> None:
    """Refuse a person's logins from now on; his open sessions end at once and his personal API
    tokens are revoked."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.accounts import disable_login

    with opened_store(ctx, db) as store:
        disable_login(store, person_id, now=datetime.now(TZ), actor="cli:account")
    console.print(f"account of {person_id} disabled")


@account.command("enable")
@person_option
@db_option
@click.pass_context
def account_enable(ctx: click.Context, person_id: str, db: str | None) -> None:
    """Allow a disabled account to log in again (with its existing password)."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.accounts import enable_login

    with opened_store(ctx, db) as store:
        enable_login(store, person_id, now=datetime.now(TZ), actor="cli:account")
    console.print(f"account of {person_id} enabled")


@account.command("failures")
@click.option("--person", "person_id", default=None, help="Only this person id (as typed).")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Only failures from this local time on (Asia/Shanghai), e.g. 2026-05-06T09:00.",
)
@click.option("--limit", type=int, default=200, show_default=True, help="The newest this many.")
@db_option
@click.pass_context
def account_failures(
    ctx: click.Context,
    person_id: str | None,
    since: datetime | None,
    limit: int,
    db: str | None,
) -> None:
    """List refused logins (time, person id as typed, address), oldest first."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.logins import login_failures

    since_at = None if since is None else since.replace(tzinfo=TZ)
    with opened_store(ctx, db) as store:
        found = login_failures(store, person_id=person_id, since=since_at, limit=limit)
    for failure in found:
        at = failure.at.astimezone(TZ).isoformat(timespec="seconds")
        console.print(f"{at}  {escape(failure.person_id):<24} {escape(failure.address)}")
    console.print(f"{len(found)} refused login(s)")
