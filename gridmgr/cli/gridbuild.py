"""``gridmgr grid build``: a grid for any county, from its boundary, towns, counts and workload."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridmgr.cli.common import console, err_console, settings_of
from gridmgr.errors import InvalidGridError

if TYPE_CHECKING:
    import shapely

    from gridmgr.grid.model import Grid
    from gridmgr.grid.territory import Territory
    from gridmgr.grid.workload import Workload


def parse_counts(value: str | None) -> tuple[int, int, int] | None:
    """``A/B/C`` as three positive, non-decreasing integers.

    >>> parse_counts("3/12/48")
    (3, 12, 48)
    """
    if value is None:
        return None
    parts = value.replace(",", "/").split("/")
    try:
        counts = tuple(int(p) for p in parts)
    except ValueError:
        counts = ()
    if len(counts) != 3 or not 1 <= counts[0] <= counts[1] <= counts[2]:
        raise click.BadParameter(
            f"{value!r}: give the cells per tier as A/B/C, positive and not decreasing, "
            "e.g. 17/271/1557"
        )
    return counts[0], counts[1], counts[2]


def refuse_package_path(out: Path) -> None:
    """Refuse an output inside the installed package: the shipped data is read-only."""
    from gridmgr.shipped import shipped_data_dir

    package = shipped_data_dir().resolve()
    target = out.expanduser().resolve()
    if target == package or package in target.parents:
        raise click.UsageError(
            f"{out} is inside gridmgr's shipped data ({package}); the build never writes there. "
            "Give --out a path of your own, or leave --out out to store a new generation"
        )


@click.command("build")
@click.option(
    "--boundary",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="The territory's outline (GeoJSON, GeoPackage, Shapefile; any declared CRS).",
)
@click.option(
    "--towns",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Towns: points (seed tier-1 cells) or polygons (tier-1 cells as given).",
)
@click.option(
    "--counts",
    default=None,
    metavar="A/B/C",
    help="Cells at tier 1/2/3, e.g. 3/12/48 (default for Jiangyin: 17/271/1557).",
)
@click.option(
    "--crs",
    default="auto",
    show_default=True,
    help="Metric CRS: auto (CGCS2000 3-degree Gauss-Kruger zone) or EPSG:n.",
)
@click.option(
    "--weights",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Workload points (vector file or CSV lon,lat,weight) to balance cells by.",
)
@click.option(
    "--weight-column",
    default="weight",
    show_default=True,
    help="Column of the weights file holding the weight (absent: each point is 1).",
)
@click.option(
    "--lines",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Roads and rivers that cell borders should follow where they can.",
)
@click.option("--county-code", default=None, help="6-digit county code (default: from the files).")
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0, min_open=True),
    default=25.0,
    show_default=True,
    help="Metres within which town polygons are fitted.",
)
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed.")
@click.option("--name", default=None, help="A name for the grid (default: '<territory> default').")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="GeoPackage to write (default: a new generation in the data folder, not current).",
)
@click.option(
    "--territory",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="A folder with boundary.geojson and towns.json (instead of --boundary).",
)
@click.pass_context
def grid_build(ctx: click.Context, /, **opts: Any) -> None:
    """Build a three-tier grid for a territory, deterministically for a seed.

    Without --boundary, builds Jiangyin's default grid (or the --territory folder's).
    """
    from gridmgr.grid.build import BuildParams, build_grid, towns_outside_own_cell

    counts = parse_counts(opts["counts"])
    out: Path | None = opts["out"]
    if out is not None:
        refuse_package_path(out)
    territory, notes = _territory(opts, counts)
    for note in notes:
        console.print(f"towns: {note}")
    for town in territory.towns_outside_own_area():
        console.print(f"note: the point of {town} lies outside its own polygon")
    workload = _workload(opts, territory)
    lines = _lines(opts, territory)
    params = BuildParams(counts=counts or BuildParams().counts, seed=opts["seed"])
    built = _build_with_progress(
        lambda progress: build_grid(
            territory, params, name=opts["name"], progress=progress, workload=workload, lines=lines
        ),
        territory,
    )
    if out is not None:
        from gridmgr.grid.io import write_grid

        target = write_grid(built, out)
    else:
        from gridmgr.grid.generations import store_generation

        target = store_generation(built, settings_of(ctx), make_current=False)
    _report(built, territory, workload, lines)
    missing = [] if territory.town_areas else towns_outside_own_cell(built, territory.towns)
    if missing:
        console.print(f"note: these towns' approximate points fall outside their cell: {missing}")
    console.print(f"metric CRS {territory.metric_crs} (recorded in the file's gridmgr_meta)")
    console.print(f"valid grid {built.generation_id} written to {target}")
    console.print(f"checksum {built.meta.checksum}")
    if out is None:
        console.print(f"not current yet: `gridmgr grid activate {built.generation_id}`")


def _territory(
    opts: dict[str, Any], counts: tuple[int, int, int] | None
) -> tuple[Territory, list[str]]:
    from dataclasses import replace

    from gridmgr.grid.inputs import resolve_metric_crs, territory_from_files
    from gridmgr.grid.io import read_territory

    if opts["boundary"] is None:
        if opts["towns"] is not None:
            raise click.UsageError("--towns needs --boundary")
        terr = read_territory(opts["territory"])
        crs = resolve_metric_crs(opts["crs"], terr.polygon)
        return replace(terr, metric_crs=crs), []
    if opts["territory"] is not None:
        raise click.UsageError("give either --territory or --boundary, not both")
    if counts is None:
        raise click.UsageError("--counts A/B/C is required with --boundary, e.g. --counts 3/12/48")
    return territory_from_files(
        opts["boundary"],
        opts["towns"],
        crs=opts["crs"],
        county_code=opts["county_code"],
        tolerance_m=opts["tolerance"],
    )


def _workload(opts: dict[str, Any], territory: Territory) -> Workload | None:
    from gridmgr.grid.inputs import read_workload, workload_in

    if opts["weights"] is None:
        return None
    xy, weight = read_workload(opts["weights"], column=opts["weight_column"])
    return workload_in(territory.polygon, xy, weight)


def _lines(opts: dict[str, Any], territory: Territory) -> shapely.Geometry | None:
    from gridmgr.grid.inputs import read_lines

    if opts["lines"] is None:
        return None
    lines = read_lines(opts["lines"], territory.polygon)
    if lines is None:
        console.print("note: no line of the lines file crosses the territory")
    return lines


def _build_with_progress(run: Any, territory: Territory) -> Grid:
    from gridmgr.grid.validate import format_report, validate_grid

    with Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task("building", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        built: Grid = run(progress)
        bar.update(task, description="validating")
        problems = validate_grid(built.cells, territory=territory.polygon)
    if problems:
        raise InvalidGridError(format_report(problems, title="the built grid is invalid"), problems)
    return built


def _report(
    built: Grid,
    territory: Territory,
    workload: Workload | None,
    lines: shapely.Geometry | None,
) -> None:
    from gridmgr.grid.barriers import lines_followed
    from gridmgr.grid.build import grid_quality
    from gridmgr.grid.workload import grid_workload

    print_quality(grid_quality(built))
    if workload is not None:
        balance = grid_workload(built, workload)
        table = Table(title="workload per cell (the balance reached; CV = std / mean)")
        for col in ("tier", "cells", "min", "median", "max", "CV"):
            table.add_column(col, justify="right")
        for tier, row in balance.iterrows():
            table.add_row(
                str(tier),
                str(int(row.cells)),
                f"{row.weight_min:.1f}",
                f"{row.weight_median:.1f}",
                f"{row.weight_max:.1f}",
                f"{row.weight_cv:.3f}",
            )
        console.print(table)
    if lines is not None:
        share = lines_followed(built, lines)
        console.print(
            "borders on the lines (within 5 m): "
            + ", ".join(f"tier {t} {100 * s:.0f} %" for t, s in share.items())
        )


def print_quality(quality: Any) -> None:
    """The area and compactness table of :func:`gridmgr.grid.build.grid_quality`."""
    table = Table(title="cells per tier (areas in km², compactness = Polsby-Popper)")
    for col in ("tier", "cells", "area min", "median", "max", "CV", "compact min", "median"):
        table.add_column(col, justify="right")
    for tier, row in quality.iterrows():
        table.add_row(
            str(tier),
            str(int(row.cells)),
            f"{row.area_km2_min:.2f}",
            f"{row.area_km2_median:.2f}",
            f"{row.area_km2_max:.2f}",
            f"{row.area_cv:.3f}",
            f"{row.polsby_popper_min:.3f}",
            f"{row.polsby_popper_median:.3f}",
        )
    console.print(table)
