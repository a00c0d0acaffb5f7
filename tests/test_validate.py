"""Grid validation: every defect is refused, named by kind and cells, and located where it is."""

from __future__ import annotations

from typing import cast

import geopandas as gpd
import pytest
import shapely
from shapely import LineString, Point, Polygon, box

from gridmgr import Grid, GridMgrError, InvalidGridError
from gridmgr.grid.io import read_territory
from gridmgr.grid.model import generation_id_for, grid_checksum
from gridmgr.grid.validate import (
    AREA_TOLERANCE_DEG2,
    Violation,
    ViolationKind,
    format_report,
    validate_grid,
    validated_grid,
)
from tests.builders import TOWN, replace_geometry, tiny_cells

# Cells of the tiny grid (gridmgr.testing) that the defects below are built on.
NW = "320281001001"  # community, [120.0, 120.25] x [31.75, 32.0]
NE = "320281001002"  # community, [120.25, 120.5] x [31.75, 32.0]
NW_SE = "320281001001004"  # unit cell, [120.125, 120.25] x [31.75, 31.875], touches no outline
NE_SW = "320281001002003"  # unit cell, [120.25, 120.375] x [31.75, 31.875], east of NW_SE
NW_SE_BOX = box(120.125, 31.75, 120.25, 31.875)
STEP = 1 / 64  # degrees; a binary fraction, so every defect below is exact

K = ViolationKind


def kinds(violations: list[Violation]) -> list[str]:
    """The sorted kind names of a validation result."""
    return sorted(v.kind.value for v in violations)


def the_one(violations: list[Violation], kind: ViolationKind) -> Violation:
    """The single violation of ``kind`` (fails if there are none or several)."""
    found = [v for v in violations if v.kind is kind]
    assert len(found) == 1, f"expected one {kind.value}, got {[str(v) for v in violations]}"
    return found[0]


def assert_located_in(v: Violation, area: shapely.Geometry) -> None:
    """The violation's location is ``area`` and its report point lies inside it."""
    assert v.location is not None
    assert shapely.symmetric_difference(v.location, area).area < AREA_TOLERANCE_DEG2
    p = shapely.point_on_surface(v.location)
    assert area.contains(p)
    assert v.where == f"at lon {p.x:.6f}, lat {p.y:.6f}"


# -- valid grids ------------------------------------------------------------------------------


def test_tiny_grid_is_valid() -> None:
    assert validate_grid(tiny_cells()) == []


def test_default_grid_is_valid_and_covers_its_territory(jiangyin: Grid) -> None:
    assert validate_grid(jiangyin.cells, territory=read_territory().polygon) == []
    assert jiangyin.counts == {1: 17, 2: 271, 3: 1557}


def test_valid_cells_become_a_content_addressed_grid() -> None:
    cells = tiny_cells()
    grid = validated_grid(cells, name="Tiny grid")
    assert grid.meta.checksum == grid_checksum(cells)
    assert grid.generation_id == generation_id_for("Tiny grid", grid_checksum(cells))
    assert grid.generation_id.startswith("tiny-grid-")


# -- gaps, overlaps, nesting ------------------------------------------------------------------


def test_hole_in_a_cell_is_a_gap_located_in_the_hole() -> None:
    hole = box(120.125 + 2 * STEP, 31.75 + 2 * STEP, 120.25 - 2 * STEP, 31.875 - 2 * STEP)
    found = validate_grid(replace_geometry(tiny_cells(), NW_SE, NW_SE_BOX.difference(hole)))

    assert kinds(found) == ["gap", "parent_not_covered"]
    gap = the_one(found, K.GAP)
    assert gap.tier == 3
    assert_located_in(gap, hole)
    uncovered = the_one(found, K.PARENT_NOT_COVERED)
    assert (uncovered.tier, uncovered.codes) == (2, (NW,))
    assert_located_in(uncovered, hole)


def test_shrunk_cell_leaves_a_gap_located_between_it_and_its_neighbour() -> None:
    shrunk = box(120.125, 31.75, 120.25 - STEP, 31.875)
    found = validate_grid(replace_geometry(tiny_cells(), NW_SE, shrunk))

    strip = box(120.25 - STEP, 31.75, 120.25, 31.875)
    assert_located_in(the_one(found, K.GAP), strip)
    uncovered = the_one(found, K.PARENT_NOT_COVERED)
    assert uncovered.codes == (NW,)
    assert_located_in(uncovered, strip)
    assert {K.GAP, K.PARENT_NOT_COVERED, K.EDGE_MISMATCH} == {v.kind for v in found}


def test_gap_around_a_shrunk_cell_is_located_in_the_ring_not_in_the_cell() -> None:
    shrunk = NW_SE_BOX.buffer(-STEP, join_style="mitre")
    found = validate_grid(replace_geometry(tiny_cells(), NW_SE, shrunk))

    ring = NW_SE_BOX.difference(shrunk)
    assert_located_in(the_one(found, K.GAP), ring)


def test_cell_grown_into_its_neighbour_is_an_overlap_naming_both() -> None:
    grown = box(120.125, 31.75, 120.25 + STEP, 31.875)
    found = validate_grid(replace_geometry(tiny_cells(), NW_SE, grown))

    strip = box(120.25, 31.75, 120.25 + STEP, 31.875)
    overlap = the_one(found, K.OVERLAP)
    assert (overlap.tier, set(overlap.codes)) == (3, {NW_SE, NE_SW})
    assert_located_in(overlap, strip)
    assert "m²" in overlap.message
    # 1/64 deg of longitude (~1475 m at 32 N) by 1/8 deg of latitude (~13915 m): ~20.5 km²
    assert 20.3e6 < overlap.area_m2 < 20.7e6
    outside = the_one(found, K.CHILD_OUTSIDE_PARENT)
    assert outside.codes == (NW_SE, NW)
    assert_located_in(outside, strip)
    assert K.GAP not in {v.kind for v in found}


def test_child_reaching_into_another_community_is_outside_its_parent() -> None:
    # The border between NW_SE and NE_SW moves east: tier 3 still tiles, but NW_SE now
    # reaches into community NE, which its own children no longer fill.
    cells = replace_geometry(tiny_cells(), NW_SE, box(120.125, 31.75, 120.25 + STEP, 31.875))
    cells = replace_geometry(cells, NE_SW, box(120.25 + STEP, 31.75, 120.375, 31.875))
    found = validate_grid(cells)

    strip = box(120.25, 31.75, 120.25 + STEP, 31.875)
    outside = the_one(found, K.CHILD_OUTSIDE_PARENT)
    assert (outside.tier, outside.codes) == (3, (NW_SE, NW))
    assert_located_in(outside, strip)
    uncovered = the_one(found, K.PARENT_NOT_COVERED)
    assert (uncovered.tier, uncovered.codes) == (2, (NE,))
    assert_located_in(uncovered, strip)
    assert not {K.GAP, K.OVERLAP} & {v.kind for v in found}


def test_bow_tie_is_invalid_geometry_with_geos_reason_at_the_crossing() -> None:
    bow_tie = Polygon([(120.125, 31.75), (120.25, 31.875), (120.25, 31.75), (120.125, 31.875)])
    found = validate_grid(replace_geometry(tiny_cells(), NW_SE, bow_tie))

    invalid = the_one(found, K.INVALID_GEOMETRY)
    assert (invalid.tier, invalid.codes) == (3, (NW_SE,))
    assert "Self-intersection" in invalid.message
    assert invalid.location == Point(120.1875, 31.8125)
    assert invalid.where == "at lon 120.187500, lat 31.812500"
    # coverage checks skip a tier with an invalid cell; nesting still sees the missing child
    assert kinds(found) == ["invalid_geometry", "parent_not_covered"]


def test_t_junction_is_an_edge_mismatch_on_both_sides() -> None:
    # an extra vertex on NW_SE's east edge that NE_SW's west edge does not have
    extra = (120.25, 31.8125)
    t_cell = Polygon(
        [(120.125, 31.75), (120.25, 31.75), extra, (120.25, 31.875), (120.125, 31.875)]
    )
    found = validate_grid(replace_geometry(tiny_cells(), NW_SE, t_cell))

    assert kinds(found) == ["edge_mismatch", "edge_mismatch"]
    assert {v.codes for v in found} == {(NW_SE,), (NE_SW,)}
    shared = LineString([(120.25, 31.75), (120.25, 31.875)])
    for v in found:
        assert v.tier == 3
        assert v.location is not None
        assert shared.buffer(1e-12).covers(v.location)
    assert the_one([v for v in found if v.codes == (NW_SE,)], K.EDGE_MISMATCH).where == (
        "at lon 120.250000, lat 31.812500"
    )


# -- territory --------------------------------------------------------------------------------


def test_larger_territory_is_not_covered_and_the_uncovered_part_is_located() -> None:
    territory = box(120.0 - STEP, 31.5 - STEP, 120.5 + STEP, 32.0 + STEP)
    found = validate_grid(tiny_cells(), territory=territory)

    uncovered = the_one(found, K.TERRITORY_NOT_COVERED)
    assert uncovered.tier == 1
    assert_located_in(uncovered, territory.difference(box(120.0, 31.5, 120.5, 32.0)))
    assert kinds(found) == ["territory_not_covered"]


def test_cells_beyond_a_smaller_territory_are_outside_it() -> None:
    territory = box(120.0, 31.5, 120.5, 32.0 - STEP)
    found = validate_grid(tiny_cells(), territory=territory)

    assert kinds(found) == ["outside_territory"]
    assert_located_in(found[0], box(120.0, 32.0 - STEP, 120.5, 32.0))


# -- CRS --------------------------------------------------------------------------------------


def test_cells_in_a_projected_crs_are_refused() -> None:
    cells = tiny_cells().set_crs("EPSG:4549", allow_override=True)
    found = validate_grid(cells)

    assert kinds(found) == ["crs"]
    assert "EPSG:4549" in found[0].message
    assert "EPSG:4326" in found[0].message


def test_cells_without_crs_are_refused() -> None:
    cells = tiny_cells().set_crs(None, allow_override=True)
    assert cells.crs is None
    found = validate_grid(cells)

    assert kinds(found) == ["crs"]
    assert "no CRS" in found[0].message


def test_crs_problems_noticed_while_reading_are_reported() -> None:
    found = validate_grid(tiny_cells(), crs_problems=["a.shp declares no CRS"])
    assert [v.kind for v in found] == [K.CRS]
    assert found[0].message.startswith("a.shp declares no CRS")


def test_geometry_is_not_judged_in_an_unknown_crs() -> None:
    # metres read as degrees would give gaps of 1e15 m² "at lon 547310": say only what to fix
    cells = replace_geometry(
        tiny_cells(), "320281001001001", box(547_000, 3_500_000, 548_000, 3_501_000)
    )
    found = validate_grid(cells, crs_problems=["a.shp declares no CRS"])
    assert {v.kind for v in found} == {K.CRS}
    assert "once the CRS is right" in found[0].message


# -- codes ------------------------------------------------------------------------------------


def with_code(
    code: str, *, new_code: str | None = None, parent: str | None = None
) -> list[Violation]:
    """Validate the tiny grid with one cell's code or parent code replaced."""
    cells = tiny_cells()
    row = cells["code"] == code
    if parent is not None:
        cells.loc[row, "parent_code"] = parent
    if new_code is not None:
        cells.loc[row, "code"] = new_code
    return validate_grid(cells)


def test_duplicate_code_is_refused_once_naming_the_code() -> None:
    found = with_code(NW_SE, new_code="320281001001003")
    assert kinds(found) == ["duplicate_code"]
    assert found[0].codes == ("320281001001003",)
    assert "2 times" in found[0].message


@pytest.mark.parametrize(
    "bad",
    ["3202810010010044", "32028100100104", "3202810010010", "32028100100100A", "320281-01001004"],
    ids=["too-long", "too-short", "13-digits", "letter", "punctuation"],
)
def test_malformed_code_is_refused_naming_the_code(bad: str) -> None:
    found = with_code(NW_SE, new_code=bad)
    assert kinds(found) == ["malformed_code"]
    assert (found[0].tier, found[0].codes) == (3, (bad,))
    assert "15 digits" in found[0].message


def test_code_of_another_tiers_length_is_only_malformed() -> None:
    found = with_code(NW_SE, new_code="320281001005")  # a tier-2 length at tier 3
    assert kinds(found) == ["malformed_code"]


def test_missing_parent_is_a_wrong_parent() -> None:
    found = with_code(NW_SE, parent="320281001009")
    wrong = the_one(found, K.WRONG_PARENT)
    assert (wrong.tier, wrong.codes) == (3, (NW_SE,))
    assert "'320281001009'" in wrong.message
    # the orphan no longer fills its true parent
    assert the_one(found, K.PARENT_NOT_COVERED).codes == (NW,)


def test_parent_whose_code_is_not_a_prefix_is_a_wrong_parent() -> None:
    found = with_code(NW_SE, parent=NE)
    wrong = the_one(found, K.WRONG_PARENT)
    assert wrong.codes == (NW_SE,)
    assert NW in wrong.message  # says which prefix it needs
    assert the_one(found, K.CHILD_OUTSIDE_PARENT).codes == (NW_SE, NE)


def test_tier1_parent_must_be_the_county_code() -> None:
    found = with_code(TOWN, parent="320282")
    assert kinds(found) == ["wrong_parent"]
    assert (found[0].tier, found[0].codes) == (1, (TOWN,))
    assert "320281" in found[0].message


def test_missing_tier_is_reported() -> None:
    cells = tiny_cells()
    found = validate_grid(cells[cells["tier"] != 3])
    assert [(v.kind, v.tier) for v in found] == [(K.MISSING_TIER, 3)]


# -- the error and the report -----------------------------------------------------------------


def broken_cells() -> gpd.GeoDataFrame:
    """The tiny grid with a hole in NW_SE and a duplicate code: three violations."""
    hole = box(120.125 + STEP, 31.75 + STEP, 120.25 - STEP, 31.875 - STEP)
    cells = replace_geometry(tiny_cells(), NW_SE, NW_SE_BOX.difference(hole))
    cells.loc[cells["code"] == "320281001004004", "code"] = "320281001004003"
    return cells


def test_invalid_grid_error_lists_every_violation_in_a_readable_report() -> None:
    cells = broken_cells()
    with pytest.raises(InvalidGridError) as caught:
        validated_grid(cells, name="broken", label="broken.gpkg")

    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, GridMgrError)
    assert error.violations == validate_grid(cells)
    assert kinds(cast("list[Violation]", error.violations)) == [
        "duplicate_code",
        "gap",
        "parent_not_covered",
    ]
    report = str(error).splitlines()
    assert report[0] == "broken.gpkg is not a valid grid: 3 violation(s)"
    assert "  1 x gap" in report
    assert "- duplicate_code: [320281001004003] code 320281001004003 is used 2 times" in report
    gap_line = next(line for line in report if line.startswith("- gap: tier 3 "))
    assert gap_line.endswith("(at lon 120.187500, lat 31.812500)")


def test_report_lists_at_most_limit_violations_and_counts_the_rest() -> None:
    violations = [Violation(K.GAP, f"gap {i}", tier=3) for i in range(7)]
    violations.append(Violation(K.OVERLAP, "overlap", tier=3, codes=("a", "b")))

    lines = format_report(violations, title="t", limit=3).splitlines()

    assert lines == [
        "t: 8 violation(s)",
        "  7 x gap",
        "  1 x overlap",
        "- gap: tier 3 gap 0",
        "- gap: tier 3 gap 1",
        "- gap: tier 3 gap 2",
        "... and 5 more",
    ]


def test_violation_without_location_has_no_where() -> None:
    v = Violation(K.DUPLICATE_CODE, "used twice", codes=("320281001",))
    assert v.where == ""
    assert v.area_m2 == 0.0
    assert str(v) == "duplicate_code: [320281001] used twice"
