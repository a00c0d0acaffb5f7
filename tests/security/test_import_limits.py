"""Findings 6 and 9: imports refuse what would exhaust the machine, in one clear line.

A grid cell of a million vertices is refused before validation, naming the cell and the limit;
an intake file that is an archive, holds a 40 MB field or nests JSON 200,000 deep is refused
with exit 1 (never the "internal error" of exit 70); the table files every other importer
reads (roster, catalog, registry, pool, patrol CSV) get the same protections."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import shapely
from shapely import box

from gridmgr import Grid
from gridmgr.errors import InvalidGridError, TableFileError
from gridmgr.grid.generations import store_generation
from gridmgr.grid.io import read_grid
from gridmgr.grid.validate import (
    MAX_CELL_VERTICES,
    MAX_TOTAL_VERTICES,
    ViolationKind,
    validate_grid,
)
from gridmgr.settings import Settings
from gridmgr.store import open_store
from gridmgr.tablefiles import read_table
from tests.builders import replace_geometry, tiny_cells
from tests.test_cli import NW_SE, flat, run_main, stored_files, write_cells

HEADER = "source_id,category,description\n"


@pytest.fixture
def tiny_dir(tmp_path: Path, tiny: Grid) -> Path:
    data_dir = tmp_path / "data"
    store_generation(tiny, Settings(data_dir=data_dir))
    return data_dir


def intake_import(
    tiny_dir: Path, path: Path, capsys: pytest.CaptureFixture[str], *options: str
) -> tuple[int, str]:
    db = str(path.parent / "db.sqlite")
    open_store(f"sqlite:///{db}", create=True).close()
    code, _, err = run_main(
        tiny_dir, "intake", "import", str(path), "--channel", "hotline", "--db", db, *options,
        capsys=capsys,
    )  # fmt: skip
    return code, err


def assert_one_line_refusal(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    assert "internal error" not in err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("reports.csv", HEADER + "H-1,street_vending,x\n")
    return buffer.getvalue()


# -- finding 9: intake files --------------------------------------------------------------------


def test_a_zip_renamed_csv_is_refused_in_one_line(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reports.csv"
    path.write_bytes(zip_bytes())
    code, err = intake_import(tiny_dir, path, capsys)
    assert_one_line_refusal(code, err, "reports.csv is a ZIP archive", "save it as CSV")


def test_a_file_with_nul_bytes_is_refused(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reports.json"
    path.write_bytes(b'[{"source_id": "\x00"}]')
    code, err = intake_import(tiny_dir, path, capsys)
    assert_one_line_refusal(code, err, "not a text file")


def test_a_40_mb_field_is_refused_with_its_row(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reports.csv"
    path.write_text(HEADER + "H-1,street_vending,ok\nH-2,street_vending," + "x" * 40_000_000 + "\n")
    code, err = intake_import(tiny_dir, path, capsys)
    assert_one_line_refusal(code, err, "reports.csv row 3", "not valid CSV", "field")


def test_json_nested_200000_deep_is_refused_with_its_line(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reports.json"
    path.write_text("[\n" + "[" * 200_000 + "]" * 200_000 + "\n]")
    code, err = intake_import(tiny_dir, path, capsys)
    assert_one_line_refusal(code, err, "reports.json line 2", "nested more than 64 levels")


def test_a_file_over_the_size_cap_is_refused_and_the_cap_can_be_raised(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reports.csv"
    path.write_text(HEADER + "".join(f"H-{i},street_vending,{'x' * 90}\n" for i in range(12_000)))
    code, err = intake_import(tiny_dir, path, capsys, "--max-size-mb", "1")
    assert_one_line_refusal(
        code, err, "reports.csv is 1.4 MB", "limited to 1.0 MB", "--max-size-mb"
    )
    code, err = intake_import(tiny_dir, path, capsys, "--max-size-mb", "2")
    assert "limited to" not in err
    assert "reports.csv row 2 [address]" in flat(err)  # read, then checked row by row


def test_the_default_intake_cap_is_50_mb(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reports.csv"
    with path.open("w") as out:
        out.write(HEADER)
        out.truncate(60_000_000)
    code, err = intake_import(tiny_dir, path, capsys)
    assert_one_line_refusal(code, err, "reports.csv is 60.0 MB", "limited to 50.0 MB")


# -- the other table files share the protections --------------------------------------------------


def test_every_table_importer_refuses_a_zip_and_a_huge_field(tmp_path: Path) -> None:
    archive = tmp_path / "persons.csv"
    archive.write_bytes(zip_bytes())
    with pytest.raises(TableFileError, match=r"persons\.csv is a ZIP archive"):
        read_table(archive)
    huge = tmp_path / "pool.csv"
    huge.write_text("officer_id,name,department\no1," + "x" * 200_000 + ",scjg\n")
    with pytest.raises(TableFileError, match=r"pool.csv row 2: not valid CSV"):
        read_table(huge)


def test_a_roster_import_of_a_zip_exits_1_in_one_line(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "roster"
    folder.mkdir()
    for name in ("persons.csv", "units.csv", "assignments.csv"):
        (folder / name).write_bytes(zip_bytes())
    code, _, err = run_main(tiny_dir, "roster", "check", str(folder), capsys=capsys)
    assert_one_line_refusal(code, err, "is a ZIP archive")


# -- finding 6: grid size -----------------------------------------------------------------------


def million_vertex_cells() -> object:
    """The tiny grid whose unit cell NW_SE has the same square outline in 1,000,001 vertices."""
    square = box(120.125, 31.75, 120.25, 31.875)
    dense = shapely.segmentize(square, max_segment_length=0.5 / 1_000_000)
    assert shapely.get_num_coordinates(dense) > 1_000_000
    return replace_geometry(tiny_cells(), NW_SE, dense)


def test_the_default_limits_are_far_above_the_real_jiangyin_grid() -> None:
    jiangyin = read_grid()
    counts = shapely.get_num_coordinates(jiangyin.cells.geometry.values)
    assert counts.max() * 20 < MAX_CELL_VERTICES  # 358 in its largest town
    assert counts.sum() * 50 < MAX_TOTAL_VERTICES  # 20,091 in all


def test_a_cell_of_a_million_vertices_is_refused_before_validation_with_its_code() -> None:
    violations = validate_grid(million_vertex_cells())  # type: ignore[arg-type]
    assert [v.kind for v in violations] == [ViolationKind.TOO_MANY_VERTICES]
    text = str(violations[0])
    assert f"[{NW_SE}]" in text
    assert "1,000,00" in text
    assert "at most 20,000" in text
    assert "simplify it in QGIS" in text
    assert "lon 120.187500, lat 31.812500" in text


def test_the_total_vertex_limit_and_both_limits_can_be_set(tiny: Grid) -> None:
    assert validate_grid(tiny.cells) == []
    per_cell = validate_grid(tiny.cells, max_cell_vertices=4)
    assert per_cell
    assert all(v.kind is ViolationKind.TOO_MANY_VERTICES for v in per_cell)
    (total,) = validate_grid(tiny.cells, max_total_vertices=10)
    assert "vertices in all; at most 10 are allowed" in str(total)
    assert not total.codes


def test_grid_import_of_a_million_vertex_cell_exits_1_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    path = write_cells(million_vertex_cells(), tmp_path / "dense.gpkg")
    code, _, err = run_main(data_dir, "grid", "import", str(path), "--repair", capsys=capsys)
    assert code == 1
    text = flat(err)
    assert "dense.gpkg is too large to import" in text
    assert f"too_many_vertices: tier 3 [{NW_SE}]" in text
    assert "--max-cell-vertices" in text
    assert "repair" not in text.split("too large")[0]  # refused before the repair ran
    assert stored_files(data_dir) == []


def test_grid_validate_takes_the_limits_as_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    path = write_cells(tiny_cells(), tmp_path / "tiny.gpkg")
    code, _, err = run_main(data_dir, "grid", "validate", str(path), capsys=capsys)
    assert code == 0, err
    code, _, err = run_main(
        data_dir, "grid", "validate", str(path), "--max-total-vertices", "10", capsys=capsys
    )
    assert code == 1
    assert "at most 10 are allowed" in flat(err)
    with pytest.raises(InvalidGridError, match="too_many_vertices"):
        read_grid(path, max_cell_vertices=4)
