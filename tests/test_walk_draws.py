"""The array cuts of the walks and their pixels (issue #21) give what the one-by-one versions
gave: a walk's block-drawn random points are ``point_in_polygon``'s, leaving the generator where
its calls leave it, and the cells' tree asked per stretch of segments finds the pairs that
asking it per segment finds."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import shapely

from gridmgr import Grid
from gridmgr.patrolpixels import pixel_raster
from gridmgr.responsibility.calendar import TZ
from gridmgr.simulation.activity import point_in_polygon
from gridmgr.simulation.walks import _Draws, walk_in_cell

# an L: most of its box is outside, and many straight lines between its points leave it
L_CELL = shapely.Polygon(
    [(120.0, 31.0), (120.01, 31.0), (120.01, 31.001), (120.001, 31.001), (120.001, 31.01),
     (120.0, 31.01)]
)  # fmt: skip


def test_block_draws_are_the_points_one_call_at_a_time_gives() -> None:
    for seed in range(20):
        blocks, calls = np.random.default_rng(seed), np.random.default_rng(seed)
        draws = _Draws(blocks, L_CELL, L_CELL.bounds)
        got = [draws.point() for _ in range(37)]
        draws.finish()
        want = [point_in_polygon(calls, L_CELL, L_CELL.bounds) for _ in range(37)]
        assert got == want
        assert blocks.random() == calls.random()  # the generator goes on from the same place


def test_a_walk_in_a_concave_cell_keeps_its_legs_inside() -> None:
    rng = np.random.default_rng(4)
    start = datetime(2026, 11, 2, 9, tzinfo=TZ)
    _, lon, lat = walk_in_cell(
        rng, L_CELL, start=start, duration=timedelta(hours=2), every=timedelta(seconds=20)
    )
    near = L_CELL.buffer(0.0004)  # GPS noise of a few metres
    assert shapely.contains_xy(near, lon, lat).all()
    assert not shapely.contains_xy(shapely.box(120.0015, 31.0015, 120.01, 31.01), lon, lat).any()


def test_the_tree_asked_per_stretch_finds_the_pairs_asked_per_box(tiny: Grid) -> None:
    raster = pixel_raster(tiny)
    rng = np.random.default_rng(1)
    x0, y0 = raster.x0.min() * 10.0, raster.y0.min() * 10.0
    x1 = (raster.x0 + raster.width).max() * 10.0
    y1 = (raster.y0 + raster.height).max() * 10.0
    lo = np.stack([rng.uniform(x0 - 500, x1, 3000), rng.uniform(y0 - 500, y1, 3000)], axis=1)
    hi = lo + rng.uniform(10, 400, (3000, 2))
    # half of them with edges on pixel lines: boxes that touch intersect
    lo[::2], hi[::2] = np.round(lo[::2], -1), np.round(hi[::2], -1)
    group = np.sort(rng.integers(0, 200, 3000))
    got = raster.near(lo, hi, group)
    boxes = shapely.box(raster.x0 * 10.0, raster.y0 * 10.0, (raster.x0 + raster.width) * 10.0,
                        (raster.y0 + raster.height) * 10.0)  # fmt: skip
    want = shapely.STRtree(boxes).query(
        shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]), predicate="intersects"
    )
    assert len(want[0]) > 1000
    assert sorted(zip(*got.tolist(), strict=True)) == sorted(zip(*want.tolist(), strict=True))
