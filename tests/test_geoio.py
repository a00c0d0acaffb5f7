"""Grid files: GeoPackage and GeoJSON round trips, import layouts, CRS handling, refusals."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import cast

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from gridmgr import Grid, GridFileError, GridMgrError, InvalidGridError
from gridmgr.grid.io import META_LAYER, read_grid, read_grid_source, write_grid
from gridmgr.grid.model import grid_checksum
from gridmgr.grid.validate import Violation, validate_grid
from gridmgr.testing import assert_grid_equal
from tests.builders import tiny_cells

SUFFIXES = pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])


def coordinates_by_code(cells: gpd.GeoDataFrame) -> np.ndarray:
    """Every vertex of every cell, cells in code order, rings normalized."""
    ordered = cells.sort_values("code", kind="stable")
    coords: np.ndarray = shapely.get_coordinates(shapely.normalize(ordered.geometry.to_numpy()))
    return coords


def assert_same_grid(read: Grid, original: Grid) -> None:
    assert_grid_equal(read, original, check_valid=True)


def write_quietly(frame: gpd.GeoDataFrame, path: Path, **kwargs: object) -> None:
    """``frame.to_file`` without GDAL's notes on truncated Shapefile columns or a missing CRS."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame.to_file(path, **kwargs)


# -- round trips ------------------------------------------------------------------------------


@SUFFIXES
def test_tiny_grid_round_trips_with_its_checksum(tmp_path: Path, tiny: Grid, suffix: str) -> None:
    path = write_grid(tiny, tmp_path / f"tiny{suffix}")
    assert_same_grid(read_grid(path), tiny)


@SUFFIXES
def test_default_grid_round_trips_with_its_checksum(
    tmp_path: Path, jiangyin: Grid, suffix: str
) -> None:
    path = write_grid(jiangyin, tmp_path / f"jiangyin{suffix}")
    assert_same_grid(read_grid(path), jiangyin)


def test_geopackage_keeps_the_generation_and_geojson_keeps_the_content(
    tmp_path: Path, tiny: Grid
) -> None:
    from_gpkg = read_grid(write_grid(tiny, tmp_path / "a.gpkg"))
    from_geojson = read_grid(write_grid(tiny, tmp_path / "b.geojson"))
    assert from_gpkg.generation_id == tiny.generation_id
    # GeoJSON carries no metadata table: same content, a generation named after the file
    assert from_geojson.meta.checksum == tiny.meta.checksum
    assert from_geojson.generation_id == f"b-{tiny.meta.checksum[:12]}"


def test_geopackage_has_one_layer_per_tier_and_a_metadata_table(tmp_path: Path, tiny: Grid) -> None:
    path = write_grid(tiny, tmp_path / "tiny.gpkg")

    layers = {str(name): geom for name, geom in pyogrio.list_layers(path)}
    assert set(layers) == {"tier1", "tier2", "tier3", META_LAYER}
    for layer in ("tier1", "tier2", "tier3"):
        info = pyogrio.read_info(path, layer=layer)
        assert {"code", "parent_code", "name"} <= set(info["fields"])
        assert info["crs"] == "EPSG:4326"
        assert layers[layer] == "Polygon"
    assert pyogrio.read_info(path, layer="tier3")["features"] == 16

    table = pyogrio.read_dataframe(path, layer=META_LAYER, read_geometry=False)
    meta = dict(zip(table["key"], table["value"], strict=True))
    assert meta["generation_id"] == tiny.generation_id
    assert meta["checksum"] == tiny.meta.checksum
    assert (meta["count_tier1"], meta["count_tier2"], meta["count_tier3"]) == ("1", "4", "16")
    assert meta["metric_crs"] == "EPSG:4549"
    assert json.loads(meta["params"]) == dict(tiny.meta.params)


def test_geojson_is_one_rfc7946_collection_with_a_tier_property(tmp_path: Path, tiny: Grid) -> None:
    path = write_grid(tiny, tmp_path / "tiny.geojson")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == 21
    assert {f["properties"]["tier"] for f in doc["features"]} == {1, 2, 3}
    assert "crs" not in doc  # RFC 7946: always WGS84, never declared


def test_export_overwrites_an_existing_file(tmp_path: Path, tiny: Grid) -> None:
    path = tmp_path / "tiny.gpkg"
    path.write_text("not a geopackage")
    write_grid(tiny, path)
    assert_same_grid(read_grid(path), tiny)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gpkg"]


# -- import layouts ---------------------------------------------------------------------------


def test_single_layer_with_a_tier_column_is_read(tmp_path: Path, tiny: Grid) -> None:
    path = tmp_path / "cells.gpkg"
    write_quietly(tiny_cells(), path, layer="cells")
    assert_same_grid(read_grid(path), tiny)


def test_folder_of_tier_shapefiles_is_read_despite_the_truncated_parent_column(
    tmp_path: Path, tiny: Grid
) -> None:
    cells = tiny_cells()
    for tier in (1, 2, 3):
        write_quietly(
            cells[cells["tier"] == tier].drop(columns="tier"), tmp_path / f"tier{tier}.shp"
        )
    assert "parent_cod" in pyogrio.read_info(tmp_path / "tier3.shp")["fields"]

    assert_same_grid(read_grid(tmp_path), tiny)


def test_folder_missing_a_tier_is_refused_naming_it(tmp_path: Path) -> None:
    cells = tiny_cells()
    for tier in (1, 2):
        write_quietly(cells[cells["tier"] == tier], tmp_path / f"tier{tier}.geojson")
    with pytest.raises(GridFileError, match="tier3"):
        read_grid(tmp_path)


def test_integer_codes_in_geojson_are_read_as_strings(tmp_path: Path, tiny: Grid) -> None:
    doc = json.loads(tiny_cells().to_json())
    for feature in doc["features"]:
        props = feature["properties"]
        props["code"], props["parent_code"] = int(props["code"]), int(props["parent_code"])
    path = tmp_path / "spreadsheet.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert pyogrio.read_info(path)["dtypes"][1] == "int64"  # the file really holds integers

    source = read_grid_source(path)
    assert all(isinstance(c, str) for c in source.cells["code"])
    assert all(isinstance(c, str) for c in source.cells["parent_code"])
    assert_same_grid(read_grid(path), tiny)


# -- CRS --------------------------------------------------------------------------------------


def test_layer_in_a_metric_crs_is_reprojected_to_wgs84(tmp_path: Path) -> None:
    cells = tiny_cells()
    path = tmp_path / "metric.gpkg"
    write_quietly(cells.to_crs("EPSG:4549"), path, layer="cells")

    source = read_grid_source(path)

    assert source.crs_problems == []
    assert source.cells.crs.equals("EPSG:4326")
    got, want = coordinates_by_code(source.cells), coordinates_by_code(cells)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-9
    assert validate_grid(source.cells) == []
    assert read_grid(path).counts == {1: 1, 2: 4, 3: 16}


def test_default_grid_stays_valid_through_a_metric_crs(tmp_path: Path, jiangyin: Grid) -> None:
    path = tmp_path / "metric.gpkg"
    write_quietly(jiangyin.cells.to_crs("EPSG:4549"), path, layer="cells")

    source = read_grid_source(path)

    assert (
        np.abs(coordinates_by_code(source.cells) - coordinates_by_code(jiangyin.cells)).max() < 1e-9
    )
    assert validate_grid(source.cells) == []


def test_layer_without_crs_is_refused_with_a_hint_to_pass_crs(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.gpkg"
    write_quietly(tiny_cells().set_crs(None, allow_override=True), path, layer="cells")

    with pytest.raises(InvalidGridError, match="--crs") as caught:
        read_grid(path)
    violations = cast("list[Violation]", caught.value.violations)
    assert [v.kind.value for v in violations] == ["crs"]


def test_layer_without_crs_is_accepted_when_its_crs_is_declared(tmp_path: Path, tiny: Grid) -> None:
    degrees, metres = tmp_path / "degrees.gpkg", tmp_path / "metres.gpkg"
    write_quietly(tiny_cells().set_crs(None, allow_override=True), degrees, layer="cells")
    metric = tiny_cells().to_crs("EPSG:4549").set_crs(None, allow_override=True)
    write_quietly(metric, metres, layer="cells")

    assert_same_grid(read_grid(degrees, crs="EPSG:4326"), tiny)
    from_metres = read_grid(metres, crs="EPSG:4549")
    assert (
        np.abs(coordinates_by_code(from_metres.cells) - coordinates_by_code(tiny.cells)).max()
        < 1e-9
    )


def test_declared_crs_that_contradicts_the_file_is_refused(tmp_path: Path, tiny: Grid) -> None:
    path = write_grid(tiny, tmp_path / "tiny.gpkg")
    with pytest.raises(InvalidGridError, match="declares EPSG:4326 but --crs says EPSG:4549"):
        read_grid(path, crs="EPSG:4549")


def test_unknown_declared_crs_is_a_gridmgr_error(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.gpkg"
    write_quietly(tiny_cells().set_crs(None, allow_override=True), path, layer="cells")
    with pytest.raises(GridMgrError, match="nonsense"):
        read_grid_source(path, crs="nonsense")


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["code", "parent_code", "tier"])
def test_missing_column_is_refused_naming_it(tmp_path: Path, column: str) -> None:
    path = tmp_path / "cells.gpkg"
    write_quietly(tiny_cells().drop(columns=column), path, layer="cells")
    with pytest.raises(GridFileError, match=rf"lacks column\(s\) {column}\b"):
        read_grid(path)


def test_nonexistent_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GridFileError, match="does not exist") as caught:
        read_grid(tmp_path / "nowhere.gpkg")
    assert isinstance(caught.value, OSError)


def test_file_that_is_not_a_vector_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "grid.gpkg"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(GridFileError, match="cannot open"):
        read_grid(path)


def test_export_to_an_unknown_suffix_is_refused(tmp_path: Path, tiny: Grid) -> None:
    with pytest.raises(GridFileError, match=r"\.gpkg"):
        write_grid(tiny, tmp_path / "grid.txt")
    assert list(tmp_path.iterdir()) == []


def test_checksum_ignores_ring_orientation_and_start_vertex() -> None:
    cells = tiny_cells()
    turned = cells.set_geometry(shapely.reverse(cells.geometry.to_numpy()))
    assert grid_checksum(turned) == grid_checksum(cells)
