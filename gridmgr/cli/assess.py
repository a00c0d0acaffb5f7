"""``gridmgr assess``: the monthly assessment (考核) — show a month's scorecard, close (freeze)
it, and record a worker's contest of a missed-report (漏报) flag."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from gridmgr.cli.common import console, err_console, load_grid, settings_of
from gridmgr.cli.responsibility import TimeParam
from gridmgr.cli.store import db_option, opened_store

if TYPE_CHECKING:
    from gridmgr.services.context import Services

at_option = click.option(
    "--at", "at", type=TimeParam(), default=None, help="As of this time (default now)."
)
config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Weights and minimums (default: the shipped data/assessment.toml).",
)
LEVEL_NAMES = {"worker": "网格员", "community": "社区/村", "town": "镇街"}


@contextmanager
def services_at(ctx: click.Context, db: str | None, at: datetime | None) -> Iterator[Services]:
    from gridmgr.datafiles import routing_context
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.context import Services

    now = at if at is not None else datetime.now(TZ)
    settings = settings_of(ctx)
    context = routing_context(settings, load_grid(ctx, None))
    with opened_store(ctx, db) as store:
        yield Services(store, context, settings, clock=lambda: now)


def _config(path: Path | None) -> Any:
    from gridmgr.analytics.scorecard import read_assessment_config

    return read_assessment_config(path)


@click.group()
def assess() -> None:
    """The monthly assessment of grid workers, communities and towns (考核)."""


@assess.command("show")
@click.argument("month")
@click.option("--json", "as_json", is_flag=True, help="Print the whole scorecard as JSON.")
@click.option(
    "--xlsx",
    "xlsx",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write it as an Excel workbook: one sheet per level, and the missed reports.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write it as CSV (UTF-8 with BOM, for Excel): one row per unit of every level.",
)
@click.option("--level", type=click.Choice(["worker", "community", "town"]), default=None,
              help="Only this level (default all three).")  # fmt: skip
@config_option
@at_option
@db_option
@click.pass_context
def assess_show(
    ctx: click.Context,
    month: str,
    as_json: bool,
    xlsx: Path | None,
    csv_path: Path | None,
    level: str | None,
    config_path: Path | None,
    at: datetime | None,
    db: str | None,
) -> None:
    """Show MONTH's scorecard (YYYY-MM): the closed one if the month is closed, else computed
    now. Each indicator as numerator/denominator, the composite score and the rank;
    ``--xlsx FILE`` also writes it as an Excel workbook, ``--csv FILE`` as CSV."""
    from gridmgr.services.assessments import compute_month, stored_month

    with services_at(ctx, db, at) as services:
        closed = stored_month(services, month)
        if closed is not None:
            body = dict(closed.body)
            status = f"closed, version {closed.version}, digest {closed.digest[:16]}…"
        else:
            with err_console.status(f"computing the {month} scorecard"):
                body = compute_month(services, month, config=_config(config_path)).body()
            status = "open (computed now; `gridmgr assess close` freezes it)"
    if xlsx is not None:
        from gridmgr.analytics.scorecard import scorecard_workbook

        scorecard_workbook(body, status=status).save(xlsx)
        err_console.print(f"wrote {xlsx}")
    if csv_path is not None:
        import csv

        from gridmgr.analytics.scorecard import scorecard_csv_rows

        with csv_path.open("w", encoding="utf-8-sig", newline="") as out:
            csv.writer(out).writerows(scorecard_csv_rows(body, status=status))
        err_console.print(f"wrote {csv_path}")
    if as_json:
        click.echo(json.dumps({"status": status, **body}, ensure_ascii=False, indent=2))
        return
    console.print(f"scorecard {month}: {status}")
    for lv, rows in body["levels"].items():
        if level is None or lv == level:
            console.print(_level_table(lv, rows))
    console.print(f"missed reports (漏报) flagged: {len(body['missed'])}")


def _level_table(level: str, rows: list[dict[str, Any]]) -> Table:
    from gridmgr.analytics.scorecard import INDICATORS

    table = Table(title=f"{LEVEL_NAMES[level]} ({level})")
    for column in ("rank", "unit", "name", "cases", *(i.label_zh for i in INDICATORS), "score"):
        table.add_column(column)
    for row in rows:
        cells = []
        for ind in INDICATORS:
            num, den = row[f"{ind.key}_num"], row[f"{ind.key}_den"]
            if ind.key == "coverage":
                rate = row["coverage_rate"]
                cells.append("–" if rate is None else f"{rate:.1%}")
            else:
                cells.append(f"{num}/{den}")
        rank = "–" if row["rank"] is None else str(int(row["rank"]))
        table.add_row(rank, row["unit"], row["name"], str(row["cases"]), *cells,
                      f"{row['score']:.1f}")  # fmt: skip
    return table


@assess.command("close")
@click.argument("month")
@click.option("--by", "actor", default="cli:assess", show_default=True, help="Who closes it.")
@config_option
@at_option
@db_option
@click.pass_context
def assess_close(
    ctx: click.Context,
    month: str,
    actor: str,
    config_path: Path | None,
    at: datetime | None,
    db: str | None,
) -> None:
    """Close (freeze) MONTH's scorecard: it is stored and its SHA-256 digest becomes a ledger
    event. A closed month never changes: closing it again recomputes the scorecard and lists
    how it differs from the stored one (exit code 1 if it does), without applying anything."""
    from gridmgr.services.assessments import close_month

    with services_at(ctx, db, at) as services, err_console.status(f"closing {month}"):
        closing = close_month(services, month, actor=actor, config=_config(config_path))
    latest = closing.latest
    if closing.stored is not None:
        console.print(
            f"closed {month}: version {latest.version}, digest {latest.digest} "
            f"(ledger event {latest.ledger_seq})"
        )
        return
    console.print(f"{month} was closed before (version {latest.version}, digest {latest.digest})")
    if not closing.differences:
        console.print("a recomputation now gives the same scorecard")
        return
    console.print(
        f"a recomputation now differs in {len(closing.differences)} value(s); "
        "the closed scorecard stands (not applied):"
    )
    for diff in closing.differences[:50]:
        console.print(
            f"  {diff['level']} {diff['unit']} {diff['column']}: "
            f"stored {diff['stored']!r}, now {diff['now']!r}"
        )
    sys.exit(1)


@assess.command("contest")
@click.argument("case_id")
@click.option("--person", "person_id", required=True, help="The flagged worker (a person id).")
@click.option("--comment", required=True, help="Why the missed-report flag is wrong.")
@click.option("--client-id", default=None,
              help="The sender's id for this contest: a resend records nothing twice.")  # fmt: skip
@at_option
@db_option
@click.pass_context
def assess_contest(
    ctx: click.Context, case_id: str, person_id: str, comment: str, client_id: str | None,
    at: datetime | None, db: str | None,
) -> None:  # fmt: skip
    """Record a grid worker's contest of the missed-report (漏报) flag on CASE_ID, with his
    comment (a ledger event). Only the worker the flag names may contest it."""
    from gridmgr.access import Caller, actor_for, scope_of
    from gridmgr.services.assessments import contest_missed_report

    with services_at(ctx, db, at) as services:
        now = services.now()
        actor = actor_for(services.roster, person_id, now)
        caller = Caller(actor, scope_of(services.roster, actor, now))
        contest = contest_missed_report(
            services, caller, case_id, comment=comment, client_id=client_id
        )
    console.print(f"recorded {person_id}'s contest of case {case_id} (ledger event "
                  f"{contest.ledger_seq})")  # fmt: skip
