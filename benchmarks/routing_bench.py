"""Responsibility benchmarks: routing one report, the staffing report, reading a roster.

Anchors, measured in the same run: a one-point ``geopandas.sjoin`` (what a naive router does per
report just to find the cell), and ``pandas.read_csv`` of the same assignments file.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rich.console import Console

from benchmarks.common import Row, median_seconds
from benchmarks.grid_bench import benchmark_points
from gridmgr import load_grid
from gridmgr.datafiles import cell_names, grid_cells
from gridmgr.responsibility.calendar import TZ, WorkCalendar
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.demo_roster import generate_roster
from gridmgr.responsibility.roster_files import read_roster, write_roster
from gridmgr.responsibility.routing import RoutingContext, route_incident
from gridmgr.responsibility.staffing import staffing_report


def run(*, repeats: int, console: Console) -> list[Row]:
    """Measure the responsibility figures."""
    rows: list[Row] = []
    grid = load_grid()
    console.print("demo roster and routing ...")
    roster = generate_roster(grid)
    context = RoutingContext(grid, roster, read_catalog(), WorkCalendar())
    categories = [c.code for c in context.catalog]
    lon, lat = benchmark_points(grid, 4000, seed=7)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
    rng = np.random.default_rng(5)
    hours = rng.integers(0, 24 * 365, len(lon))
    route_incident(context, category=categories[0], at=start, lon=float(lon[0]), lat=float(lat[0]))
    ours = []
    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        at = start + timedelta(hours=int(hours[i]))
        t = time.perf_counter_ns()
        route_incident(context, category=categories[i % len(categories)], at=at, lon=x, lat=y)
        ours.append(time.perf_counter_ns() - t)
    cells3 = grid.tier(3)[["code", "geometry"]]
    anchor = []
    for x, y in zip(lon[:300].tolist(), lat[:300].tolist(), strict=True):
        t = time.perf_counter_ns()
        one = gpd.GeoDataFrame(geometry=gpd.points_from_xy([x], [y]), crs="EPSG:4326")
        gpd.sjoin(one, cells3, how="left", predicate="intersects")
        anchor.append(time.perf_counter_ns() - t)
    p50, p99 = np.percentile(ours, [50, 99]) / 1e3
    a50, a99 = np.percentile(anchor, [50, 99]) / 1e3
    rows.append(
        Row(
            "route_incident, one report (chain, unit, deadlines, border check)",
            f"p50 {p50:.0f} µs, p99 {p99:.0f} µs",
            "geopandas.sjoin of one point",
            f"p50 {a50:.0f} µs, p99 {a99:.0f} µs",
            f"{a50 / p50:.1f}x faster at p50",
            "-",
        )
    )

    at = datetime(2026, 5, 1, tzinfo=TZ)
    staffing_s = median_seconds(lambda: staffing_report(grid, roster, at), repeats)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_roster(roster, Path(tmp) / "roster", place_names=cell_names(grid))
        cells = grid_cells(grid)
        read_s = median_seconds(lambda: read_roster(folder, cells=cells), repeats)
        csv_s = median_seconds(
            lambda: [
                pd.read_csv(folder / n, dtype=str)
                for n in ("persons.csv", "units.csv", "assignments.csv")
            ],
            repeats,
        )
    rows.append(
        Row(
            f"staffing_report, {len(roster.assignments):,} assignments, 1557 cells",
            f"{staffing_s * 1e3:.0f} ms",
            "pandas.read_csv of the roster files",
            f"{csv_s * 1e3:.0f} ms",
            f"{staffing_s / csv_s:.1f}x",
            "-",
        )
    )
    rows.append(
        Row(
            "read + validate the demo roster folder",
            f"{read_s * 1e3:.0f} ms",
            "pandas.read_csv of the roster files",
            f"{csv_s * 1e3:.0f} ms",
            f"{read_s / csv_s:.1f}x",
            "-",
        )
    )
    return rows
