"""The grid: shipped default, hierarchy, adjacency and exact point location (tests/test_grid.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridmgr import CellError, CellNotFoundError, CoordinateError, Grid
from gridmgr.grid.build import grid_quality, towns_outside_own_cell
from gridmgr.grid.codes import code_to_parent_code
from gridmgr.grid.datum import wgs84_to_gcj02
from gridmgr.grid.io import read_territory
from gridmgr.grid.territory import Territory, Town

# -- the shipped default ---------------------------------------------------------------------


def test_default_grid_has_17_271_1557_cells(jiangyin: Grid) -> None:
    assert jiangyin.counts == {1: 17, 2: 271, 3: 1557}


def test_default_grid_is_a_valid_coverage_at_every_tier(jiangyin: Grid) -> None:
    for tier in (1, 2, 3):
        geoms = jiangyin.tier(tier).geometry.values
        assert shapely.coverage_is_valid(geoms), f"tier {tier} edges are not vertex-identical"


def test_default_grid_covers_the_real_territory_exactly(jiangyin: Grid) -> None:
    territory = read_territory().polygon
    union = shapely.union_all(jiangyin.tier(1).geometry.values)
    assert shapely.symmetric_difference(union, territory).area < 1e-14


def test_tier1_cells_carry_the_real_town_names_and_codes(jiangyin: Grid) -> None:
    towns = read_territory().towns
    tier1 = jiangyin.tier(1).set_index("code")
    for town in towns:
        assert tier1.at[town.code, "name"] == town.name
        assert tier1.at[town.code, "name_en"] == town.name_en


def test_every_town_point_falls_in_its_own_cell_but_the_one_corrected_since(
    jiangyin: Grid,
) -> None:
    # the shipped generation was seeded with 长泾镇 ~4.4 km too far west (data/jiangyin/README.md)
    towns = read_territory().towns
    assert towns_outside_own_cell(jiangyin, towns) == ["长泾镇"]
    assert towns_outside_own_cell(jiangyin, read_territory(shipped_seeds=True).towns) == []


def test_changjing_lies_east_of_zhutang_between_it_and_gushan() -> None:
    town = {t.name: t for t in read_territory().towns}
    assert town["祝塘镇"].lon < town["长泾镇"].lon < town["顾山镇"].lon
    assert town["长泾镇"].lat < town["新桥镇"].lat


def test_every_town_point_lies_inside_its_own_polygon_where_polygons_are_known() -> None:
    """Jiangyin ships no town polygons (no registry package has them): a synthetic check."""
    areas = (shapely.box(120.0, 31.0, 120.1, 31.1), shapely.box(120.1, 31.0, 120.2, 31.1))
    towns = tuple(
        Town(f"32028100{i}", name, name, "town", lon, 31.05)
        for i, (name, lon) in enumerate((("甲镇", 120.05), ("乙镇", 120.04)), start=1)
    )
    territory = Territory("t", "320281", shapely.union_all(areas), towns, town_areas=areas)
    assert territory.towns_outside_own_area() == ["乙镇"]
    assert replace(territory, town_areas=()).towns_outside_own_area() == []


def test_child_codes_start_with_the_parent_code(jiangyin: Grid) -> None:
    cells = jiangyin.cells[jiangyin.cells["tier"] > 1]
    for code, parent in zip(cells["code"], cells["parent_code"], strict=True):
        assert code.startswith(parent)
        assert code_to_parent_code(code) == parent


def test_cells_are_compact_and_balanced(jiangyin: Grid) -> None:
    q = grid_quality(jiangyin)
    assert (q["area_cv"] < 0.25).all()
    assert q.loc[3, "polsby_popper_median"] > 0.7
    assert q.loc[3, "area_km2_max"] / q.loc[3, "area_km2_min"] < 3


# -- hierarchy ---------------------------------------------------------------------------------


def test_cell_to_parent_children_and_ancestors_agree(tiny: Grid) -> None:
    assert tiny.cell_to_parent("320281001002003") == "320281001002"
    assert tiny.cell_to_parent("320281001") is None
    assert tiny.cell_to_children("320281001") == [f"320281001{q:03d}" for q in range(1, 5)]
    assert tiny.cell_to_children("320281001002001") == []
    assert tiny.cell_to_ancestors("320281001002003") == ["320281001", "320281001002"]
    assert len(tiny.cell_to_descendants("320281001", tier=3)) == 16


def test_unknown_code_is_a_lookup_error_and_malformed_code_a_cell_error(tiny: Grid) -> None:
    with pytest.raises(CellNotFoundError, match="no cell '320281009'") as unknown:
        tiny.cell_to_parent("320281009")
    assert isinstance(unknown.value, LookupError)
    assert not isinstance(unknown.value, ValueError)
    with pytest.raises(CellError, match="malformed cell code"):
        tiny.cell_to_children("32028")


def test_adjacency_graph_links_cells_sharing_an_edge_not_a_corner(tiny: Grid) -> None:
    g = tiny.grid_to_graph(3)
    assert g.number_of_nodes() == 16
    # a 4 x 4 lattice has 2 * 4 * 3 = 24 edge-adjacencies; corner contacts do not count
    assert g.number_of_edges() == 24
    nw_of_nw, se_of_nw = "320281001001001", "320281001001004"
    assert not g.has_edge(nw_of_nw, se_of_nw)
    assert g.edges[nw_of_nw, "320281001001002"]["border_m"] == pytest.approx(
        0.125 * 111_000, rel=0.02
    )


def test_default_adjacency_graph_is_connected(jiangyin: Grid) -> None:
    import networkx as nx

    assert nx.is_connected(jiangyin.grid_to_graph(2))


# -- point location ------------------------------------------------------------------------------


def test_point_in_a_cell_interior_names_one_cell_per_tier(tiny: Grid) -> None:
    path = tiny.point_to_cell(120.3, 31.7)  # SE quadrant, NW sub-square of it
    assert path is not None
    assert (path.tier1, path.tier2, path.tier3) == ("320281001", "320281001004", "320281001004001")


def test_point_on_shared_border_goes_to_the_lowest_code(tiny: Grid) -> None:
    # the centre is a vertex of all four quadrants; quadrant 001 (NW) has the lowest code,
    # and within it the SE sub-square 004 is the only one touching the centre
    assert tiny.point_to_cell(120.25, 31.75).tier3 == "320281001001004"  # type: ignore[union-attr]
    # a point on the edge between NW sub-squares 001 and 002 goes to 001
    assert tiny.point_to_cell(120.125, 31.95).tier3 == "320281001001001"  # type: ignore[union-attr]


def test_point_on_the_outer_boundary_is_inside(tiny: Grid) -> None:
    assert tiny.point_to_cell(120.0, 31.8) is not None
    assert tiny.point_to_cell(120.5, 32.0) is not None


def test_point_outside_is_none_and_marked_in_arrays(tiny: Grid) -> None:
    assert tiny.point_to_cell(119.9, 31.8) is None
    df = tiny.points_to_cells([119.9, 120.3], [31.8, 31.7])
    assert list(df.columns) == ["tier1", "tier2", "tier3"]
    assert df.iloc[0].tolist() == [None, None, None]
    assert df.iloc[1].tolist() == ["320281001", "320281001004", "320281001004001"]


@pytest.mark.parametrize(
    ("lon", "lat", "needle"),
    [
        (float("nan"), 31.7, "nan"),
        (120.0, float("inf"), "inf"),
        (181.0, 31.7, "181"),
        (120.0, -91.0, "-91"),
        ("east", 31.7, "numbers"),
    ],
)
def test_bad_coordinates_get_a_clear_error(
    tiny: Grid, lon: object, lat: object, needle: str
) -> None:
    with pytest.raises(CoordinateError, match=needle):
        tiny.point_to_cell(lon, lat)  # type: ignore[arg-type]
    with pytest.raises(CoordinateError, match=needle):
        tiny.points_to_cells([120.1, lon], [31.7, lat])


def test_array_lengths_must_match(tiny: Grid) -> None:
    with pytest.raises(CoordinateError, match="lon has 2 values but lat has 1"):
        tiny.points_to_cells([120.1, 120.2], [31.7])


def test_gcj02_coordinate_is_converted_before_locating(jiangyin: Grid) -> None:
    lon, lat = 120.285, 31.905
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert jiangyin.point_to_cell(float(glon), float(glat), datum="gcj02") == (
        jiangyin.point_to_cell(lon, lat)
    )
    df = jiangyin.points_to_cells([glon], [glat], datum="GCJ-02")
    assert df.iloc[0].tolist() == list(jiangyin.point_to_cell(lon, lat))  # type: ignore[arg-type]


# -- exactness: the lookup raster agrees with the exact predicate everywhere --------------------


def _border_points(grid: Grid, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices, edge midpoints and points a few ulps off edges of the tier-3 cells."""
    rng = np.random.default_rng(seed)
    coords = shapely.get_coordinates(grid.tier(3).geometry.values)
    k = rng.integers(0, len(coords) - 1, n)
    t = rng.random(n)
    pts = coords[k] + (coords[k + 1] - coords[k]) * t[:, None]
    pts[: n // 3] = coords[k[: n // 3]]
    pts[n // 3 : 2 * n // 3] = np.nextafter(pts[n // 3 : 2 * n // 3], np.inf)
    return pts[:, 0], pts[:, 1]


def test_lookup_raster_equals_exact_predicate_on_default_grid(jiangyin: Grid) -> None:
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = jiangyin.cells.total_bounds
    lon = rng.uniform(x0 - 0.01, x1 + 0.01, 100_000)
    lat = rng.uniform(y0 - 0.01, y1 + 0.01, 100_000)
    bl, bt = _border_points(jiangyin, 30_000, seed=8)
    lon, lat = np.concatenate([lon, bl]), np.concatenate([lat, bt])
    fast = jiangyin.points_to_leaf_positions(lon, lat)
    exact = jiangyin.exact_leaf_positions(lon, lat)
    np.testing.assert_array_equal(fast, exact)


def test_points_a_hair_off_an_edge_get_the_exact_side(jiangyin: Grid) -> None:
    # the raster answers pixels crossed by one edge with an orientation test; points within
    # 1e-15..1e-7 degrees of an edge, on both sides, must agree with GEOS
    rng = np.random.default_rng(11)
    coords = shapely.get_coordinates(jiangyin.tier(3).geometry.values)
    k = rng.integers(0, len(coords) - 1, 40_000)
    a, b = coords[k], coords[k + 1]
    normal = np.column_stack([-(b - a)[:, 1], (b - a)[:, 0]])
    normal /= np.maximum(np.hypot(*normal.T), 1e-300)[:, None]
    offset = rng.choice([-1, 1], len(k)) * 10.0 ** rng.uniform(-15, -7, len(k))
    pts = a + (b - a) * rng.random(len(k))[:, None] + normal * offset[:, None]
    fast = jiangyin.points_to_leaf_positions(pts[:, 0], pts[:, 1])
    np.testing.assert_array_equal(fast, jiangyin.exact_leaf_positions(pts[:, 0], pts[:, 1]))


def test_single_point_path_equals_array_path(jiangyin: Grid) -> None:
    lon, lat = _border_points(jiangyin, 3000, seed=9)
    df = jiangyin.points_to_cells(lon, lat)
    for i in range(len(lon)):
        path = jiangyin.point_to_cell(float(lon[i]), float(lat[i]))
        assert (list(path) if path else [None] * 3) == df.iloc[i].tolist()


lons = st.floats(119.95, 120.65, allow_nan=False)
lats = st.floats(31.65, 32.03, allow_nan=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lon=lons, lat=lats)
def test_every_point_lands_in_exactly_the_lowest_covering_cell(
    jiangyin: Grid, lon: float, lat: float
) -> None:
    path = jiangyin.point_to_cell(lon, lat)
    pt = shapely.Point(lon, lat)
    tier3 = jiangyin.tier(3)
    covering = sorted(tier3.loc[tier3.geometry.intersects(pt), "code"])
    if not covering:
        assert path is None
        return
    assert path is not None
    assert path.tier3 == covering[0]
    assert path.tier2 == jiangyin.cell_to_parent(path.tier3)
    assert path.tier1 == jiangyin.cell_to_parent(path.tier2)
    assert jiangyin.cell(path.tier2).geometry.intersects(pt)
    assert jiangyin.cell(path.tier1).geometry.intersects(pt)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(0, 10_000),
    t=st.sampled_from([0.0, 0.25, 0.5, 1 / 3, 0.999999]),
)
def test_points_on_borders_go_to_one_cell_with_consistent_parents(
    jiangyin: Grid, k: int, t: float
) -> None:
    coords = shapely.get_coordinates(jiangyin.tier(3).geometry.values)
    k %= len(coords) - 1
    lon, lat = coords[k] + (coords[k + 1] - coords[k]) * t
    fast = jiangyin.points_to_leaf_positions([lon], [lat])
    assert fast[0] == jiangyin.exact_leaf_positions([lon], [lat])[0]
    path = jiangyin.point_to_cell(float(lon), float(lat))
    if path is not None:
        assert path.tier3.startswith(path.tier2)
        assert path.tier2.startswith(path.tier1)


@settings(max_examples=200, deadline=None)
@given(
    col=st.integers(0, 3),
    row=st.integers(0, 3),
    fx=st.floats(0.01, 0.99),
    fy=st.floats(0.01, 0.99),
)
def test_tiny_grid_answer_is_hand_checkable(
    tiny: Grid, col: int, row: int, fx: float, fy: float
) -> None:
    # sub-square (col, row) counted from the NW corner; quadrants and sub-squares in reading order
    path = tiny.point_to_cell(120.0 + (col + fx) * 0.125, 32.0 - (row + fy) * 0.125)
    quadrant = 1 + (row // 2) * 2 + col // 2
    sub = 1 + (row % 2) * 2 + col % 2
    assert path == ("320281001", f"320281001{quadrant:03d}", f"320281001{quadrant:03d}{sub:03d}")
