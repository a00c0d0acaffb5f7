"""``gridmgr check invariants``: the "nothing escapes the grid" check, for people and monitors."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click
from rich.table import Table
from rich.text import Text

from gridmgr.cli.common import console, settings_of
from gridmgr.cli.store import db_option, opened_store


@click.group()
def check() -> None:
    """Check what the command center promises (see ``check invariants``)."""


@check.command()
@db_option
@click.option(
    "--at",
    "at_text",
    default=None,
    help="Evaluate the deadlines as of this time, e.g. '2026-12-02 09:00' (default now).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for monitoring systems).")
@click.pass_context
def invariants(ctx: click.Context, db: str | None, at_text: str | None, as_json: bool) -> None:
    """Check that nothing escapes the grid: each line with its count and the first offending
    case ids.

    Lines: territory coverage, cells with an owner, open cases with a named person, open cases
    with a deadline, overdue stages escalated within 5 minutes, the out-of-grid and unlocated
    queues on time, and the ledger verified end to end. Exits 1 when any line is red, so cron,
    Zabbix or Prometheus' textfile collector can alarm on it.
    """
    from gridmgr.cli.common import load_grid
    from gridmgr.datafiles import routing_context
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.responsibility.roster_files import parse_time
    from gridmgr.services.context import Services
    from gridmgr.services.invariants import LABELS, check, verification_status

    now = parse_time(at_text) if at_text else datetime.now(TZ)
    settings = settings_of(ctx)
    context = routing_context(settings, load_grid(ctx, None))
    with opened_store(ctx, db) as store:
        services = Services(store, context, settings, clock=lambda: now)
        verified = verification_status(store.verify_ledger(), now)
        lines = check(services, at=now, verified=verified)
    ok = all(line.ok for line in lines)
    if as_json:
        out = {"at": now.isoformat(), "ok": ok, "lines": [line.to_json() for line in lines]}
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        table = Table(title=f"nothing escapes the grid — as of {now.astimezone(TZ):%Y-%m-%d %H:%M}")
        for column in ("", "check", "value", "first cases"):
            table.add_column(column)
        for line in lines:
            mark = Text("OK", style="green") if line.ok else Text("RED", style="bold red")
            first = " ".join(line.case_ids) or "; ".join(line.details)
            table.add_row(mark, LABELS.get(line.key, line.key), line.value, first)
        console.print(table)
        console.print(Text("all lines hold") if ok else Text("some lines are red", style="red"))
    if not ok:
        sys.exit(1)
