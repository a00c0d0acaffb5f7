"""``gridmgr grid diff`` and ``grid activate``: compare two generations, then adopt one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from gridmgr.cli.common import console, settings_of
from gridmgr.cli.store import db_option
from gridmgr.errors import GridError

if TYPE_CHECKING:
    from gridmgr.grid.diff import GridDiff
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.rehoming import RosterRehoming
    from gridmgr.settings import Settings

SHOWN = 20


@click.command("diff")
@click.argument("old")
@click.argument("new")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the differences as a GeoPackage (layer 'changes') for QGIS.",
)
@click.option("--cases", is_flag=True, help="Also list open cases the new grid would move.")
@db_option
@click.pass_context
def grid_diff(
    ctx: click.Context, old: str, new: str, out: Path | None, cases: bool, db: str | None
) -> None:
    """Compare two generations: ids from `grid generations`, `current`, `default`, or files."""
    from gridmgr.cli.gridbuild import refuse_package_path
    from gridmgr.grid.diff import diff_grids
    from gridmgr.grid.generations import generation_path
    from gridmgr.grid.io import read_grid

    settings = settings_of(ctx)
    if out is not None:
        refuse_package_path(out)
    a = read_grid(generation_path(settings, old))
    b = read_grid(generation_path(settings, new))
    diff = diff_grids(a, b)
    print_diff(diff)
    if out is not None:
        from gridmgr.grid.io import write_layer

        write_layer(diff.changes, out, layer="changes")
        console.print(f"wrote {len(diff.changes)} changed cell(s) to {out} (layer 'changes')")
    if cases:
        _print_cases(settings, b, db)


@click.command("activate")
@click.argument("generation")
@db_option
@click.pass_context
def grid_activate(ctx: click.Context, generation: str, db: str | None) -> None:
    """Make a stored GENERATION current (`default`: the shipped grid); a ledger event."""
    from gridmgr.grid.generations import activate_generation, current_grid_path, generation_path
    from gridmgr.grid.io import read_grid

    settings = settings_of(ctx)
    path = generation_path(settings, generation)
    if generation != "default" and path.parent != settings.grids_dir:
        raise click.UsageError(
            f"{generation} is a file, not a stored generation: `gridmgr grid import` it first"
        )
    grid = read_grid(path)
    previous = current_grid_path(settings)
    rehoming = roster_rehoming(settings, grid)
    if rehoming is not None:
        print_rehoming(rehoming)
        if rehoming.blocks_activation:
            raise GridError(
                f"generation {grid.generation_id} was not activated: the roster names places it "
                "lacks (listed above); move or end those posts (`gridmgr roster export`, edit, "
                "`gridmgr roster import`), then activate again"
            )
    activate_generation(settings, generation)
    _record(settings, grid, previous, db)
    console.print(f"generation {grid.generation_id} is now the current grid")


def _record(settings: Settings, grid: Grid, previous: Path, db: str | None) -> None:
    from gridmgr.grid.generations import activate_generation
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.regrid import has_database, record_activation

    if not has_database(settings, db):
        console.print(
            "no database yet: `gridmgr db init` (or `serve`) loads this grid with its "
            "grid.current ledger event"
        )
        return
    try:
        new = record_activation(
            settings, grid, db=db, at=datetime.now(TZ), actor="cli:grid activate"
        )
    except Exception:
        # the ledger could not take the switch: switch back, so files and ledger agree
        back = "default" if previous.parent != settings.grids_dir else previous.stem
        activate_generation(settings, back)
        raise
    console.print(
        "ledger: grid.current recorded"
        if new
        else "ledger: the database already had this grid as current"
    )


def roster_rehoming(settings: Settings, grid: Grid) -> RosterRehoming | None:
    """The data folder's roster matched to ``grid`` by code (``None`` without a roster)."""
    from gridmgr.datafiles import has_roster
    from gridmgr.grid.generations import load_current_grid
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.responsibility.rehoming import rehome_roster
    from gridmgr.responsibility.roster_files import read_roster

    if not has_roster(settings):
        return None
    from gridmgr.datafiles import grid_cells

    roster = read_roster(settings.roster_dir, cells=grid_cells(load_current_grid(settings)))
    return rehome_roster(roster, grid, at=datetime.now(TZ))


def print_rehoming(rehoming: RosterRehoming) -> None:
    """The re-homing report: posts moved by code, posts and teams orphaned, cells left vacant."""
    console.print(f"roster: {rehoming.rehomed} field post(s) keep their cell (by code)")
    _listed("posts left without a cell", [str(p) for p in rehoming.posts_without_cell])
    _listed(
        "teams covering a town the grid lacks", [f"{u} {t}" for u, t in rehoming.units_without_town]
    )
    _listed("cells left without a post", list(rehoming.cells_without_post))


def _listed(title: str, items: list[str]) -> None:
    console.print(f"{title}: {len(items)}")
    for item in items[:SHOWN]:
        console.print(f"  {item}")
    if len(items) > SHOWN:
        console.print(f"  ... and {len(items) - SHOWN} more")


def print_diff(diff: GridDiff) -> None:
    """The per-tier summary and the first changed cells."""
    table = Table(title=f"{diff.old_id} -> {diff.new_id}")
    for col in ("tier", "added", "removed", "renamed", "reshaped", "unchanged", "area moved"):
        table.add_column(col, justify="right")
    for t in diff.tiers:
        table.add_row(
            str(t.tier),
            str(t.added),
            str(t.removed),
            str(t.renamed),
            str(t.reshaped),
            str(t.unchanged),
            f"{t.area_moved_m2:,.0f} m² ({t.area_moved_pct:.2f} %)",
        )
    console.print(table)
    rows = diff.changes.itertuples(index=False)
    for i, row in enumerate(rows):
        if i == SHOWN:
            console.print(f"... and {len(diff.changes) - SHOWN} more (--out writes them all)")
            break
        names = (
            str(row.new_name)
            if row.old_name == row.new_name
            else f"{row.old_name or '-'} -> {row.new_name or '-'}"
        )
        console.print(
            f"tier {row.tier} {row.code} {row.change}: {names}; "
            f"{row.area_moved_m2:,.0f} m² ({row.area_moved_pct:.1f} %)"
        )
    if diff.is_empty:
        console.print("no difference: the same cells, names and shapes")


def _print_cases(settings: Settings, new: Grid, db: str | None) -> None:
    from gridmgr.services.regrid import cases_in_database, has_database

    if not has_database(settings, db):
        console.print("cases: no database yet, so no open case to compare")
        return
    moved = cases_in_database(settings, new, db=db)
    gone = [m for m in moved if m.cell_gone]
    console.print(
        f"open cases the new grid locates elsewhere: {len(moved)} "
        f"({len(gone)} in a cell it no longer has); they keep their cell until closed"
    )
    for m in moved[:SHOWN]:
        flag = "cell gone; suggested" if m.cell_gone else "would be in"
        console.print(f"  {m.case_id} [{m.state}] {m.cell}: {flag} {m.new_cell or 'outside'}")
    if len(moved) > SHOWN:
        console.print(f"  ... and {len(moved) - SHOWN} more")
