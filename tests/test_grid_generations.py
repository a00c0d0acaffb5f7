"""Comparing and adopting grid generations: diff, roster re-homing, open cases, activation."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely import box

from gridmgr import Grid
from gridmgr.cli import main
from gridmgr.datafiles import store_roster
from gridmgr.grid.diff import diff_grids
from gridmgr.grid.generations import current_grid_path, store_generation
from gridmgr.grid.io import default_grid_path, write_grid
from gridmgr.grid.territory import to_metric
from gridmgr.grid.validate import validated_grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.rehoming import rehome_roster
from gridmgr.services.regrid import open_cases_against
from gridmgr.settings import Settings
from gridmgr.shipped import shipped_data_dir
from gridmgr.store import Store, open_store
from gridmgr.store.casestore import CaseFilter
from gridmgr.testing import simulate_activity, tiny_cells, tiny_context, tiny_roster

STRIP = box(120.1, 31.875, 120.125, 32.0)  # moves from unit cell ...001001 to ...001002
RECODED = "320281001004004"  # the SE unit cell, coded ...004005 in the new grid
RENAMED = "320281001002001"
AT = datetime(2026, 10, 1, 12, tzinfo=TZ)


def border_moved() -> gpd.GeoDataFrame:
    """The tiny grid with the border of unit cells ...001001 and ...001002 moved west by STRIP.

    The cells below get the new corner as a vertex too: edges stay vertex-identical.
    """
    cells = tiny_cells()
    code = cells["code"]
    cells.loc[code == "320281001001001", "geometry"] = box(120.0, 31.875, 120.1, 32.0)
    cells.loc[code == "320281001001002", "geometry"] = shapely.Polygon(
        [(120.1, 31.875), (120.125, 31.875), (120.25, 31.875), (120.25, 32.0), (120.1, 32.0)]
    )
    cells.loc[code == "320281001001003", "geometry"] = shapely.Polygon(
        [(120.0, 31.75), (120.125, 31.75), (120.125, 31.875), (120.1, 31.875), (120.0, 31.875)]
    )
    return cells


def new_cells() -> gpd.GeoDataFrame:
    """The tiny grid with a border moved, a cell renamed and a cell re-coded (removed + added)."""
    cells = border_moved()
    code = cells["code"]
    cells.loc[code == RENAMED, "name"] = "新名字"
    cells.loc[code == RECODED, "code"] = "320281001004005"
    return cells


@pytest.fixture
def old() -> Grid:
    return validated_grid(tiny_cells(), name="tiny")


@pytest.fixture
def new() -> Grid:
    return validated_grid(new_cells(), name="tiny 2027")


def gridmgr(
    data_dir: Path, *args: str | Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    try:
        main(["--data-dir", str(data_dir), *map(str, args)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def shipped_digest() -> str:
    h = hashlib.sha256()
    for path in sorted((shipped_data_dir() / "jiangyin").iterdir()):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


# -- diff -------------------------------------------------------------------------------------


def test_diff_names_each_change_and_the_area_moved(old: Grid, new: Grid) -> None:
    diff = diff_grids(old, new)

    t1, t2, t3 = diff.tiers
    assert (t1.added, t1.removed, t1.reshaped, t1.renamed, t1.unchanged) == (0, 0, 0, 0, 1)
    assert (t2.added, t2.removed, t2.reshaped, t2.renamed, t2.unchanged) == (0, 0, 0, 0, 4)
    assert (t3.added, t3.removed, t3.renamed, t3.reshaped, t3.unchanged) == (1, 1, 1, 2, 12)
    assert t1.area_moved_m2 < 1
    assert t2.area_moved_m2 < 1
    recoded = old.tier(3).set_index("code").geometry[RECODED]
    expected = sum(
        to_metric(shapely.segmentize(g, 2e-3), new.meta.metric_crs).area for g in (STRIP, recoded)
    )
    assert t3.area_moved_m2 == pytest.approx(expected, rel=1e-3)
    assert t3.area_moved_pct == pytest.approx(100 * expected / t3.area_total_m2, rel=1e-3)
    changes = diff.changes.set_index("code")
    assert changes.at["320281001004005", "change"] == "added"
    assert changes.at[RECODED, "change"] == "removed"
    assert changes.at[RENAMED, "change"] == "renamed"
    assert changes.at[RENAMED, "new_name"] == "新名字"
    assert changes.at["320281001001001", "change"] == "reshaped"
    assert changes.at["320281001001001", "area_moved_pct"] == pytest.approx(20.0, rel=1e-2)


def test_a_grid_has_no_difference_with_itself(old: Grid) -> None:
    diff = diff_grids(old, old)
    assert diff.is_empty
    assert all(t.area_moved_m2 < 1 for t in diff.tiers)


def test_grid_diff_prints_the_summary_and_writes_a_geopackage_for_qgis(
    tmp_path: Path, old: Grid, new: Grid, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = write_grid(old, tmp_path / "old.gpkg"), write_grid(new, tmp_path / "new.gpkg")
    out = tmp_path / "diff.gpkg"

    code, stdout, err = gridmgr(tmp_path / "d", "grid", "diff", a, b, "--out", out, capsys=capsys)

    assert code == 0, stdout + err
    assert f"tier 3 {RECODED} removed" in stdout
    assert f"tier 3 {RENAMED} renamed:" in stdout
    assert "新名字" in stdout
    written = gpd.read_file(out, layer="changes")
    assert sorted(written["change"]) == ["added", "removed", "renamed", "reshaped", "reshaped"]


def test_grid_diff_refuses_to_write_into_the_package(
    tmp_path: Path, old: Grid, capsys: pytest.CaptureFixture[str]
) -> None:
    before = shipped_digest()
    a = write_grid(old, tmp_path / "old.gpkg")
    target = default_grid_path().with_name("diff.gpkg")
    code, _, err = gridmgr(tmp_path / "d", "grid", "diff", a, a, "--out", target, capsys=capsys)
    assert code == 2
    assert "never writes there" in err
    assert not target.exists()
    assert shipped_digest() == before


# -- re-homing --------------------------------------------------------------------------------


def test_posts_follow_their_cell_by_code_and_the_orphans_are_listed(new: Grid) -> None:
    rehoming = rehome_roster(tiny_roster(), new, at=AT)

    assert [p.place for p in rehoming.posts_without_cell] == [RECODED]
    assert rehoming.cells_without_post == ("320281001004005",)
    assert rehoming.units_without_town == ()
    assert rehoming.rehomed == 21 - 1  # 1 + 4 + 16 field posts, one orphaned
    assert rehoming.blocks_activation


def test_open_cases_keep_their_cell_and_those_the_new_grid_moves_are_flagged(
    store: Store, new: Grid
) -> None:
    simulate_activity(store, tiny_context(), end=AT, days=1, per_day=300)
    open_cases = store.cases(CaseFilter(open_only=True), limit=10_000)

    moved = {m.case_id: m for m in open_cases_against(store, new)}

    strip, gone = [], []
    for case in open_cases:
        if case.lon is None or case.lat is None:
            continue
        if case.cell == RECODED:
            gone.append(case.case_id)
        elif case.cell == "320281001001001" and STRIP.contains(shapely.Point(case.lon, case.lat)):
            strip.append(case.case_id)
    assert gone, "the simulation should leave open cases in the re-coded cell"
    assert sorted(moved) == sorted(gone + strip)
    assert all(moved[c].cell_gone and moved[c].new_cell == "320281001004005" for c in gone)
    assert all(not moved[c].cell_gone and moved[c].new_cell == "320281001001002" for c in strip)
    assert all(store.case(c).cell == RECODED for c in gone)  # nothing was rewritten


# -- import and activate ----------------------------------------------------------------------


@pytest.fixture
def tiny_dir(tmp_path: Path, old: Grid) -> Path:
    """A data folder: the tiny grid current, the tiny demo roster stored."""
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    store_generation(old, settings)
    store_roster(settings, tiny_roster(), old)
    return data_dir


def test_import_stores_a_generation_that_is_not_current_and_lists_the_orphans(
    tmp_path: Path, tiny_dir: Path, new: Grid, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_grid(new, tmp_path / "new.gpkg")
    before = current_grid_path(Settings(data_dir=tiny_dir))

    code, out, err = gridmgr(tiny_dir, "grid", "import", path, capsys=capsys)

    assert code == 0, out + err
    assert current_grid_path(Settings(data_dir=tiny_dir)) == before
    assert "posts left without a cell: 1" in out
    assert f"grid_worker:{RECODED}" in out
    assert "cells left without a post: 1" in out
    assert f"gridmgr grid activate {new.generation_id}" in out


def test_activate_is_refused_while_the_roster_names_a_cell_the_grid_lacks(
    tmp_path: Path, tiny_dir: Path, new: Grid, capsys: pytest.CaptureFixture[str]
) -> None:
    store_generation(new, Settings(data_dir=tiny_dir), make_current=False)
    before = current_grid_path(Settings(data_dir=tiny_dir))

    code, _, err = gridmgr(tiny_dir, "grid", "activate", new.generation_id, capsys=capsys)

    assert code == 1
    assert "was not activated" in err
    assert current_grid_path(Settings(data_dir=tiny_dir)) == before


def test_activate_switches_the_current_grid_in_one_ledger_event(
    tmp_path: Path, tiny_dir: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = validated_grid(border_moved(), name="tiny moved")  # every post keeps its cell
    settings = Settings(data_dir=tiny_dir)
    store_generation(moved, settings, make_current=False)
    assert gridmgr(tiny_dir, "db", "init", "--db", db_url, capsys=capsys)[0] == 0

    code, out, err = gridmgr(
        tiny_dir, "grid", "activate", moved.generation_id, "--db", db_url, capsys=capsys
    )

    assert code == 0, out + err
    assert current_grid_path(settings).stem == moved.generation_id
    assert "ledger: grid.current recorded" in out
    store = open_store(db_url)
    try:
        events = [e for e in store.ledger_events() if e.kind == "grid.current"]
        assert events[-1].actor == "cli:grid activate"
        assert json.loads(events[-1].payload)["generation_id"] == moved.generation_id
        assert store.stored_reference().generation_id == moved.generation_id
    finally:
        store.close()


def test_activate_default_goes_back_to_the_shipped_grid(
    tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = gridmgr(tiny_dir, "grid", "activate", "default", capsys=capsys)

    # the tiny grid's 21 codes all exist in Jiangyin's: every post keeps its cell
    assert code == 0, out + err
    assert "roster: 21 field post(s) keep their cell" in out
    assert "cells left without a post: 1824" in out
    assert "no database yet" in out
    assert current_grid_path(Settings(data_dir=tiny_dir)) == default_grid_path()
