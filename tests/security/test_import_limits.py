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

from gridmgr import Grid
from gridmgr.errors import TableFileError
from gridmgr.grid.generations import store_generation
from gridmgr.settings import Settings
from gridmgr.store import open_store
from gridmgr.tablefiles import read_table
from tests.test_cli import flat, run_main

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
