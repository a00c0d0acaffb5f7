"""``gridmgr token`` and ``gridmgr apikey``: credentials for workers' apps and partner systems;
``gridmgr access-log``: who read which restricted or confidential case."""

from __future__ import annotations

from datetime import datetime

import click

from gridmgr.cli.common import console, err_console, load_grid, settings_of
from gridmgr.cli.store import db_option, opened_store


@click.group()
def token() -> None:
    """Personal API tokens (Authorization: Bearer …) for grid workers' apps and scripts."""


@token.command("create")
@click.option("--person", "person_id", required=True, help="Roster person id, e.g. P00044.")
@click.option("--days", type=int, default=90, show_default=True, help="Days until it expires.")
@click.option("--label", default="", help="What the token is for, e.g. the phone's name.")
@db_option
@click.pass_context
def token_create(ctx: click.Context, person_id: str, days: int, label: str, db: str | None) -> None:
    """Create a personal token for a person on the roster and print it (shown only once)."""
    from gridmgr.datafiles import load_roster
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.credentials import create_token

    if days < 1:
        raise click.BadParameter("a token must live at least one day", param_hint="--days")
    roster = load_roster(settings_of(ctx), load_grid(ctx, None))
    person = roster.person(person_id)
    with opened_store(ctx, db, create=True) as store:
        secret = create_token(store, person.person_id, now=datetime.now(TZ), days=days, label=label)
    click.echo(secret)
    err_console.print(
        f"token for {person.name} ({person.person_id}), valid {days} days", markup=False
    )


@token.command("revoke")
@click.argument("token_id")
@db_option
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str, db: str | None) -> None:
    """Revoke a token or api_key by its id (the 16 hex digits after ``gm_``)."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.credentials import revoke

    with opened_store(ctx, db) as store:
        done = revoke(store, token_id, now=datetime.now(TZ))
    if not done:
        raise click.UsageError(f"no live credential with id {token_id}")
    console.print(f"revoked {token_id}")


@click.group()
def apikey() -> None:
    """Open311 api_keys for partner systems (the 12345 hotline, city apps)."""


@apikey.command("create")
@click.argument("name")
@click.option("--days", type=int, default=365, show_default=True, help="Days until it expires.")
@click.option(
    "--scope",
    type=click.Choice(["public", "partner"]),
    default="public",
    show_default=True,
    help="partner: Open311 reads with this key also show restricted cases, in full.",
)
@db_option
@click.pass_context
def apikey_create(ctx: click.Context, name: str, days: int, scope: str, db: str | None) -> None:
    """Create an api_key for the partner system NAME and print it (shown only once)."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.credentials import create_api_key

    with opened_store(ctx, db, create=True) as store:
        secret = create_api_key(store, name, now=datetime.now(TZ), days=days, scope=scope)
    click.echo(secret)
    err_console.print(f"api_key for {name}, valid {days} days; scope {scope}", markup=False)


@click.command("access-log")
@click.option("--case", "case_id", default=None, help="Only the reads of this case id.")
@click.option("--person", default=None, help="Only the reads by this person id (or apikey:<id>).")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Only reads from this local time on (Asia/Shanghai), e.g. 2026-05-06T09:00.",
)
@click.option("--limit", type=int, default=200, show_default=True, help="The newest this many.")
@db_option
@click.pass_context
def access_log(
    ctx: click.Context,
    case_id: str | None,
    person: str | None,
    since: datetime | None,
    limit: int,
    db: str | None,
) -> None:
    """List the recorded reads of restricted and confidential cases (访问留痕), oldest first:
    time, reader, door, case, tier."""
    from rich.markup import escape

    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.accesslog import all_reads

    since_at = None if since is None else since.replace(tzinfo=TZ)
    with opened_store(ctx, db) as store:
        found = all_reads(store, case_id=case_id, person=person, since=since_at, limit=limit)
    for r in found:
        at = r.at.astimezone(TZ).isoformat(timespec="seconds")
        who = f"{escape(r.reader)} ({escape(r.reader_name)}, {r.role})"
        console.print(f"{at}  {who:<40} {r.door:<9} {r.case_id} {r.tier}")
    console.print(f"{len(found)} read(s)")
