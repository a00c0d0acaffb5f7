"""The ``gridmgr`` command line: grid validate / locate / import / export / generations / build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from shapely import box

from gridmgr import Grid
from gridmgr.cli import cli, main
from gridmgr.grid.generations import store_generation
from gridmgr.grid.io import default_grid_path, read_grid, read_grid_source, write_grid
from gridmgr.grid.validate import validated_grid
from gridmgr.settings import Settings
from tests.builders import replace_geometry, tiny_cells

NW_SE = "320281001001004"  # tiny-grid unit cell [120.125, 120.25] x [31.75, 31.875]
IN_TINY = ("120.0625", "31.9375")  # the centre of tiny-grid cell 320281001001001
OUTSIDE = ("0", "0")


def invoke(data_dir: Path, *args: str) -> Result:
    """Run ``gridmgr --data-dir DATA_DIR ARGS`` in-process with click's runner."""
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], obj=None)


def run_main(
    data_dir: Path, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run the console-script entry point in-process: (exit code, stdout, stderr)."""
    try:
        main(["--data-dir", str(data_dir), *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def flat(text: str) -> str:
    """Text with rich's line wrapping undone."""
    return " ".join(text.split())


def stored_files(data_dir: Path) -> list[str]:
    grids = data_dir / "grids"
    return sorted(p.name for p in grids.iterdir()) if grids.is_dir() else []


def write_cells(cells: object, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cells.to_file(path, layer="cells")  # type: ignore[attr-defined]
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty gridmgr data folder: the shipped default grid is current."""
    return tmp_path / "data"


@pytest.fixture
def tiny_current(data_dir: Path, tiny: Grid) -> Path:
    """A data folder in which the tiny grid is the current generation."""
    store_generation(tiny, Settings(data_dir=data_dir))
    return data_dir


@pytest.fixture
def tiny_gpkg(tmp_path: Path, tiny: Grid) -> Path:
    return write_grid(tiny, tmp_path / "tiny.gpkg")


@pytest.fixture
def broken_gpkg(tmp_path: Path) -> Path:
    """The tiny grid with a 2 km hole in one unit cell: a gap no repair may close."""
    hole = box(120.15625, 31.78125, 120.21875, 31.84375)
    cells = replace_geometry(
        tiny_cells(), NW_SE, box(120.125, 31.75, 120.25, 31.875).difference(hole)
    )
    return write_cells(cells, tmp_path / "broken.gpkg")


@pytest.fixture
def slightly_broken_gpkg(tmp_path: Path) -> Path:
    """The tiny grid with one unit cell overlapping its east neighbour by ~0.19 m."""
    grown = box(120.125, 31.75, 120.25 + 2e-6, 31.875)
    return write_cells(replace_geometry(tiny_cells(), NW_SE, grown), tmp_path / "slightly.gpkg")


# -- validate ---------------------------------------------------------------------------------


def test_validate_default_grid_says_valid_with_its_cell_counts(data_dir: Path) -> None:
    result = invoke(data_dir, "grid", "validate")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "valid:" in text
    assert "17 tier-1, 271 tier-2, 1557 tier-3 cells" in text
    assert "no gap, no overlap, exact nesting" in text


def test_validate_broken_file_exits_1_with_the_report(
    data_dir: Path, broken_gpkg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(data_dir, "grid", "validate", str(broken_gpkg), capsys=capsys)
    assert code == 1
    assert "is not a valid grid" in err
    assert "1 x gap" in err
    assert "Traceback" not in err


# -- locate -----------------------------------------------------------------------------------


def test_locate_names_the_cell_at_each_tier(data_dir: Path, jiangyin: Grid) -> None:
    path = jiangyin.point_to_cell(120.285, 31.905)
    assert path is not None
    assert path.tier1 == "320281001"

    result = invoke(data_dir, "grid", "locate", "120.285", "31.905")

    assert result.exit_code == 0, result.output
    for code in path:
        assert code in result.output
    assert jiangyin.generation_id in flat(result.output)


def test_locate_json_parses_and_names_the_cells(data_dir: Path, jiangyin: Grid) -> None:
    result = invoke(data_dir, "grid", "locate", "120.285", "31.905", "--json")

    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["outside"] is False
    assert doc["generation_id"] == jiangyin.generation_id
    assert [c["code"] for c in doc["cells"]] == list(jiangyin.point_to_cell(120.285, 31.905) or [])
    assert [c["tier"] for c in doc["cells"]] == [1, 2, 3]
    assert doc["cells"][0]["name"] == jiangyin.cell("320281001")["name"]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_point_outside_the_grid_exits_3(tiny_current: Path, as_json: bool) -> None:
    result = invoke(tiny_current, "grid", "locate", *OUTSIDE, *(["--json"] if as_json else []))

    assert result.exit_code == 3
    if as_json:
        assert json.loads(result.output)["outside"] is True
    else:
        assert "outside the grid" in result.output


def test_nan_coordinate_is_a_one_line_error_without_traceback(
    tiny_current: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(tiny_current, "grid", "locate", "nan", "1", capsys=capsys)

    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: invalid coordinate lon=nan")
    assert "Traceback" not in err


def gridmgr_script() -> str:
    """The installed ``gridmgr`` console script next to this interpreter."""
    script = shutil.which("gridmgr", path=str(Path(sys.executable).parent))
    assert script is not None, "the gridmgr console script is not installed in this environment"
    return script


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("GRIDMGR_DATA_DIR", None)
    return subprocess.run(
        [gridmgr_script(), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_console_script_locates_a_point(tiny_current: Path) -> None:
    done = run_script("--data-dir", str(tiny_current), "grid", "locate", *IN_TINY, "--json")

    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [c["code"] for c in doc["cells"]] == [
        "320281001",
        "320281001001",
        "320281001001001",
    ]


def test_console_script_reports_bad_input_in_one_line_without_traceback(
    tiny_current: Path,
) -> None:
    done = run_script("--data-dir", str(tiny_current), "grid", "locate", "nan", "1")

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: invalid coordinate lon=nan, lat=1.0")
    assert "Traceback" not in done.stderr


# -- export, import, generations --------------------------------------------------------------


def test_exported_grid_validates(tiny_current: Path, tmp_path: Path, tiny: Grid) -> None:
    out = tmp_path / "out.gpkg"

    exported = invoke(tiny_current, "grid", "export", str(out))
    assert exported.exit_code == 0, exported.output
    validated = invoke(tiny_current, "grid", "validate", str(out))

    assert validated.exit_code == 0, validated.output
    assert "1 tier-1, 4 tier-2, 16 tier-3 cells" in flat(validated.output)
    assert read_grid(out).generation_id == tiny.generation_id


def test_import_of_a_broken_file_prints_the_report_and_stores_nothing(
    data_dir: Path, broken_gpkg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(data_dir, "grid", "import", str(broken_gpkg), capsys=capsys)

    assert code == 1
    assert "broken.gpkg is not a valid grid" in err
    for kind in ("gap", "parent_not_covered"):
        assert f"- {kind}:" in err
    assert "Traceback" not in err
    assert stored_files(data_dir) == []
    listed = invoke(data_dir, "grid", "generations").output.splitlines()
    assert [line.split()[:2] for line in listed] == [["*", "default"]]


def test_import_then_locate_uses_the_imported_grid(
    data_dir: Path, tiny_gpkg: Path, tiny: Grid
) -> None:
    imported = invoke(data_dir, "grid", "import", str(tiny_gpkg), "--activate")
    assert imported.exit_code == 0, imported.output
    assert tiny.generation_id in flat(imported.output)
    assert stored_files(data_dir) == ["CURRENT", f"{tiny.generation_id}.gpkg"]

    located = invoke(data_dir, "grid", "locate", *IN_TINY, "--json")

    assert located.exit_code == 0, located.output
    doc = json.loads(located.output)
    assert doc["generation_id"] == tiny.generation_id
    assert doc["cells"][2]["code"] == "320281001001001"


def test_import_repair_prints_the_changes_and_makes_the_grid_current(
    data_dir: Path, slightly_broken_gpkg: Path
) -> None:
    result = invoke(data_dir, "grid", "import", str(slightly_broken_gpkg), "--repair", "--activate")

    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "repair (tolerance 0.5 m)" in text
    assert re.search(rf"tier 3 {NW_SE}: boundary moved up to 0\.1\d\d m", text)
    match = re.search(r"imported generation (slightly-[0-9a-f]{12})", text)
    assert match is not None, text
    generation = match.group(1)
    listed = invoke(data_dir, "grid", "generations").output.splitlines()
    marked = [line.split()[1] for line in listed if line.startswith("*")]
    assert marked == [generation]
    assert any(line.split()[0] == "default" for line in listed)


def test_import_with_a_name_names_the_generation(data_dir: Path, tiny_gpkg: Path) -> None:
    result = invoke(data_dir, "grid", "import", str(tiny_gpkg), "--name", "Official 2026")
    assert result.exit_code == 0, result.output
    assert re.search(r"imported generation official-2026-[0-9a-f]{12}\b", flat(result.output))


def test_tolerance_without_repair_is_a_usage_error(data_dir: Path, tiny_gpkg: Path) -> None:
    result = invoke(data_dir, "grid", "import", str(tiny_gpkg), "--tolerance", "1")

    assert result.exit_code == 2
    assert "--tolerance only applies with --repair" in result.output
    assert stored_files(data_dir) == []


def test_import_repair_of_a_valid_file_keeps_its_generation(
    data_dir: Path, tiny_gpkg: Path, tiny: Grid
) -> None:
    result = invoke(data_dir, "grid", "import", str(tiny_gpkg), "--repair")

    assert result.exit_code == 0, result.output
    assert "0 cell(s) changed" in result.output
    assert stored_files(data_dir) == [f"{tiny.generation_id}.gpkg"]  # stored, not yet current


def test_non_positive_tolerance_is_a_clear_error(
    data_dir: Path, tiny_gpkg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("grid", "import", str(tiny_gpkg), "--repair", "--tolerance", "0")
    code, _, err = run_main(data_dir, *args, capsys=capsys)

    assert code in (1, 2)
    assert "internal error" not in err
    assert "tolerance" in err


def test_import_of_a_missing_file_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    result = invoke(data_dir, "grid", "import", str(tmp_path / "nowhere.gpkg"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


# -- build ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_build_reproduces_the_shipped_default_grid(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.gpkg"
    # the shipped generation was seeded before 长泾镇's point was corrected: seed it the same way
    territory = tmp_path / "jiangyin"
    shutil.copytree(default_grid_path().parent, territory)
    towns = json.loads((territory / "towns.json").read_text(encoding="utf-8"))
    for town in towns:
        if "shipped_grid_seed" in town:
            town["approx_lon"], town["approx_lat"] = town["shipped_grid_seed"]
    (territory / "towns.json").write_text(json.dumps(towns, ensure_ascii=False), encoding="utf-8")

    result = invoke(data_dir, "grid", "build", "--territory", str(territory), "--out", str(out))

    assert result.exit_code == 0, result.output
    shipped = read_grid_source(default_grid_path()).meta["checksum"]
    built = read_grid(out)
    assert built.meta.checksum == shipped
    assert built.counts == {1: 17, 2: 271, 3: 1557}
    assert f"checksum {shipped}" in result.output


def test_info_summarizes_the_grid_and_shows_one_cell(tmp_path: Path) -> None:
    runner = CliRunner()
    summary = runner.invoke(cli, ["--data-dir", str(tmp_path), "grid", "info"], obj=None)
    assert summary.exit_code == 0, summary.output
    assert "17 / 271 / 1557 cells" in flat(summary.output)
    assert "澄江街道" in summary.output
    one = runner.invoke(cli, ["--data-dir", str(tmp_path), "grid", "info", "320281001008"])
    assert one.exit_code == 0, one.output
    assert "320281001008003" in one.output  # a child
    assert "neighbours" in one.output


def test_names_with_markup_characters_are_printed_verbatim(tmp_path: Path) -> None:
    cells = tiny_cells()
    cells.loc[cells["tier"] == 1, "name"] = "[bold]not markup[/] [/x]"
    path = write_grid(validated_grid(cells, name="markup"), tmp_path / "m.gpkg")
    result = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path), "grid", "info", "320281001", "--grid", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "[bold]not markup[/] [/x]" in result.output
