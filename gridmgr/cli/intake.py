"""``gridmgr intake``: import report batches, work the unlocated queue, merge duplicates."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gridmgr.cli.common import console, err_console, load_grid, print_problems, settings_of
from gridmgr.cli.store import db_option, opened_store
from gridmgr.intake.channels import MAX_INTAKE_BYTES, Channel

if TYPE_CHECKING:
    from gridmgr.cases import Actor

EXIT_SOME_REFUSED = 3
"""Exit status of ``intake import --skip-bad`` when rows were refused (the rest imported)."""


def _operator(name: str | None) -> Actor:
    from gridmgr.cases import Actor, Role

    who = name or getpass.getuser()
    return Actor(f"cli:{who}", Role.OPERATOR, who)


def _now(at_text: str | None) -> datetime:
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.responsibility.roster_files import parse_time

    return parse_time(at_text) if at_text else datetime.now(TZ)


operator_option = click.option(
    "--operator", "operator", default=None, help="Who acts (recorded in the ledger; default: you)."
)


@click.group()
def intake() -> None:
    """Reports from every channel: batch import, the unlocated queue, duplicates."""


@intake.command("import")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--channel",
    type=click.Choice([c.value for c in Channel]),
    required=True,
    help="The channel the batch came by (e.g. hotline for the 12345 export).",
)
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Import the valid records even if some are refused (refused rows are listed; exit 3).",
)
@click.option(
    "--max-size-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=MAX_INTAKE_BYTES / 1e6,
    show_default=True,
    help="Refuse a file larger than this many megabytes.",
)
@operator_option
@db_option
@click.pass_context
def import_(
    ctx: click.Context,
    path: Path,
    channel: str,
    skip_bad: bool,
    max_size_mb: float,
    operator: str | None,
    db: str | None,
) -> None:
    """Import a CSV or JSON batch of reports (columns: source_id, category, description;
    optional reported_at, lon, lat, datum, address, reporter).

    Idempotent: a record whose (channel, source_id) is already in the database is not created
    again. Records with coordinates are routed to their cell; records with only an address go
    to the unlocated queue. With any invalid record nothing is imported, unless --skip-bad.
    """
    from gridmgr.datafiles import routing_context
    from gridmgr.intake.channels import read_intake_file
    from gridmgr.services.triage import import_intake

    context = routing_context(settings_of(ctx), load_grid(ctx, None))
    batch = read_intake_file(path, catalog=context.catalog, max_bytes=int(max_size_mb * 1e6))
    actor = _operator(operator)
    with opened_store(ctx, db) as store:
        result = import_intake(
            store,
            context,
            batch,
            channel=Channel(channel),
            actor=actor,
            now=_now(None),
            skip_bad=skip_bad,
        )
    console.print(
        f"{path.name}: {len(result.created)} case(s) created "
        f"({len(result.unlocated)} in the unlocated queue), {len(result.existing)} already "
        f"imported, {len({p.row for p in result.refused})} refused"
    )
    for row, case_id in result.unlocated:
        console.print(f"  unlocated: row {row} -> {case_id}")
    if result.refused:
        err_console.print(f"refused rows of {path.name} (not imported):")
        print_problems(result.refused)
        sys.exit(EXIT_SOME_REFUSED)


@intake.command("queue")
@db_option
@click.pass_context
def queue(ctx: click.Context, db: str | None) -> None:
    """List the unlocated queue: reports waiting for an operator to place them."""
    from gridmgr.services.triage import unlocated_queue

    with opened_store(ctx, db) as store:
        waiting = unlocated_queue(store, limit=10_000)
    console.print(f"{len(waiting)} unlocated case(s)")
    for u in waiting:
        console.print(
            f"  {u.case.case_id}  {u.case.reported_at:%Y-%m-%d %H:%M}  {u.case.category}  "
            f"{u.channel}:{u.source_id or '-'}  {u.address or '-'}"
        )


@intake.command("place")
@click.argument("case_id")
@click.option("--lon", type=float, required=True, help="Longitude (WGS84 unless --datum).")
@click.option("--lat", type=float, required=True, help="Latitude.")
@click.option("--datum", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84")
@click.option("--comment", default="", help="Why here (default: the place and its cell).")
@click.option("--at", "at_text", default=None, help="Time of the placement (default: now).")
@operator_option
@db_option
@click.pass_context
def place(
    ctx: click.Context,
    case_id: str,
    lon: float,
    lat: float,
    datum: str,
    comment: str,
    at_text: str | None,
    operator: str | None,
    db: str | None,
) -> None:
    """Place an unlocated case on the map: it is routed to its cell and owner (a ledger event)."""
    from gridmgr.datafiles import routing_context
    from gridmgr.services.triage import place_case

    context = routing_context(settings_of(ctx), load_grid(ctx, None))
    actor = _operator(operator)
    with opened_store(ctx, db) as store:
        case = place_case(
            store,
            context,
            case_id,
            lon=lon,
            lat=lat,
            datum=datum,
            actor=actor,
            at=_now(at_text),
            comment=comment,
        )
        last = store.trail(case_id)[-1]
    who = last.details.get("responsible") or {}
    console.print(
        f"placed {case_id} in {case.cell or 'out of grid'} "
        f"(responsible: {who.get('person_id') or who.get('post')})"
    )


@intake.command("merge")
@click.argument("duplicate_id")
@click.argument("master_id")
@click.option("--comment", required=True, help="Why they are the same matter.")
@operator_option
@db_option
@click.pass_context
def merge(
    ctx: click.Context,
    duplicate_id: str,
    master_id: str,
    comment: str,
    operator: str | None,
    db: str | None,
) -> None:
    """Merge DUPLICATE_ID into MASTER_ID (both keep their reports; both trails record it)."""
    from gridmgr.services.triage import merge_cases

    actor = _operator(operator)
    with opened_store(ctx, db) as store:
        merge_cases(store, duplicate_id, master_id, actor=actor, at=_now(None), comment=comment)
    console.print(f"merged {duplicate_id} into {master_id}")


@intake.command("unmerge")
@click.argument("duplicate_id")
@click.option("--comment", required=True, help="Why they are different matters.")
@operator_option
@db_option
@click.pass_context
def unmerge(
    ctx: click.Context, duplicate_id: str, comment: str, operator: str | None, db: str | None
) -> None:
    """Split a merged duplicate off its master again."""
    from gridmgr.services.triage import unmerge_case

    actor = _operator(operator)
    with opened_store(ctx, db) as store:
        _, master = unmerge_case(store, duplicate_id, actor=actor, at=_now(None), comment=comment)
    console.print(f"split {duplicate_id} off {master.case_id}")
