"""``gridmgr grid build`` for any county: counts, CRS zone, polygon towns, weights, lines."""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import LineString, box

from gridmgr.cli import main
from gridmgr.errors import GridError
from gridmgr.grid.barriers import lines_followed
from gridmgr.grid.generations import current_grid_path
from gridmgr.grid.inputs import fit_town_areas, read_lines, read_workload, workload_in
from gridmgr.grid.io import default_grid_path, read_grid, read_grid_source
from gridmgr.grid.territory import metric_crs_for
from gridmgr.grid.validate import validate_grid
from gridmgr.grid.workload import grid_workload
from gridmgr.settings import Settings
from gridmgr.shipped import shipped_data_dir

COUNTY = "990101"
NAMES = ("甲镇", "乙镇", "丙街道")


def write_county(folder: Path, lon0: float = 119.9) -> Path:
    """A 3-town synthetic county: three 0.06-degree boxes side by side at ``lon0``, 31 N."""
    folder.mkdir(parents=True, exist_ok=True)
    towns = [box(lon0 + 0.06 * i, 31.0, lon0 + 0.06 * (i + 1), 31.06) for i in range(3)]
    codes = [f"{COUNTY}{i + 1:03d}" for i in range(3)]
    gpd.GeoDataFrame(
        {"name": ["测试县"], "name_en": ["Test County"], "adcode": [COUNTY]},
        geometry=[shapely.union_all(towns)],
        crs=4326,
    ).to_file(folder / "boundary.geojson")
    attrs = {"code": codes, "name": list(NAMES), "kind": ["town", "town", "subdistrict"]}
    gpd.GeoDataFrame(attrs, geometry=towns, crs=4326).to_file(folder / "towns_poly.geojson")
    points = [shapely.Point(t.centroid.x, t.centroid.y) for t in towns]
    gpd.GeoDataFrame(attrs, geometry=points, crs=4326).to_file(folder / "towns_pts.geojson")
    rng = np.random.default_rng(1)
    hot = rng.normal([lon0 + 0.02, 31.02], 0.006, size=(600, 2))
    hot = np.clip(hot, [lon0 + 1e-4, 31.0 + 1e-4], [lon0 + 0.18 - 1e-4, 31.06 - 1e-4])
    cold = np.column_stack([rng.uniform(lon0, lon0 + 0.18, 200), rng.uniform(31.0, 31.06, 200)])
    pts = np.vstack([hot, cold])
    gpd.GeoDataFrame({"weight": np.ones(len(pts))}, geometry=shapely.points(pts), crs=4326).to_file(
        folder / "weights.geojson"
    )
    roads = [
        LineString([(lon0 - 0.01, 31.03), (lon0 + 0.19, 31.031)]),
        LineString([(lon0 + 0.09, 30.99), (lon0 + 0.095, 31.07)]),
    ]
    gpd.GeoDataFrame(geometry=roads, crs=4326).to_file(folder / "lines.geojson")
    return folder


def gridmgr(
    data_dir: Path, *args: str | Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run the console script in-process: (exit code, stdout, stderr)."""
    try:
        main(["--data-dir", str(data_dir), *map(str, args)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def build(
    tmp_path: Path,
    county: Path,
    capsys: pytest.CaptureFixture[str],
    *extra: str | Path,
    towns: str = "towns_poly.geojson",
    out: str = "grid.gpkg",
) -> Path:
    args = [
        "grid", "build", "--boundary", county / "boundary.geojson", "--towns", county / towns,
        "--counts", "3/12/48", *extra, "--out", tmp_path / out,
    ]  # fmt: skip
    code, stdout, stderr = gridmgr(tmp_path / "data", *args, capsys=capsys)
    assert code == 0, stdout + stderr
    return tmp_path / out


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return write_county(tmp_path / "county")


def shipped_digest() -> str:
    h = hashlib.sha256()
    for path in sorted((shipped_data_dir() / "jiangyin").iterdir()):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


# -- counts, coverage, determinism ------------------------------------------------------------


@pytest.mark.parametrize("towns", ["towns_pts.geojson", "towns_poly.geojson"])
def test_counts_are_respected_exactly_with_a_valid_coverage_at_every_tier(
    tmp_path: Path, county: Path, capsys: pytest.CaptureFixture[str], towns: str
) -> None:
    before = shipped_digest()
    grid = read_grid(build(tmp_path, county, capsys, towns=towns))

    assert grid.counts == {1: 3, 2: 12, 3: 48}
    outline = gpd.read_file(county / "boundary.geojson").geometry.iloc[0]
    assert validate_grid(grid.cells, territory=outline) == []
    for tier in (1, 2, 3):
        assert shapely.coverage_is_valid(grid.tier(tier).geometry.values)
    assert sorted(grid.tier(1)["name"]) == sorted(NAMES)
    assert all(code.startswith(COUNTY) for code in grid.cells["code"])
    assert shipped_digest() == before


def test_the_same_seed_builds_the_same_grid_and_another_seed_another(
    tmp_path: Path, county: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = build(tmp_path, county, capsys, "--seed", "7", towns="towns_pts.geojson", out="a.gpkg")
    b = build(tmp_path, county, capsys, "--seed", "7", towns="towns_pts.geojson", out="b.gpkg")
    c = build(tmp_path, county, capsys, "--seed", "8", towns="towns_pts.geojson", out="c.gpkg")

    checksum = {p: read_grid_source(p).meta["checksum"] for p in (a, b, c)}
    assert checksum[a] == checksum[b]
    assert checksum[a] != checksum[c]


# -- CRS --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon0", "expected"),
    [(103.9, "EPSG:4544"), (119.9, "EPSG:4549"), (87.5, "EPSG:4538")],
)
def test_crs_auto_picks_the_gauss_kruger_zone_of_the_centroid_and_records_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lon0: float, expected: str
) -> None:
    county = write_county(tmp_path / "c", lon0=lon0)
    path = build(tmp_path, county, capsys)

    assert read_grid_source(path).meta["metric_crs"] == expected
    assert read_grid(path).meta.metric_crs == expected


def test_the_zone_rule_takes_the_nearest_central_meridian() -> None:
    assert metric_crs_for(120.0) == "EPSG:4549"  # CM 120E
    assert metric_crs_for(121.4) == "EPSG:4549"
    assert metric_crs_for(121.6) == "EPSG:4550"  # CM 123E
    assert metric_crs_for(104.06) == "EPSG:4544"  # Chengdu, CM 105E
    assert metric_crs_for(75.99) == "EPSG:4534"  # Kashgar, CM 75E


def test_an_explicit_crs_is_used_and_a_geographic_one_refused(
    tmp_path: Path, county: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = build(tmp_path, county, capsys, "--crs", "EPSG:32650")
    assert read_grid_source(path).meta["metric_crs"] == "EPSG:32650"

    args = ["grid", "build", "--boundary", county / "boundary.geojson", "--counts", "3/12/48"]
    code, _, err = gridmgr(tmp_path / "d", *args, "--crs", "EPSG:4326", capsys=capsys)
    assert code == 1
    assert "not a projected CRS" in err


# -- towns as polygons ------------------------------------------------------------------------


def test_polygon_towns_are_the_tier1_cells_as_given(
    tmp_path: Path, county: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = read_grid(build(tmp_path, county, capsys))
    given = gpd.read_file(county / "towns_poly.geojson").set_index("code")

    for code, cell in grid.tier(1).set_index("code").iterrows():
        assert shapely.symmetric_difference(cell.geometry, given.at[code, "geometry"]).area < 1e-14
        assert cell["name"] == given.at[code, "name"]


def test_town_polygons_a_few_metres_off_are_fitted_and_a_missing_town_refused(
    tmp_path: Path, county: Path
) -> None:
    outline = gpd.read_file(county / "boundary.geojson").geometry.iloc[0]
    towns = list(gpd.read_file(county / "towns_poly.geojson").geometry)
    nudged = [shapely.affinity.translate(towns[0], xoff=5e-5), towns[1], towns[2]]  # ~5 m

    fitted, notes = fit_town_areas(outline, nudged, tolerance_m=25)

    assert shapely.coverage_is_valid(np.asarray(fitted, dtype=object))
    assert shapely.symmetric_difference(shapely.union_all(fitted), outline).area < 1e-14
    assert any("moved" in note for note in notes)
    with pytest.raises(GridError, match=r"no town covers .* km²"):
        fit_town_areas(outline, towns[:2], tolerance_m=25)


def test_a_town_count_other_than_tier1_is_a_clear_error(
    tmp_path: Path, county: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "grid", "build", "--boundary", county / "boundary.geojson", "--towns",
        county / "towns_pts.geojson", "--counts", "4/12/48", "--out", tmp_path / "x.gpkg",
    ]  # fmt: skip
    code, _, err = gridmgr(tmp_path / "data", *args, capsys=capsys)

    assert code == 1
    assert "3 towns given for 4 tier-1 cells" in err
    assert not (tmp_path / "x.gpkg").exists()


def test_a_boundary_in_pieces_is_refused_with_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pieces = shapely.union_all([box(119.9, 31.0, 120.0, 31.1), box(120.2, 31.0, 120.21, 31.01)])
    path = tmp_path / "islands.geojson"
    gpd.GeoDataFrame({"adcode": [COUNTY]}, geometry=[pieces], crs=4326).to_file(path)
    args = ["grid", "build", "--boundary", path, "--counts", "2/4/8", "--out", tmp_path / "x.gpkg"]

    code, _, err = gridmgr(tmp_path / "data", *args, capsys=capsys)

    assert code == 1
    assert "2 separate pieces" in err
    assert "lon 120.20500" in err
    assert not (tmp_path / "x.gpkg").exists()


@pytest.mark.parametrize("counts", ["3/2/48", "3/12", "a/b/c", "0/1/2"])
def test_malformed_counts_are_a_usage_error(
    tmp_path: Path, county: Path, capsys: pytest.CaptureFixture[str], counts: str
) -> None:
    args = ["grid", "build", "--boundary", county / "boundary.geojson", "--counts", counts]
    code, _, err = gridmgr(tmp_path / "data", *args, capsys=capsys)
    assert code == 2
    assert "A/B/C" in err


# -- workload and lines -----------------------------------------------------------------------


def test_weights_shrink_the_spread_of_workload_per_cell(
    tmp_path: Path, county: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = read_grid(build(tmp_path, county, capsys, out="plain.gpkg"))
    weights = county / "weights.geojson"
    weighted = read_grid(build(tmp_path, county, capsys, "--weights", weights, out="w.gpkg"))
    outline = shapely.union_all(plain.tier(1).geometry.values)
    workload = workload_in(outline, *read_workload(weights))

    cv_plain = grid_workload(plain, workload)["weight_cv"]
    cv_weighted = grid_workload(weighted, workload)["weight_cv"]

    assert cv_weighted[3] < 0.5 * cv_plain[3]
    assert cv_weighted[2] < cv_plain[2]
    assert weighted.meta.params["workload"]["points"] == 800


def test_weights_report_the_balance_reached(
    tmp_path: Path, county: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "grid", "build", "--boundary", county / "boundary.geojson", "--towns",
        county / "towns_poly.geojson", "--counts", "3/12/48", "--weights",
        county / "weights.geojson", "--out", tmp_path / "w.gpkg",
    ]  # fmt: skip
    code, out, _ = gridmgr(tmp_path / "data", *args, capsys=capsys)
    assert code == 0
    assert "workload per cell" in out


def test_cell_borders_follow_the_lines(
    tmp_path: Path, county: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roads = county / "lines.geojson"
    plain = read_grid(build(tmp_path, county, capsys, out="plain.gpkg"))
    along = read_grid(build(tmp_path, county, capsys, "--lines", roads, out="lines.gpkg"))
    lines = read_lines(roads, shapely.union_all(plain.tier(1).geometry.values))
    assert lines is not None

    share_plain, share_along = lines_followed(plain, lines), lines_followed(along, lines)

    assert share_along[2] > share_plain[2] + 0.2
    assert share_along[3] > share_plain[3] + 0.1
    assert along.counts == {1: 3, 2: 12, 3: 48}


# -- where the output goes --------------------------------------------------------------------


def test_the_build_refuses_to_write_into_the_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = shipped_digest()
    code, _, err = gridmgr(tmp_path, "grid", "build", "--out", default_grid_path(), capsys=capsys)

    assert code == 2
    assert "never writes there" in err
    assert shipped_digest() == before


def test_without_out_the_build_stores_a_generation_that_is_not_current(
    tmp_path: Path, county: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = shipped_digest()
    args = ["grid", "build", "--boundary", county / "boundary.geojson", "--counts", "2/4/8"]
    code, out, _ = gridmgr(tmp_path / "data", *args, capsys=capsys)

    assert code == 0, out
    stored = list((tmp_path / "data" / "grids").glob("*.gpkg"))
    assert len(stored) == 1
    assert read_grid(stored[0]).counts == {1: 2, 2: 4, 3: 8}
    assert current_grid_path(Settings(data_dir=tmp_path / "data")) == default_grid_path()
    assert f"gridmgr grid activate {stored[0].stem}" in out
    assert shipped_digest() == before


@pytest.mark.slow
def test_a_county_sized_build_with_weights_and_roads_is_valid() -> None:
    """Jiangyin at 17/271/1557 with 20,000 clustered workload points and 40 random roads."""
    from dataclasses import replace

    from gridmgr.grid.build import build_grid
    from gridmgr.grid.io import read_territory
    from gridmgr.grid.workload import Workload

    territory = read_territory()
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
    roads = shapely.multilinestrings(list(rng.uniform((x0, y0), (x1, y1), (40, 2, 2))))

    grid = build_grid(replace(territory, name="Jiangyin roads"), workload=workload, lines=roads)

    assert grid.counts == {1: 17, 2: 271, 3: 1557}
    assert validate_grid(grid.cells, territory=territory.polygon) == []
    assert lines_followed(grid, shapely.intersection(roads, territory.polygon))[3] > 0.1


# -- real counties far from Jiangyin ----------------------------------------------------------

COUNTIES = Path(__file__).parent / "data" / "counties"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("adcode", "counts", "crs"),
    [("650121", (6, 40, 240), "EPSG:4538"), ("620102", (4, 30, 150), "EPSG:4544")],
)
def test_a_real_county_far_from_120e_gets_a_valid_grid_and_answers_locations(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    adcode: str,
    counts: tuple[int, int, int],
    crs: str,
) -> None:
    boundary = COUNTIES / f"{adcode}.geojson"
    data = tmp_path / "data"
    args = ["grid", "build", "--boundary", boundary, "--counts", "/".join(map(str, counts))]
    code, out, err = gridmgr(data, *args, capsys=capsys)
    assert code == 0, out + err
    generation = next((data / "grids").glob("*.gpkg")).stem

    assert gridmgr(data, "grid", "activate", generation, capsys=capsys)[0] == 0
    code, out, err = gridmgr(data, "grid", "validate", capsys=capsys)
    assert code == 0, out + err
    grid = read_grid(data / "grids" / f"{generation}.gpkg")
    assert grid.counts == dict(zip((1, 2, 3), counts, strict=True))
    assert grid.meta.metric_crs == crs
    assert grid.meta.county_code == adcode
    outline = gpd.read_file(boundary).geometry.iloc[0]
    inside = shapely.get_coordinates(outline.representative_point())[0]
    code, out, err = gridmgr(data, "grid", "locate", *map(str, inside), "--json", capsys=capsys)
    assert code == 0, out + err
    assert f'"code": "{adcode}' in out
    code, _, _ = gridmgr(data, "grid", "locate", "120.28", "31.91", capsys=capsys)
    assert code == 3  # Jiangyin is outside this county
