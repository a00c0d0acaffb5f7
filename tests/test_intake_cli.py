"""``gridmgr intake``: import a hotline export twice, place its unlocated report, merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmgr import Grid
from gridmgr.grid.generations import store_generation
from gridmgr.settings import Settings
from gridmgr.store import open_store
from tests.test_cli import flat, run_main

EXPORT = """source_id,category,description,reported_at,lon,lat,address
H-1,street_vending,桥下占道,2026-05-06T08:10,120.0625,31.9375,
H-2,street_vending,桥下有人摆摊,2026-05-06T08:20,,,澄江街道人民路12号
"""


@pytest.fixture
def tiny_dir(tmp_path: Path, tiny: Grid) -> Path:
    data_dir = tmp_path / "data"
    store_generation(tiny, Settings(data_dir=data_dir))
    return data_dir


def test_import_place_and_merge_from_the_command_line(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "db.sqlite")
    open_store(f"sqlite:///{db}", create=True).close()
    export = tmp_path / "hotline.csv"
    export.write_text(EXPORT, encoding="utf-8")

    code, out, err = run_main(
        tiny_dir, "intake", "import", str(export), "--channel", "hotline", "--db", db, capsys=capsys
    )
    assert code == 0, err
    assert "2 case(s) created (1 in the unlocated queue), 0 already imported, 0 refused" in flat(
        out
    )
    code, out, _ = run_main(
        tiny_dir, "intake", "import", str(export), "--channel", "hotline", "--db", db, capsys=capsys
    )
    assert "0 case(s) created (0 in the unlocated queue), 2 already imported" in flat(out)

    code, out, _ = run_main(tiny_dir, "intake", "queue", "--db", db, capsys=capsys)
    assert "1 unlocated case(s)" in out
    unlocated = out.split("\n")[1].split()[0]
    code, out, err = run_main(
        tiny_dir,
        "intake",
        "place",
        unlocated,
        "--lon",
        "120.0626",
        "--lat",
        "31.9376",
        "--db",
        db,
        capsys=capsys,
    )
    assert code == 0, err
    assert "in 320281001001001" in out

    store = open_store(f"sqlite:///{db}")
    try:
        located = [c.case_id for c in store.cases() if c.case_id != unlocated]
    finally:
        store.close()
    code, out, err = run_main(
        tiny_dir,
        "intake",
        "merge",
        unlocated,
        located[0],
        "--comment",
        "同一摊贩",
        "--db",
        db,
        capsys=capsys,
    )
    assert code == 0, err
    code, out, err = run_main(
        tiny_dir, "intake", "unmerge", unlocated, "--comment", "x", "--db", db, capsys=capsys
    )
    assert code == 0, err
    assert f"split {unlocated} off {located[0]}" in out


def test_a_bad_export_is_refused_with_its_rows(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "db.sqlite")
    open_store(f"sqlite:///{db}", create=True).close()
    export = tmp_path / "hotline.csv"
    export.write_text(EXPORT + "H-3,nope,x,,,,somewhere\n", encoding="utf-8")

    code, _, err = run_main(
        tiny_dir, "intake", "import", str(export), "--channel", "hotline", "--db", db, capsys=capsys
    )
    assert code == 1
    assert "hotline.csv row 4 [category]" in flat(err)
    assert "nothing was imported" in flat(err)

    code, out, err = run_main(
        tiny_dir,
        "intake",
        "import",
        str(export),
        "--channel",
        "hotline",
        "--skip-bad",
        "--db",
        db,
        capsys=capsys,
    )
    assert code == 3
    assert "2 case(s) created" in flat(out)
    assert "row 4 [category]" in flat(err)
