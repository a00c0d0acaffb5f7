"""``gridmgr grid``: build, validate, import, export and query grids."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from gridmgr.cli.common import console, grid_file_option, load_grid, settings_of
from gridmgr.cli.gridbuild import grid_build, print_quality
from gridmgr.cli.gridgen import grid_activate, grid_diff, print_rehoming, roster_rehoming

# -- grid -----------------------------------------------------------------------------------


def vertex_limit_options(command: Any) -> Any:
    """``--max-cell-vertices`` and ``--max-total-vertices``: a grid over them is refused."""
    command = click.option(
        "--max-total-vertices",
        type=click.IntRange(min=1),
        default=None,
        help="Refuse a grid with more vertices in all (default 2,000,000).",
    )(command)
    return click.option(
        "--max-cell-vertices",
        type=click.IntRange(min=1),
        default=None,
        help="Refuse a grid with a cell of more vertices (default 20,000).",
    )(command)


@click.group()
def grid() -> None:
    """Build, validate, import, export and query grids."""


grid.add_command(grid_build)
grid.add_command(grid_diff)
grid.add_command(grid_activate)


@grid.command("validate")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--crs", default=None, help="CRS of layers that declare none, e.g. EPSG:4549.")
@vertex_limit_options
@click.pass_context
def grid_validate(
    ctx: click.Context,
    path: Path | None,
    crs: str | None,
    max_cell_vertices: int | None,
    max_total_vertices: int | None,
) -> None:
    """Validate a grid file (default: the current grid) and report every violation."""
    from gridmgr.grid.build import grid_quality
    from gridmgr.grid.generations import current_grid_path
    from gridmgr.grid.io import read_grid

    target = path or current_grid_path(settings_of(ctx))
    loaded = read_grid(
        target,
        crs=crs,
        max_cell_vertices=max_cell_vertices,
        max_total_vertices=max_total_vertices,
    )
    print_quality(grid_quality(loaded))
    n = loaded.counts
    console.print(
        Text.assemble(
            ("valid", "green"),
            f": {target}  generation {loaded.generation_id}: {n[1]} tier-1, {n[2]} tier-2, "
            f"{n[3]} tier-3 cells; no gap, no overlap, exact nesting",
        )
    )


@grid.command("import")
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.option("--crs", default=None, help="CRS of layers that declare none, e.g. EPSG:4549.")
@click.option(
    "--repair",
    is_flag=True,
    help="Snap gaps, overlaps and mismatched edges below --tolerance, and list what changed.",
)
@click.option(
    "--tolerance", type=float, default=None, help="Repair tolerance in metres (default 0.5)."
)
@click.option("--name", default=None, help="A name for the new generation.")
@click.option(
    "--activate", is_flag=True, help="Make it current at once (as `gridmgr grid activate`)."
)
@vertex_limit_options
@click.pass_context
def grid_import(
    ctx: click.Context,
    path: Path,
    crs: str | None,
    repair: bool,
    tolerance: float | None,
    name: str | None,
    activate: bool,
    max_cell_vertices: int | None,
    max_total_vertices: int | None,
) -> None:
    """Import a grid (GeoPackage, GeoJSON or Shapefile) as a new generation.

    It is stored beside the others and the roster's posts are matched to it by code; it becomes
    current with `gridmgr grid activate GENERATION` (or --activate).
    """
    from dataclasses import replace

    from gridmgr.grid.generations import store_generation
    from gridmgr.grid.io import grid_from_source, read_grid_source
    from gridmgr.grid.model import generation_id_for
    from gridmgr.grid.repair import DEFAULT_TOLERANCE_M, repair_grid
    from gridmgr.grid.validate import MAX_CELL_VERTICES, MAX_TOTAL_VERTICES, refuse_oversized

    if tolerance is not None and not repair:
        raise click.UsageError("--tolerance only applies with --repair")
    source = read_grid_source(path, crs=crs)
    limits = {
        "max_cell_vertices": max_cell_vertices or MAX_CELL_VERTICES,
        "max_total_vertices": max_total_vertices or MAX_TOTAL_VERTICES,
    }
    # before the repair too: repairing a million-vertex cell would take as long as validating it
    refuse_oversized(source.cells, label=str(path), **limits)
    if repair:
        tol = DEFAULT_TOLERANCE_M if tolerance is None else tolerance
        source.cells, changes = repair_grid(source.cells, tolerance_m=tol)
        console.print(f"repair (tolerance {tol} m): {len(changes)} cell(s) changed")
        for change in changes:
            console.print(f"  {change}")
    imported = grid_from_source(source, **limits)
    if name:
        meta = replace(
            imported.meta, name=name, generation_id=generation_id_for(name, imported.meta.checksum)
        )
        imported = type(imported)(imported.cells, meta)
    stored = store_generation(imported, settings_of(ctx), make_current=False)
    n = imported.counts
    console.print(
        f"imported generation {imported.generation_id} ({n[1]} / {n[2]} / {n[3]} cells) to {stored}"
    )
    if activate:
        ctx.invoke(grid_activate, generation=imported.generation_id, db=None)
        return
    rehoming = roster_rehoming(settings_of(ctx), imported)
    if rehoming is not None:
        print_rehoming(rehoming)
    console.print(
        f"not current yet: compare with `gridmgr grid diff current {imported.generation_id}`, "
        f"then `gridmgr grid activate {imported.generation_id}`"
    )


@grid.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@grid_file_option
@click.pass_context
def grid_export(ctx: click.Context, path: Path, grid_path: Path | None) -> None:
    """Export the grid to PATH: .gpkg (layers tier1/tier2/tier3) or .geojson (RFC 7946)."""
    from gridmgr.grid.io import write_grid

    source = load_grid(ctx, grid_path)
    write_grid(source, path)
    console.print(f"wrote generation {source.generation_id} to {path}")


@grid.command("locate")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option(
    "--datum",
    default="wgs84",
    show_default=True,
    help="Datum of the coordinate: wgs84, gcj02 (AMap, Tencent) or bd09 (Baidu).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@grid_file_option
@click.pass_context
def grid_locate(
    ctx: click.Context, lon: float, lat: float, datum: str, as_json: bool, grid_path: Path | None
) -> None:
    """Name the cell at each tier that contains LON LAT (degrees, longitude first)."""
    current = load_grid(ctx, grid_path)
    path = current.point_to_cell(lon, lat, datum=datum)
    if path is None:
        if as_json:
            console.print_json(
                json.dumps({"lon": lon, "lat": lat, "datum": datum, "outside": True})
            )
        else:
            console.print(
                f"lon {lon}, lat {lat} ({datum}) is outside the grid {current.generation_id}"
            )
        sys.exit(3)
    rows: list[dict[str, Any]] = []
    for tier, code in zip((1, 2, 3), path, strict=True):
        cell = current.cell(code)
        rows.append({"tier": tier, "code": code, "name": cell["name"], "name_en": cell["name_en"]})
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "lon": lon,
                    "lat": lat,
                    "datum": datum,
                    "outside": False,
                    "generation_id": current.generation_id,
                    "cells": rows,
                },
                ensure_ascii=False,
            )
        )
        return
    table = Table(title=f"lon {lon}, lat {lat} ({datum}) in {current.generation_id}")
    for col in ("tier", "code", "name", "name_en"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("tier", "code", "name", "name_en")))
    console.print(table)


@grid.command("info")
@click.argument("code", required=False)
@grid_file_option
@click.pass_context
def grid_info(ctx: click.Context, code: str | None, grid_path: Path | None) -> None:
    """Summarize the grid, or show one cell: its ancestors, children and neighbours."""
    from gridmgr.grid.build import grid_quality

    current = load_grid(ctx, grid_path)
    if code is None:
        n = current.counts
        console.print(
            f"generation {current.generation_id} ({current.meta.name}): "
            f"{n[1]} / {n[2]} / {n[3]} cells; checksum {current.meta.checksum[:16]}…"
        )
        print_quality(grid_quality(current))
        table = Table(title="tier-1 cells")
        for col in ("code", "name", "name_en", "children"):
            table.add_column(col)
        for c in current.codes(1):
            cell = current.cell(c)
            table.add_row(
                c, str(cell["name"]), str(cell["name_en"]), str(len(current.cell_to_children(c)))
            )
        console.print(table)
        return
    cell = current.cell(code)
    tier = int(cell["tier"])
    graph = current.grid_to_graph(tier)
    rows = [
        ("code", code),
        ("name", f"{cell['name']} ({cell['name_en']})"),
        ("tier", str(tier)),
        ("ancestors", " > ".join(current.cell_to_ancestors(code)) or "-"),
        ("children", ", ".join(current.cell_to_children(code)) or "-"),
        ("neighbours", ", ".join(sorted(graph.neighbors(code))) or "-"),
    ]
    table = Table(show_header=False, title=f"cell {code} in {current.generation_id}")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@grid.command("generations")
@click.pass_context
def grid_generations(ctx: click.Context) -> None:
    """List stored grid generations; the current one is marked."""
    from gridmgr.grid.generations import list_generations

    for gen in list_generations(settings_of(ctx)):
        mark = "*" if gen.current else " "
        console.print(f"{mark} {gen.generation_id:<40} {gen.path}")
