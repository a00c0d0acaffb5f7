"""``gridmgr display``: read-only tokens for the command center's wall displays (大屏)."""

from __future__ import annotations

from datetime import datetime

import click

from gridmgr.cli.common import console, err_console
from gridmgr.cli.store import db_option, opened_store


@click.group()
def display() -> None:
    """Wall displays: a read-only token opens the big screen (/dashboard/screen) until revoked."""


@display.command("create")
@click.argument("name")
@db_option
@click.pass_context
def display_create(ctx: click.Context, name: str, db: str | None) -> None:
    """Create a display token for the wall NAME and print it (shown only once). Open
    /dashboard/screen?token=TOKEN on the wall once: the browser keeps it in a cookie."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.display import create_display

    with opened_store(ctx, db, create=True) as store:
        secret = create_display(store, name, now=datetime.now(TZ))
    click.echo(secret)
    err_console.print(
        f"display token for {name.strip()}: read-only, lasts until `gridmgr display revoke "
        f"{secret.split('_')[1]}`; open /dashboard/screen?token=<token> on the wall",
        markup=False,
    )


@display.command("list")
@db_option
@click.pass_context
def display_list(ctx: click.Context, db: str | None) -> None:
    """List the display tokens (id, name, created, revoked)."""
    from gridmgr.services.display import list_displays

    with opened_store(ctx, db) as store:
        rows = list_displays(store)
    for row in rows:
        state = "live" if row.revoked_at is None else f"revoked {row.revoked_at:%Y-%m-%d %H:%M}"
        console.print(
            f"{row.token_id}  {row.subject}  {row.created_at:%Y-%m-%d}  {state}", markup=False
        )
    if not rows:
        console.print("no display tokens")


@display.command("revoke")
@click.argument("token_id")
@db_option
@click.pass_context
def display_revoke(ctx: click.Context, token_id: str, db: str | None) -> None:
    """Revoke a display token by its id (the 16 hex digits after ``gm_``): the wall goes dark at
    its next refresh."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.credentials import revoke

    with opened_store(ctx, db) as store:
        done = revoke(store, token_id, now=datetime.now(TZ))
    if not done:
        raise click.UsageError(f"no live credential with id {token_id}")
    console.print(f"revoked {token_id}")
