"""The ``gridmgr roster``, ``catalog`` and ``route`` commands, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridmgr import Grid
from gridmgr.grid.generations import store_generation
from gridmgr.settings import Settings
from gridmgr.tablefiles import read_table, write_table
from tests.test_cli import invoke, run_main

IN_TINY = ("--lon", "120.0625", "--lat", "31.9375")


@pytest.fixture
def tiny_dir(tmp_path: Path, tiny: Grid) -> Path:
    """A data folder whose current grid is the tiny grid (and with no roster yet)."""
    data_dir = tmp_path / "data"
    store_generation(tiny, Settings(data_dir=data_dir))
    return data_dir


def test_route_makes_the_demo_roster_on_first_use_and_names_the_whole_chain(
    tiny_dir: Path,
) -> None:
    result = invoke(
        tiny_dir, "route", *IN_TINY, "--category", "占道经营", "--at", "2026-10-01 14:05", "--json"
    )

    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert (tiny_dir / "roster" / "assignments.csv").exists()
    assert decision["cell_path"]["tier3"] == "320281001001001"
    assert [link["post"].split(":")[0] for link in decision["chain"]] == [
        "grid_worker",
        "grid_head",
        "town_leader",
        "operator",
    ]
    assert all(link["person"] for link in decision["chain"])
    assert decision["deadlines"][0] == {
        "stage": "sign",
        "due": "2026-10-08T10:30:00+08:00",
        "span": "2h",
        "clock": "working",
    }
    assert any("国庆节" in reason for reason in decision["reasons"])


def test_route_outside_the_territory_reports_the_out_of_grid_queue(tiny_dir: Path) -> None:
    result = invoke(tiny_dir, "route", "--lon", "121", "--lat", "31.7", "--category", "gas_leak")

    assert result.exit_code == 0, result.output
    assert "OUT OF GRID" in result.output
    assert "指挥中心" in result.output


def test_route_refuses_unclear_input_with_a_message(
    tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(tiny_dir, "route", "--lon", "120.1", "--category", "x", capsys=capsys)
    assert code == 2
    assert "--lat" in err

    code, _, err = run_main(
        tiny_dir, "route", *IN_TINY, "--category", "street_vendin", capsys=capsys
    )
    assert code == 1
    assert "did you mean street_vending" in err
    assert "Traceback" not in err

    code, _, err = run_main(
        tiny_dir, "route", *IN_TINY, "--category", "gas_leak", "--at", "yesterday", capsys=capsys
    )
    assert code == 2
    assert "cannot read 'yesterday' as a time" in err


def test_roster_export_edit_import_round_trip_changes_the_owner(
    tiny_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "exported"
    assert invoke(tiny_dir, "roster", "export", str(folder)).exit_code == 0
    table = read_table(folder / "assignments.csv")
    rows = [dict(r) for r in table.rows]
    cell = "320281001001001"
    worker = next(r for r in rows if r["place"] == cell and r["role"] == "primary")
    newcomer = next(r for r in rows if r["place"] == "320281001004004" and r["role"] == "primary")
    # hand the cell over on 2026-06-01 to the worker of the next cell (capacity 2 allows it)
    worker["valid_to"] = "2026-06-01"
    rows.append(
        {**worker, "person_id": newcomer["person_id"], "valid_from": "2026-06-01", "valid_to": ""}
    )
    write_table(folder / "assignments.csv", table.columns, rows)

    imported = invoke(tiny_dir, "roster", "import", str(folder))
    assert imported.exit_code == 0, imported.output

    before = invoke(
        tiny_dir,
        "route",
        "--cell",
        cell,
        "--category",
        "gas_leak",
        "--at",
        "2026-05-31 10:00",
        "--json",
    )
    after = invoke(
        tiny_dir,
        "route",
        "--cell",
        cell,
        "--category",
        "gas_leak",
        "--at",
        "2026-06-01 10:00",
        "--json",
    )
    assert json.loads(before.output)["responsible"]["person"]["person_id"] == worker["person_id"]
    assert json.loads(after.output)["responsible"]["person"]["person_id"] == newcomer["person_id"]


def test_roster_import_refuses_a_broken_roster_listing_every_problem_and_keeps_the_old_one(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "broken"
    assert invoke(tiny_dir, "roster", "export", str(folder)).exit_code == 0
    kept = (tiny_dir / "roster" / "assignments.csv").read_bytes()
    table = read_table(folder / "assignments.csv")
    rows = [dict(r) for r in table.rows]
    first = next(i for i, r in enumerate(rows) if r["post"] == "grid_worker")
    rows[first]["place"] = "320281001009009"  # no such cell
    rows[first + 1]["person_id"] = "P99999"  # nobody
    rows[first + 2]["valid_from"] = "2026-13-01"  # no such date
    line = first + 2  # spreadsheet rows: the header is row 1
    write_table(folder / "assignments.csv", table.columns, rows)

    code, _, err = run_main(tiny_dir, "roster", "import", str(folder), capsys=capsys)

    assert code == 1
    assert "3 problem(s)" in err
    assert f"assignments.csv row {line} [place]: unknown cell 320281001009009" in err
    assert f"assignments.csv row {line + 1} [person_id]: unknown person 'P99999'" in err
    assert f"assignments.csv row {line + 2} [valid_from]" in err
    assert (tiny_dir / "roster" / "assignments.csv").read_bytes() == kept


def test_roster_check_lists_a_vacancy_and_strict_mode_fails_on_it(
    tiny_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "gap"
    assert invoke(tiny_dir, "roster", "export", str(folder)).exit_code == 0
    table = read_table(folder / "assignments.csv")
    rows = [
        dict(r)
        for r in table.rows
        if not (r["place"] == "320281001001001" and r["role"] == "primary")
    ]
    write_table(folder / "assignments.csv", table.columns, rows)

    result = invoke(tiny_dir, "roster", "check", str(folder), "--at", "2026-05-01", "--strict")
    as_json = invoke(tiny_dir, "roster", "check", str(folder), "--at", "2026-05-01", "--json")

    assert result.exit_code == 2
    assert "tier 3: 15/16" in result.output
    assert "vacancy: grid_worker:320281001001001" in result.output
    findings = json.loads(as_json.output)["findings"]
    assert [f["subject"] for f in findings if f["kind"] == "vacancy"] == [
        "grid_worker:320281001001001"
    ]


def test_roster_generate_refuses_to_overwrite_without_force(tiny_dir: Path) -> None:
    assert invoke(tiny_dir, "roster", "generate").exit_code == 0
    again = invoke(tiny_dir, "roster", "generate")
    forced = invoke(tiny_dir, "roster", "generate", "--seed", "7", "--force")

    assert again.exit_code == 2
    assert "--force" in again.output
    assert forced.exit_code == 0


def test_catalog_import_replaces_the_shipped_catalog_and_a_bad_one_is_refused(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = tmp_path / "catalog.csv"
    assert invoke(tiny_dir, "catalog", "export", str(exported)).exit_code == 0
    table = read_table(exported)
    rows = [dict(r) for r in table.rows]
    rows[0]["sign_within"] = "30m"
    write_table(exported, table.columns, rows)
    assert invoke(tiny_dir, "catalog", "import", str(exported)).exit_code == 0
    routed = invoke(
        tiny_dir,
        "route",
        "--cell",
        "320281001001001",
        "--category",
        rows[0]["code"],
        "--at",
        "2026-05-06 09:00",
        "--json",
    )
    assert json.loads(routed.output)["deadlines"][0]["due"] == "2026-05-06T09:30:00+08:00"

    rows[1]["handler"] = "dept:"
    rows[2]["priority"] = "asap"
    write_table(exported, table.columns, rows)
    code, _, err = run_main(tiny_dir, "catalog", "check", str(exported), capsys=capsys)
    assert code == 1
    assert "row 3 [handler]" in err
    assert "row 4 [priority]" in err


@pytest.mark.parametrize("command", ["roster", "catalog", "route"])
def test_every_command_explains_itself(tiny_dir: Path, command: str) -> None:
    result = invoke(tiny_dir, command, "--help")

    assert result.exit_code == 0
    assert len(result.output.splitlines()) > 5
