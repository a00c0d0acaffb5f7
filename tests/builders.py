"""Builders for test objects: a tiny hand-checkable 1 / 4 / 16-cell grid, and ways to break it."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from gridmgr.grid import Grid
from gridmgr.validate import validated_grid

COUNTY = "320281"
TOWN = "320281001"
X0, Y0, SIZE = 120.0, 31.5, 0.5
"""The tiny grid is the square [120.0, 120.5] x [31.5, 32.0], cut in 2 x 2, then 4 x 4
(binary fractions, so every corner is exact)."""


def tiny_cells() -> gpd.GeoDataFrame:
    """One town, four communities (quadrants), sixteen unit cells (a 4 x 4 lattice).

    Community ``320281001 00q`` is quadrant q in reading order (NW, NE, SW, SE); unit cell
    ``...00k`` is sub-square k of its quadrant, also in reading order.
    """
    rows = [_row(TOWN, COUNTY, 1, shapely.box(X0, Y0, X0 + SIZE, Y0 + SIZE))]
    half, quarter = SIZE / 2, SIZE / 4
    for q, (qx, qy) in enumerate(_reading_order(X0, Y0, half), start=1):
        code2 = f"{TOWN}{q:03d}"
        rows.append(_row(code2, TOWN, 2, shapely.box(qx, qy, qx + half, qy + half)))
        for k, (cx, cy) in enumerate(_reading_order(qx, qy, quarter), start=1):
            rows.append(
                _row(f"{code2}{k:03d}", code2, 3, shapely.box(cx, cy, cx + quarter, cy + quarter))
            )
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs="EPSG:4326")


def tiny_grid() -> Grid:
    """The tiny grid, validated."""
    return validated_grid(tiny_cells(), name="tiny")


def replace_geometry(
    cells: gpd.GeoDataFrame, code: str, geom: shapely.Geometry
) -> gpd.GeoDataFrame:
    """A copy of ``cells`` with one cell's geometry replaced."""
    out = cells.copy()
    out.loc[out["code"] == code, "geometry"] = geom
    return out


def _reading_order(x: float, y: float, step: float) -> list[tuple[float, float]]:
    """Lower-left corners of the 2 x 2 squares of ``step`` at (x, y): NW, NE, SW, SE."""
    return [(x, y + step), (x + step, y + step), (x, y), (x + step, y)]


def _row(code: str, parent: str, tier: int, geom: shapely.Geometry) -> dict[str, object]:
    return {
        "code": code,
        "parent_code": parent,
        "tier": tier,
        "name": f"cell {code}",
        "name_en": f"cell {code}",
        "geometry": geom,
    }
