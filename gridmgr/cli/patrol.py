"""``gridmgr patrol``: import GPS tracks (GPX or CSV) and review patrol coverage and blind spots."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import click

from gridmgr.cli.common import console, settings_of
from gridmgr.cli.responsibility import TimeParam
from gridmgr.cli.store import db_option, opened_store


@click.group()
def patrol() -> None:
    """Grid workers' patrols: GPS tracks, coverage per cell, blind spots."""


@patrol.command("import")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--person", "person_id", required=True, help="Whose track it is (a person id).")
@click.option(
    "--datum",
    type=click.Choice(["wgs84", "gcj02", "bd09"]),
    default="wgs84",
    show_default=True,
    help="The coordinates' datum (gcj02: AMap, Tencent; bd09: Baidu).",
)
@db_option
@click.pass_context
def patrol_import(
    ctx: click.Context, file: Path, person_id: str, datum: str, db: str | None
) -> None:
    """Import a track from a GPX file (track points with times) or a CSV file with columns
    at, lon, lat[, accuracy_m] (times ISO 8601, or '2026-10-09 09:30' in Beijing time).

    A file with any bad row is refused whole, every problem listed with its row.
    """
    from gridmgr.datafiles import load_roster
    from gridmgr.grid.generations import load_current_grid
    from gridmgr.patrols import gpx_to_points, rows_to_points
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.patrols import import_track
    from gridmgr.tablefiles import read_table

    settings = settings_of(ctx)
    source = file.name
    if file.suffix.lower() == ".gpx":
        points = gpx_to_points(file.read_text(encoding="utf-8"), source=source, datum=datum)
    else:
        table = read_table(file, required=["at", "lon", "lat"], optional=["accuracy_m"])
        points = rows_to_points(table.numbered(), source=source, datum=datum)
    with opened_store(ctx, db) as store:
        grid = load_current_grid(settings)
        roster = load_roster(settings, grid, create=False)
        roster.person(person_id)  # an unknown person is refused by name
        written = import_track(
            store,
            grid,
            person_id,
            points,
            source=source,
            at=datetime.now(TZ),
            actor=f"cli:patrol:{person_id}",
        )
    if written:
        first, last = points["at"].iloc[0], points["at"].iloc[-1]
        console.print(
            f"imported {written} points for {person_id} from {file} "
            f"({first.tz_convert(TZ):%Y-%m-%d %H:%M} – {last.tz_convert(TZ):%Y-%m-%d %H:%M})"
        )
    else:
        console.print(f"{file}: no points to import")


@patrol.command("coverage")
@click.option("--days", type=float, default=7.0, show_default=True, help="Window in days.")
@click.option(
    "--distance",
    type=float,
    default=50.0,
    show_default=True,
    help="Metres from a track that count as patrolled.",
)
@click.option("--at", "at", type=TimeParam(), default=None, help="As of this time (default now).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write every cell's coverage to this CSV file.",
)
@click.option("--top", type=int, default=10, show_default=True, help="Blind spots to list.")
@db_option
@click.pass_context
def patrol_coverage_command(
    ctx: click.Context,
    days: float,
    distance: float,
    at: datetime | None,
    out: Path | None,
    top: int,
    db: str | None,
) -> None:
    """Coverage of every unit cell by the tracks of the last --days days, and the blind spots
    (cells nobody patrolled in that window).

    At the default 50 m it is read from the per-day pixel bitmaps kept as points are stored
    (whole days, 10 m pixels); another --distance is computed exactly from the points."""
    import pandas as pd

    from gridmgr.grid.generations import load_current_grid
    from gridmgr.patrols import PATROL_DISTANCE_M, blind_spots, patrol_coverage
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.patrols import kept_coverage, patrol_points

    now = at if at is not None else datetime.now(TZ)
    grid = load_current_grid(settings_of(ctx))
    began = time.perf_counter()
    with opened_store(ctx, db) as store:
        if distance == PATROL_DISTANCE_M:
            coverage = kept_coverage(store, grid, now=now, days=days)
        else:
            points = patrol_points(store, since=now - pd.Timedelta(days=days), until=now)
            coverage = patrol_coverage(grid, points, now=now, days=days, distance_m=distance)
    took = time.perf_counter() - began
    blind = blind_spots(coverage, now=now, days=days)
    console.print(
        f"patrol coverage as of {now:%Y-%m-%d %H:%M}, last {days:g} days, within {distance:g} m: "
        f"{int(coverage['points'].sum())} points, {len(coverage)} cells, mean coverage "
        f"{coverage['coverage'].mean():.1%}, {len(blind)} blind spot(s) (computed in {took:.2f} s)"
    )
    names = dict(zip(grid.cells["code"], grid.cells["name"], strict=True))
    shown = blind.head(top)
    for cell, since in zip(shown["cell"], shown["days_since"], strict=True):
        seen = f"not in the last {days:g} days" if since != since else f"{since:.1f} days ago"
        console.print(f"  blind spot {cell} {names.get(str(cell), '')}: last seen {seen}")
    if out is not None:
        from gridmgr.tablefiles import neutralise_frame

        table = coverage.assign(name=coverage["cell"].map(names))
        neutralise_frame(table).to_csv(out, index=False)
        console.print(f"wrote {out}")


@patrol.command("rebuild-coverage")
@db_option
@click.pass_context
def patrol_rebuild_coverage(ctx: click.Context, db: str | None) -> None:
    """Compute the per-day coverage bitmaps again from every stored patrol point (after the
    grid changed; a database without bitmaps gets them on first use anyway)."""
    from rich.progress import Progress

    from gridmgr.grid.generations import load_current_grid
    from gridmgr.services.patrols import rebuild_coverage

    grid = load_current_grid(settings_of(ctx))
    began = time.perf_counter()
    with opened_store(ctx, db) as store, Progress(console=console, transient=True) as bar:
        task = bar.add_task("rebuilding coverage", total=None)

        def step(done: datetime, last: datetime) -> None:
            bar.update(task, description=f"rebuilding coverage: up to {done:%Y-%m-%d}")

        count = rebuild_coverage(store, grid, progress=step)
    console.print(
        f"rebuilt patrol coverage from {count} points in {time.perf_counter() - began:.1f} s"
    )
