"""Repair: small gaps and overlaps are snapped away and reported; large defects are left alone."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import box

from gridmgr.grid.model import grid_checksum
from gridmgr.grid.repair import DEFAULT_TOLERANCE_M, Change, repair_grid
from gridmgr.grid.validate import ViolationKind, validate_grid
from tests.builders import replace_geometry, tiny_cells

NW = "320281001001"  # community, [120.0, 120.25] x [31.75, 32.0]
NE = "320281001002"  # community, [120.25, 120.5] x [31.75, 32.0]
NW_SW = "320281001001003"  # unit cell, [120.0, 120.125] x [31.75, 31.875]
NW_SE = "320281001001004"  # unit cell, [120.125, 120.25] x [31.75, 31.875]
NE_SW = "320281001002003"  # unit cell, [120.25, 120.375] x [31.75, 31.875], in the other community
FAR_AWAY = ("320281001003003", "320281001004004", "320281001002002")  # touch no defect below

# 1 degree of longitude is ~94.4 km at 32 N, so 2e-6 degree is ~0.19 m: below the 0.5 m default.
SLIVER_DEG = 2e-6
SLIVER_M = 0.189
BIG_DEG = 50 / 94_400  # ~50 m


def changed(changes: list[Change]) -> dict[str, Change]:
    return {c.code: c for c in changes}


def union_built_parents(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The tiny grid with each parent rebuilt as the union of its children.

    Parents then carry every vertex of their children (as grids built by union do), instead of
    the four corners of a box.
    """
    out = cells.copy()
    for tier in (2, 1):
        for i in np.flatnonzero((out["tier"] == tier).to_numpy()):
            kids = out.loc[out["parent_code"] == out.at[i, "code"], "geometry"].to_numpy()
            out.loc[i, "geometry"] = shapely.coverage_union_all(kids)
    return out


def test_sliver_gap_inside_a_community_is_closed() -> None:
    cells = replace_geometry(tiny_cells(), NW_SE, box(120.125 + SLIVER_DEG, 31.75, 120.25, 31.875))
    assert ViolationKind.GAP in {v.kind for v in validate_grid(cells)}

    repaired, changes = repair_grid(cells)

    assert validate_grid(repaired) == []
    by_code = changed(changes)
    filled = [by_code[c] for c in (NW_SW, NW_SE) if c in by_code and by_code[c].moved_m > 0.01]
    assert len(filled) == 1, "exactly one of the two cells takes the sliver"
    assert filled[0].moved_m == pytest.approx(SLIVER_M, abs=0.01)
    # a sliver 0.19 m wide and 1/8 degree (~13.9 km) long
    assert filled[0].area_change_m2 == pytest.approx(0.189 * 13_890, rel=0.02)
    assert all(c.moved_m <= DEFAULT_TOLERANCE_M for c in changes)


def test_tiny_overlap_is_removed() -> None:
    cells = replace_geometry(tiny_cells(), NW_SE, box(120.125, 31.75, 120.25 + SLIVER_DEG, 31.875))
    assert ViolationKind.OVERLAP in {v.kind for v in validate_grid(cells)}

    repaired, changes = repair_grid(cells)

    assert validate_grid(repaired) == []
    fix = changed(changes)[NW_SE]
    assert fix.tier == 3
    assert fix.moved_m == pytest.approx(SLIVER_M, abs=0.01)
    assert fix.area_change_m2 < -2000  # it gave the overlap back
    assert all(c.moved_m <= DEFAULT_TOLERANCE_M for c in changes)
    assert NW_SE in str(fix)
    assert "m²" in str(fix)


def test_sliver_gap_across_a_community_border_is_closed_and_nesting_rebuilt() -> None:
    cells = union_built_parents(tiny_cells())
    assert validate_grid(cells) == []
    cells = replace_geometry(cells, NW_SE, box(120.125, 31.75, 120.25 - SLIVER_DEG, 31.875))

    repaired, changes = repair_grid(cells)

    assert validate_grid(repaired) == []
    for parent in (NW, NE, "320281001"):
        geom = repaired.loc[repaired["code"] == parent, "geometry"].iloc[0]
        kids = repaired.loc[repaired["parent_code"] == parent, "geometry"].to_numpy()
        assert shapely.symmetric_difference(geom, shapely.union_all(kids)).area < 1e-14
    by_code = changed(changes)
    assert all(c.moved_m <= DEFAULT_TOLERANCE_M for c in changes)
    # the sliver went to one side of the community border; if it crossed, both communities followed
    if NE_SW in by_code and by_code[NE_SW].moved_m > 0.01:
        assert by_code[NW].moved_m == pytest.approx(SLIVER_M, abs=0.01)
        assert by_code[NE].moved_m == pytest.approx(SLIVER_M, abs=0.01)
    else:
        assert by_code[NW_SE].moved_m == pytest.approx(SLIVER_M, abs=0.01)
        assert NW not in by_code
        assert NE not in by_code


def test_sliver_gap_across_a_community_border_is_repaired_on_the_tiny_grid() -> None:
    cells = replace_geometry(tiny_cells(), NW_SE, box(120.125, 31.75, 120.25 - SLIVER_DEG, 31.875))

    repaired, _ = repair_grid(cells)

    assert validate_grid(repaired) == []


def test_defect_wider_than_the_tolerance_is_not_repaired() -> None:
    cells = replace_geometry(tiny_cells(), NW_SE, box(120.125 + SLIVER_DEG, 31.75, 120.25, 31.875))

    repaired, _ = repair_grid(cells, tolerance_m=0.1)

    assert ViolationKind.GAP in {v.kind for v in validate_grid(repaired)}


def test_50_m_overlap_is_not_repaired() -> None:
    grown = box(120.125, 31.75, 120.25 + BIG_DEG, 31.875)
    cells = replace_geometry(tiny_cells(), NW_SE, grown)

    repaired, changes = repair_grid(cells)

    overlaps = [v for v in validate_grid(repaired) if v.kind is ViolationKind.OVERLAP]
    assert {NW_SE, NE_SW} in [set(v.codes) for v in overlaps]
    kept = repaired.loc[repaired["code"] == NW_SE, "geometry"].iloc[0]
    assert shapely.symmetric_difference(kept, grown).area < 1e-14
    assert all(c.moved_m <= DEFAULT_TOLERANCE_M for c in changes)


def test_refused_repair_adds_no_new_violation() -> None:
    cells = replace_geometry(tiny_cells(), NW_SE, box(120.125, 31.75, 120.25 + BIG_DEG, 31.875))
    before = {(v.kind, v.codes) for v in validate_grid(cells)}

    repaired, _ = repair_grid(cells)

    assert {(v.kind, v.codes) for v in validate_grid(repaired)} <= before


def test_valid_grid_is_returned_unchanged() -> None:
    cells = tiny_cells()

    repaired, changes = repair_grid(cells)

    assert changes == []
    assert grid_checksum(repaired) == grid_checksum(cells)


def test_change_list_names_only_the_touched_cells() -> None:
    cells = replace_geometry(tiny_cells(), NW_SE, box(120.125, 31.75, 120.25 + SLIVER_DEG, 31.875))

    _, changes = repair_grid(cells)

    assert NW_SE in changed(changes)
    assert not set(FAR_AWAY) & set(changed(changes))


@pytest.mark.parametrize("tolerance", [0.0, -1.0])
def test_tolerance_must_be_positive(tolerance: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        repair_grid(tiny_cells(), tolerance_m=tolerance)
