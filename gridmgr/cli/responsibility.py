"""``gridmgr roster``, ``catalog``, ``calendar`` and ``route``: who answers for what, where and
when."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from gridmgr.cli.common import (
    console,
    err_console,
    grid_file_option,
    load_grid,
    settings_of,
)
from gridmgr.cli.store import db_option, db_url, opened_store
from gridmgr.errors import TimeError

if TYPE_CHECKING:
    from collections.abc import Callable

    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.roster import Roster
    from gridmgr.responsibility.staffing import StaffingReport
    from gridmgr.services.context import Store


class TimeParam(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A time on the command line: ``2026-10-01 14:05`` (Beijing time) or ISO 8601 with offset."""

    name = "time"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        from gridmgr.responsibility.roster_files import parse_time

        try:
            return parse_time(str(value))
        except TimeError as exc:
            self.fail(str(exc), param, ctx)


at_option = click.option(
    "--at",
    type=TimeParam(),
    default=None,
    help="The time to ask about: '2026-10-01 14:05' (Beijing time) or ISO 8601; default now.",
)


def _now(at: datetime | None) -> datetime:
    from gridmgr.responsibility.calendar import TZ

    return at if at is not None else datetime.now(TZ)


# -- roster ---------------------------------------------------------------------------------


@click.group()
def roster() -> None:
    """People and posts: who holds which cell, as what, since when.

    A roster is a folder of CSV files you can edit in a spreadsheet: persons.csv, units.csv,
    assignments.csv and absences.csv. `roster export` writes one to start from.
    """


@roster.command("generate")
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write the roster folder here instead of making it the current roster.",
)
@click.option("--force", is_flag=True, help="Replace the current roster.")
@grid_file_option
@click.pass_context
def roster_generate(
    ctx: click.Context, seed: int, out: Path | None, force: bool, grid_path: Path | None
) -> None:
    """Generate the demo roster for the grid: synthetic names, every post filled since 2024."""
    from gridmgr.datafiles import cell_names, has_roster, store_roster
    from gridmgr.responsibility.demo_roster import generate_roster
    from gridmgr.responsibility.roster_files import write_roster

    settings = settings_of(ctx)
    grid = load_grid(ctx, grid_path)
    if out is None and has_roster(settings) and not force:
        raise click.UsageError(
            f"a roster already exists in {settings.roster_dir}; pass --force to replace it, "
            "or --out FOLDER to write elsewhere"
        )
    made = generate_roster(grid, seed=seed)
    if out is None:
        target = store_roster(settings, made, grid)
    else:
        target = write_roster(made, out, place_names=cell_names(grid))
    console.print(
        f"demo roster (seed {seed}): {len(made.persons)} persons, {len(made.units)} units, "
        f"{len(made.assignments)} assignments written to {target}"
    )


def into_database(
    ctx: click.Context, db: str | None, what: str, write: Callable[[Store], bool]
) -> None:
    """Write an imported ``what`` into the database (every node reads it there); a database not
    made yet gets it from the data folder when ``gridmgr serve`` first creates it."""
    url = db_url(ctx, db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        console.print(f"no database yet: the first `gridmgr serve` copies the {what} in")
        return
    with opened_store(ctx, db) as store:
        changed = write(store)
    said = "is now" if changed else "already was"
    console.print(f"the {what} {said} the database's (every node serving it reads it there)")


@roster.command("import")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@grid_file_option
@db_option
@click.pass_context
def roster_import(ctx: click.Context, folder: Path, grid_path: Path | None, db: str | None) -> None:
    """Check a roster folder against the grid and, if it is valid, make it the current roster,
    in the data folder and the database.

    A roster with problems is refused whole, and every problem is listed with its file and row.
    Vacancies and missing deputies do not stop an import; they are listed after it.
    """
    from gridmgr.datafiles import grid_cells, store_roster
    from gridmgr.responsibility.roster_files import read_roster
    from gridmgr.responsibility.staffing import staffing_report
    from gridmgr.services.context import wall_clock
    from gridmgr.services.reference import import_roster

    grid = load_grid(ctx, grid_path)
    loaded = read_roster(folder, cells=grid_cells(grid))
    target = store_roster(settings_of(ctx), loaded, grid)
    console.print(
        f"imported {len(loaded.persons)} persons, {len(loaded.units)} units, "
        f"{len(loaded.assignments)} assignments into {target}"
    )
    into_database(
        ctx,
        db,
        "roster",
        lambda store: import_roster(store, loaded, at=wall_clock(), actor="cli:roster-import"),
    )
    _print_staffing(staffing_report(grid, loaded, _now(None)))


@roster.command("export")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@grid_file_option
@click.pass_context
def roster_export(ctx: click.Context, folder: Path, grid_path: Path | None) -> None:
    """Write the current roster as a folder of CSV files (UTF-8, opens in Excel and WPS)."""
    from gridmgr.datafiles import cell_names, load_roster
    from gridmgr.responsibility.roster_files import write_roster

    grid = load_grid(ctx, grid_path)
    current = load_roster(settings_of(ctx), grid)
    write_roster(current, folder, place_names=cell_names(grid))
    console.print(f"wrote {len(current.assignments)} assignments to {folder}")


@roster.command("check")
@click.argument(
    "folder", type=click.Path(path_type=Path, exists=True, file_okay=False), required=False
)
@at_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--strict", is_flag=True, help="Exit 2 when there is any finding (for cron jobs).")
@grid_file_option
@click.pass_context
def roster_check(
    ctx: click.Context,
    folder: Path | None,
    at: datetime | None,
    as_json: bool,
    strict: bool,
    grid_path: Path | None,
) -> None:
    """Check a roster (default: the current one) and list what it lacks at a time (default now).

    Exit 1 when the roster is refused (each problem named with its file and row); otherwise
    list vacancies, posts without a deputy, expired and expiring assignments, people over
    capacity and conflicting posts.
    """
    from gridmgr.datafiles import grid_cells, load_roster
    from gridmgr.responsibility.roster_files import read_roster
    from gridmgr.responsibility.staffing import staffing_report

    grid = load_grid(ctx, grid_path)
    checked: Roster = (
        read_roster(folder, cells=grid_cells(grid))
        if folder is not None
        else load_roster(settings_of(ctx), grid)
    )
    report = staffing_report(grid, checked, _now(at))
    if as_json:
        frame = report.to_frame()
        frame["since"] = frame["since"].map(lambda t: None if t is None else t.isoformat())
        payload = {
            "at": report.at.isoformat(),
            "owned_cells": {str(t): list(v) for t, v in report.owned_cells.items()},
            "findings": frame.to_dict(orient="records"),
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        console.print(f"roster {checked.source}: valid ({len(checked.persons)} persons)")
        _print_staffing(report)
    if strict and report.findings:
        sys.exit(2)


def _print_staffing(report: StaffingReport) -> None:
    owned = ", ".join(f"tier {t}: {a}/{n}" for t, (a, n) in report.owned_cells.items())
    console.print(f"at {report.at:%Y-%m-%d %H:%M}: cells with an owner — {owned}")
    if not report.findings:
        console.print("every post is held, every field post has a deputy, nobody is over capacity")
        return
    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    console.print("findings: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    for finding in report.findings[:200]:
        console.print(f"  - {finding.kind}: {finding.message}")
    if len(report.findings) > 200:
        console.print(f"  ... and {len(report.findings) - 200} more (use --json for all)")


# -- catalog --------------------------------------------------------------------------------


@click.group()
def catalog() -> None:
    """The matter catalog: kinds of incident, who is competent, who handles them, how fast."""


@catalog.command("check")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.pass_context
def catalog_check(ctx: click.Context, path: Path | None) -> None:
    """Check a catalog CSV (default: the current one) and summarise it.

    Every problem is listed with its row and column. Departments the catalog hands matters to
    are checked against the current roster's units.
    """
    from gridmgr.datafiles import load_catalog
    from gridmgr.responsibility.catalog_file import read_catalog
    from gridmgr.responsibility.sla import FIELD_STAGES

    checked = read_catalog(path) if path is not None else load_catalog(settings_of(ctx))
    table = Table(title=f"{checked.source}: valid, {len(checked)} categories")
    for column in ("code", "name", "group", "tier", "handler", "priority", "sign/handle/verify"):
        table.add_column(column)
    for c in checked:
        spans = "/".join(str(c.sla[stage]) for stage in FIELD_STAGES)
        table.add_row(
            c.code,
            c.name_zh,
            c.group.label_zh,
            c.competent_tier.value,
            str(c.handler),
            c.priority.value,
            f"{spans} ({c.clock.value})",
        )
    console.print(table)
    groups = ", ".join(f"{g.value} {n}" for g, n in checked.groups().items())
    console.print(f"per group: {groups}")
    _warn_unknown_units(ctx, checked)


def _warn_unknown_units(ctx: click.Context, checked: object) -> None:
    from gridmgr.datafiles import has_roster, load_roster, unknown_units
    from gridmgr.responsibility.catalog import Catalog

    settings = settings_of(ctx)
    if not isinstance(checked, Catalog) or not has_roster(settings):
        return
    missing = unknown_units(checked, load_roster(settings, load_grid(ctx, None)))
    if missing:
        err_console.print(
            f"warning: the roster has no unit for department(s) {', '.join(missing)}; "
            "matters for them go to the command center to dispatch by hand",
            markup=False,
        )


@catalog.command("import")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@db_option
@click.pass_context
def catalog_import(ctx: click.Context, path: Path, db: str | None) -> None:
    """Check a catalog CSV and, if valid, make it the city's catalog (replacing the shipped one),
    in the data folder and the database."""
    from gridmgr.datafiles import store_catalog
    from gridmgr.responsibility.catalog_file import read_catalog
    from gridmgr.services.context import wall_clock
    from gridmgr.services.reference import import_catalog

    checked = read_catalog(path)
    target = store_catalog(settings_of(ctx), checked)
    console.print(f"catalog of {len(checked)} categories stored as {target}")
    into_database(
        ctx,
        db,
        "catalog",
        lambda store: import_catalog(store, checked, at=wall_clock(), actor="cli:catalog-import"),
    )
    _warn_unknown_units(ctx, checked)


@click.group()
def calendar() -> None:
    """The working calendar's overrides (holidays, adjusted working days)."""


@calendar.command("import")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@db_option
@click.pass_context
def calendar_import(ctx: click.Context, path: Path, db: str | None) -> None:
    """Check a calendar override CSV (date,kind,name) and, if valid, make it the city's
    overrides, merged over the shipped ones, in the data folder and the database (every node
    serving it counts deadlines on it within seconds)."""
    from gridmgr.datafiles import load_calendar, store_calendar_overrides
    from gridmgr.services.context import wall_clock
    from gridmgr.services.reference import import_calendar

    settings = settings_of(ctx)
    target = store_calendar_overrides(settings, path)
    merged = load_calendar(settings).overrides
    console.print(f"calendar overrides stored as {target} ({len(merged)} days with the shipped)")
    into_database(
        ctx,
        db,
        "calendar",
        lambda store: import_calendar(store, merged, at=wall_clock(), actor="cli:calendar-import"),
    )


@catalog.command("export")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def catalog_export(ctx: click.Context, path: Path) -> None:
    """Write the current catalog as CSV, to edit and import again."""
    from gridmgr.datafiles import load_catalog
    from gridmgr.responsibility.catalog_file import write_catalog

    current = load_catalog(settings_of(ctx))
    write_catalog(current, path)
    console.print(f"wrote {len(current)} categories to {path}")


# -- route ----------------------------------------------------------------------------------


@click.command()
@click.option("--lon", type=float, default=None, help="Longitude of the report.")
@click.option("--lat", type=float, default=None, help="Latitude of the report.")
@click.option("--cell", default=None, help="Or: the tier-3 cell code it was reported in.")
@click.option("--category", required=True, help="Category code or Chinese name, e.g. 占道经营.")
@at_option
@click.option(
    "--datum",
    type=click.Choice(["wgs84", "gcj02", "bd09"], case_sensitive=False),
    default="wgs84",
    show_default=True,
    help="Datum of --lon/--lat (GCJ-02: Amap/Tencent; BD-09: Baidu).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@grid_file_option
@click.pass_context
def route(
    ctx: click.Context,
    lon: float | None,
    lat: float | None,
    cell: str | None,
    category: str,
    at: datetime | None,
    datum: str,
    as_json: bool,
    grid_path: Path | None,
) -> None:
    """Who answers for a matter of CATEGORY at a place and time, and why.

    Prints the cell path, the owner chain (grid worker → grid head → town leader → command
    center) with who acts for each post, the handling unit, the stage deadlines in working time,
    and the reasons. A point outside the territory goes to the command center's out-of-grid
    queue. Example: gridmgr route --lon 120.285 --lat 31.905 --category 占道经营
    --at "2026-10-01 14:05"
    """
    from gridmgr.datafiles import routing_context
    from gridmgr.responsibility.routing import route_incident

    if (lon is None) != (lat is None):
        raise click.UsageError("give both --lon and --lat")
    if (lon is None) == (cell is None):
        raise click.UsageError("give --lon and --lat, or --cell, to say where")
    grid = load_grid(ctx, grid_path)
    context = routing_context(settings_of(ctx), grid)
    decision = route_incident(
        context, category=category, at=_now(at), lon=lon, lat=lat, cell=cell, datum=datum
    )
    if as_json:
        click.echo(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2))
        return
    _print_decision(decision, grid)


def _print_decision(decision: object, grid: Grid) -> None:
    from gridmgr.responsibility.routing import Queue, RoutingDecision

    assert isinstance(decision, RoutingDecision)
    kind = decision.category
    console.print(f"{kind.name_zh} ({kind.code}) at {decision.at:%Y-%m-%d %H:%M %z}")
    if decision.queue is Queue.OUT_OF_GRID:
        console.print("OUT OF GRID: queued for the command center's triage")
    table = Table(title="owner chain")
    for column in ("post", "place", "acting", "person", "phone"):
        table.add_column(column)
    for link in decision.chain:
        who = link.person
        table.add_row(
            link.post.kind.label_zh,
            f"{link.post.place} {link.cell_name}".strip() or "指挥中心",
            link.acting.value,
            "—" if who is None else f"{who.name} ({who.person_id})",
            "" if who is None else who.phone,
        )
    console.print(table)
    responsible = decision.responsible
    if responsible.person is not None:
        console.print(
            f"signs for it: {responsible.person.name} ({responsible.person.person_id}), "
            f"{responsible.post.kind.label_zh}"
        )
    unit = decision.handling.unit
    console.print(f"handled by: {'—' if unit is None else unit.name}")
    if decision.power is not None:
        item = decision.power.item
        console.print(
            f"power: {item.code} {item.name_zh} ({item.power_class.label_zh}), "
            f"held by {decision.power.holder}",
            markup=False,
        )
    for d in decision.deadlines:
        due = f"{d.due:%Y-%m-%d %H:%M}"
        console.print(f"{d.stage.label_zh} {d.stage.value:<6} within {d.span!s:<5} due {due}")
    if decision.vacancies:
        console.print("VACANT: " + ", ".join(str(p) for p in decision.vacancies))
    if decision.near_cells:
        console.print(
            f"NEAR A BORDER ({decision.border_distance_m:.1f} m): also check "
            + ", ".join(decision.near_cells)
        )
    console.print("why:")
    for reason in decision.reasons:
        console.print(f"  - {reason}")
