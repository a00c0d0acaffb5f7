"""Grid benchmarks: build, load, bulk and single-point location, index memory.

Every figure is a median over repeats and sits beside an anchor measured in the same run on the
same data, as a ratio, because these machines are small and noisy: absolute seconds mean little,
ratios travel.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import shapely
from rich.console import Console

from benchmarks.common import Row, median_seconds
from gridmgr import Grid, load_grid
from gridmgr.grid.build import build_grid
from gridmgr.grid.io import default_grid_path, read_territory
from gridmgr.grid.territory import Territory
from gridmgr.grid.workload import Workload


def benchmark_points(grid: Grid, n: int, seed: int = 2026) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points: ~97 % uniform inside the territory, ~3 % outside, 0.5 % exactly on borders."""
    rng = np.random.default_rng(seed)
    territory = shapely.union_all(grid.tier(1).geometry.values)
    shapely.prepare(territory)
    x0, y0, x1, y1 = territory.bounds
    n_out = int(n * 0.03)
    n_border = int(n * 0.005)
    inside_x, inside_y, out_x, out_y = [], [], [], []
    have_in = have_out = 0
    while have_in < n - n_out or have_out < n_out:
        x = rng.uniform(x0 - 0.02, x1 + 0.02, n)
        y = rng.uniform(y0 - 0.02, y1 + 0.02, n)
        ok = shapely.contains_xy(territory, x, y)
        inside_x.append(x[ok]), inside_y.append(y[ok]), out_x.append(x[~ok]), out_y.append(y[~ok])
        have_in += int(ok.sum())
        have_out += int((~ok).sum())
    lon = np.concatenate([np.concatenate(inside_x)[: n - n_out], np.concatenate(out_x)[:n_out]])
    lat = np.concatenate([np.concatenate(inside_y)[: n - n_out], np.concatenate(out_y)[:n_out]])
    coords = shapely.get_coordinates(grid.tier(3).geometry.values)
    k = rng.integers(0, len(coords) - 1, n_border)
    t = np.where(rng.random(n_border) < 0.5, 0.0, rng.random(n_border))
    lon[:n_border] = coords[k, 0] + (coords[k + 1, 0] - coords[k, 0]) * t
    lat[:n_border] = coords[k, 1] + (coords[k + 1, 1] - coords[k, 1]) * t
    order = rng.permutation(n)
    return lon[order], lat[order]


def build_weighted_with_lines(territory: Territory) -> Grid:
    """A build with every option a county may add: 20,000 clustered workload points, 40 roads."""
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = territory.polygon.bounds
    centres = rng.uniform((x0, y0), (x1, y1), (17, 2))
    xy = np.vstack(
        [
            rng.normal(centres[rng.integers(0, 17, 15_000)], 0.02),
            rng.uniform((x0, y0), (x1, y1), (5_000, 2)),
        ]
    )
    inside = shapely.contains_xy(territory.polygon, xy[:, 0], xy[:, 1])
    workload = Workload(xy[inside], rng.integers(1, 20, int(inside.sum())).astype(float))
    ends = rng.uniform((x0, y0), (x1, y1), (40, 2, 2))
    roads = shapely.intersection(shapely.multilinestrings(list(ends)), territory.polygon)
    return build_grid(territory, workload=workload, lines=roads)


def run(*, repeats: int, n_points: int, console: Console) -> list[Row]:
    """Measure the grid's figures."""
    rows: list[Row] = []
    territory = read_territory()

    # -- build ---------------------------------------------------------------------------------
    console.print("building the grid ...")
    build_s = median_seconds(lambda: build_grid(territory), max(3, repeats // 2))
    plain = territory.polygon
    seeds = shapely.get_coordinates(
        shapely.points(
            *np.random.default_rng(1).uniform(plain.bounds[:2], plain.bounds[2:], (1557, 2)).T
        )
    )

    def voronoi_anchor() -> None:
        v = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=plain)
        shapely.intersection(np.asarray(v.geoms), plain)

    anchor_s = median_seconds(voronoi_anchor, repeats)
    rows.append(
        Row(
            "build default grid (17/271/1557)",
            f"{build_s:.2f} s",
            "one Voronoi of 1557 seeds clipped",
            f"{anchor_s:.3f} s",
            f"{build_s / anchor_s:.0f}x the anchor",
            "<= 10 s",
        )
    )

    weighted_s = median_seconds(lambda: build_weighted_with_lines(territory), max(1, repeats // 3))
    rows.append(
        Row(
            "build 17/271/1557, weighted (20k pts) + 40 roads",
            f"{weighted_s:.2f} s",
            "one Voronoi of 1557 seeds clipped",
            f"{anchor_s:.3f} s",
            f"{weighted_s / anchor_s:.0f}x the anchor",
            "<= 30 s",
        )
    )

    # -- load ----------------------------------------------------------------------------------
    load_s = median_seconds(lambda: load_grid(default_grid_path()), max(3, repeats // 2))
    read_s = median_seconds(lambda: gpd.read_file(default_grid_path(), layer="tier3"), repeats)
    rows.append(
        Row(
            "load + validate + index the grid",
            f"{load_s:.2f} s",
            "geopandas.read_file(tier3 layer)",
            f"{read_s:.3f} s",
            f"{load_s / read_s:.1f}x",
            "-",
        )
    )

    grid = load_grid()
    console.print(f"making {n_points:,} benchmark points ...")
    lon, lat = benchmark_points(grid, n_points)

    # -- bulk locate ---------------------------------------------------------------------------
    console.print("bulk location ...")
    fast = grid.points_to_leaf_positions(lon, lat)
    exact = grid.exact_leaf_positions(lon, lat)
    mismatches = int((fast != exact).sum())
    df_s = median_seconds(lambda: grid.points_to_cells(lon, lat), repeats)
    leaf_s = median_seconds(lambda: grid.points_to_leaf_positions(lon, lat), repeats)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    cells3 = grid.tier(3)[["code", "geometry"]]
    sjoin_s = median_seconds(
        lambda: gpd.sjoin(pts, cells3, how="left", predicate="intersects"), max(3, repeats // 2)
    )
    idx = np.random.default_rng(3).integers(0, 1557, n_points)
    codes = np.asarray(grid.codes(3), dtype=object)
    gather_s = median_seconds(lambda: codes[idx], repeats)
    m = n_points / 1e6
    rows.append(
        Row(
            f"points_to_cells, {m:g} M pts -> DataFrame",
            f"{m / df_s:.1f} M pts/s",
            "geopandas.sjoin (intersects)",
            f"{m / sjoin_s:.2f} M pts/s",
            f"{sjoin_s / df_s:.1f}x sjoin",
            ">= 20x sjoin, >= 10 M/s",
        )
    )
    rows.append(
        Row(
            f"points_to_leaf_positions, {m:g} M pts",
            f"{m / leaf_s:.1f} M pts/s",
            "geopandas.sjoin (intersects)",
            f"{m / sjoin_s:.2f} M pts/s",
            f"{sjoin_s / leaf_s:.1f}x sjoin",
            ">= 20x sjoin",
        )
    )
    rows.append(
        Row(
            "  (same points: answers differing from exact)",
            f"{mismatches}",
            "object-array gather of codes",
            f"{m / gather_s:.0f} M/s",
            "-",
            "0",
        )
    )

    # -- single point --------------------------------------------------------------------------
    console.print("single points ...")
    sample = list(zip(lon[:20_000].tolist(), lat[:20_000].tolist(), strict=True))
    ours, anchor = [], []
    tree = shapely.STRtree(grid.tier(3).geometry.values)
    for x, y in sample:
        t = time.perf_counter_ns()
        grid.point_to_cell(x, y)
        ours.append(time.perf_counter_ns() - t)
    for x, y in sample[:5000]:
        t = time.perf_counter_ns()
        tree.query(shapely.Point(x, y), predicate="intersects")
        anchor.append(time.perf_counter_ns() - t)
    p50, p99 = np.percentile(ours, [50, 99]) / 1e3
    a50, a99 = np.percentile(anchor, [50, 99]) / 1e3
    rows.append(
        Row(
            "point_to_cell, one point",
            f"p50 {p50:.1f} µs, p99 {p99:.1f} µs",
            "STRtree.query(Point, intersects)",
            f"p50 {a50:.1f} µs, p99 {a99:.1f} µs",
            f"{a99 / p99:.1f}x faster at p99",
            "p99 <= 20 µs",
        )
    )

    # -- memory --------------------------------------------------------------------------------
    wkb = sum(len(b) for b in shapely.to_wkb(grid.cells.geometry.values))
    rows.append(
        Row(
            "locate index memory",
            f"{grid.index_nbytes / 2**20:.1f} MiB",
            "WKB of all cell polygons",
            f"{wkb / 2**20:.1f} MiB",
            f"{grid.index_nbytes / wkb:.1f}x",
            "a few MB",
        )
    )

    return rows
