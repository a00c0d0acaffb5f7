"""The locate index: edge-side answers and the outside ring (tests/test_locate.py)."""

from __future__ import annotations

from gridmgr import Grid


def test_points_exactly_on_an_edge_go_to_the_lower_code(tiny: Grid) -> None:
    # 120.0625 lies inside sub-square columns, 31.875 on the row border between sub-squares
    # 001 (north) and 003 (south) of the NW quadrant: both cover it, 001 wins
    assert tiny.points_to_cells([120.0625], [31.875]).tier3.tolist() == ["320281001001001"]


def test_points_beyond_the_raster_are_outside_even_on_dyadic_bounds(tiny: Grid) -> None:
    # the tiny grid's bounds are exact multiples of the pixel size: the worst case for the
    # ring of outside pixels that clamped points land in
    lon = [120.0 - 1e-12, 119.0, 0.0, 179.9, 120.5 + 1e-12, 120.25, 120.25, -179.0]
    lat = [31.75, 31.75, 31.75, 31.75, 31.75, 32.0 + 1e-12, 31.5 - 1e-12, -89.0]
    assert tiny.points_to_leaf_positions(lon, lat).tolist() == [-1] * len(lon)
    assert tiny.points_to_leaf_positions([120.0, 120.5], [31.5, 32.0]).tolist() != [-1, -1]
