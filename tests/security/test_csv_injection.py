"""Finding 5: spreadsheet formula injection. Every human-facing CSV export prefixes a text cell
that a spreadsheet would run (``= + - @``, TAB, CR) with ``'``; numbers stay numbers; a roster or
catalog exported and re-imported is unchanged; the byte-exact draw inputs refuse such text at
import instead."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask

from gridmgr.inspection.pool import PoolError, parse_pool
from gridmgr.inspection.registry import RegistryError, Target, parse_registry
from gridmgr.inspection.results import PUBLIC_COLUMNS, public_rows
from gridmgr.responsibility.catalog import catalog_to_rows
from gridmgr.responsibility.catalog_file import read_catalog, write_catalog
from gridmgr.responsibility.roster_files import read_roster, write_roster
from gridmgr.tablefiles import (
    neutralise_cell,
    neutralise_frame,
    parse_table,
    restore_cell,
    write_table,
)
from gridmgr.testing import assert_roster_equal
from tests.builders import tiny_roster
from tests.test_cli import flat, run_main
from tests.test_dashboard import callback, logged_in
from tests.test_dashboard_coverage import TOWN, app  # noqa: F401  (the module's app fixture)
from tests.test_inspection_cli import data_dir, run_ok  # noqa: F401  (fixture)

HYPERLINK = '=HYPERLINK("http://x","y")'


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


@pytest.mark.parametrize("text", [HYPERLINK, "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_every_formula_start_gets_a_quote_and_comes_back_on_import(text: str) -> None:
    assert neutralise_cell(text) == "'" + text
    assert restore_cell(str(neutralise_cell(text))) == text


@pytest.mark.parametrize("value", [-3.5, 7, "-3.5", "+12", "1e-3", "plain", "", None])
def test_numbers_and_plain_text_are_written_as_they_are(value: object) -> None:
    assert neutralise_cell(value) == value


def test_write_table_neutralises_text_and_keeps_numbers_bare(tmp_path: Path) -> None:
    path = write_table(tmp_path / "t.csv", ["name", "score"], [{"name": HYPERLINK, "score": -3.5}])
    assert rows_of(path) == [{"name": "'" + HYPERLINK, "score": "-3.5"}]


def test_results_publish_of_a_hostile_registry_name_starts_with_a_quote(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from gridmgr.inspection.draw import Visit
    from gridmgr.inspection.results import Finding

    target = Target("T1", HYPERLINK, 120.1, 31.9, "320281001001001", "@food", "A", ("scjg",))
    visit = Visit(1, "T1", ("scjg",), (("scjg", "食品安全"),), ("o1", "o2"))
    found = Finding(
        "d1", 1, "scjg", "食品安全", "issues", "", datetime(2026, 5, 1, 2, tzinfo=UTC), "o1"
    )
    rows = public_rows(
        draw_id="d1", plan_name="-plan", findings=[found], targets={"T1": target}, visits={1: visit}
    )
    row = rows_of(write_table(tmp_path / "public.csv", PUBLIC_COLUMNS, rows))[0]
    assert row["target_name"] == "'" + HYPERLINK
    assert (row["industry"], row["plan"], row["visit_no"]) == ("'@food", "'-plan", "1")


def test_cli_results_publish_neutralises_plan_and_item_names(
    data_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'gridmgr.sqlite'}"
    run_ok(data_dir, "db", "init", "--db", db)
    run_ok(data_dir, "inspect", "registry", "generate", "--n", "300", "--db", db)
    run_ok(data_dir, "inspect", "pool", "generate", "--db", db)
    plan = {
        "name": HYPERLINK,
        "period": {"start": "2026-04-01", "end": "2026-06-30"},
        "departments": {"scjg": ["@SUM(1)"]},
        "ratios": {"A": "0.5", "B": "0.5", "C": "0.5", "D": "0.5"},
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    out = run_ok(data_dir, "inspect", "plan", "create", str(plan_file), "--db", db)
    plan_id = re.search(r"plan (plan-[0-9a-f]{12}) created", out)
    assert plan_id
    seed_file = tmp_path / "seed.txt"
    out = run_ok(data_dir, "inspect", "draw", "commit", plan_id[1], "--seed-out", str(seed_file),
                 "--db", db, "--at", "2026-03-31 09:00")  # fmt: skip
    draw_id = re.search(r"draw (draw-[0-9a-f]{12}) committed", out)
    assert draw_id
    run_ok(data_dir, "inspect", "draw", "run", draw_id[1], "--seed-file", str(seed_file),
           "--db", db)  # fmt: skip
    folder = tmp_path / "published"
    run_ok(data_dir, "inspect", "draw", "export", draw_id[1], "--out", str(folder), "--db", db)
    body = json.loads((folder / "draw.json").read_text(encoding="utf-8"))
    visit = body["visits"][0]
    run_ok(data_dir, "inspect", "results", "record", draw_id[1], str(visit["visit_no"]),
           "--department", "scjg", "--item", "@SUM(1)", "--outcome", "issues",
           "--db", db, "--by", visit["officers"][0])  # fmt: skip
    out_csv = tmp_path / "public.csv"
    run_ok(data_dir, "inspect", "results", "publish", "--csv", str(out_csv), "--db", db)
    row = rows_of(out_csv)[0]
    assert row["plan"] == "'" + HYPERLINK
    assert row["item"] == "'@SUM(1)"


def test_a_hostile_registry_name_is_refused_at_import_with_its_row(
    data_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = f"sqlite:///{tmp_path / 'gridmgr.sqlite'}"
    run_ok(data_dir, "db", "init", "--db", db)
    bad = tmp_path / "registry.csv"
    bad.write_text(
        "target_id,name,lon,lat,risk,departments\n"
        "T1,甲,120.06,31.93,A,scjg\n"
        'T2,"=HYPERLINK(""http://x"",""y"")",120.06,31.93,A,scjg\n',
        encoding="utf-8",
    )
    code, _, err = run_main(data_dir, "inspect", "registry", "import", str(bad), "--db", db,
                            capsys=capsys)  # fmt: skip
    assert code == 1
    text = flat(err)
    assert "registry.csv row 3 [name]" in text
    assert "formula" in text


def test_registry_and_pool_parsers_refuse_formula_text_even_once_quoted() -> None:
    registry = (
        "target_id,name,lon,lat,cell,risk,departments\nT1,'@x,120.1,31.9,320281001001001,A,scjg\n"
    )
    with pytest.raises(RegistryError, match=r"row 2 \[name\]"):
        parse_registry(parse_table(registry, source="r.csv"))
    pool = "officer_id,name,department\no1,+cmd,scjg\n"
    with pytest.raises(PoolError, match=r"row 2 \[name\]"):
        parse_pool(parse_table(pool, source="p.csv"))


def test_draw_inputs_are_published_byte_for_byte(tmp_path: Path) -> None:
    from gridmgr.inspection.registry import Registry, read_registry, write_registry

    target = Target("T1", "甲", -0.5, 31.9, "320281001001001", "", "A", ("scjg",))
    path = write_registry(Registry([target]), tmp_path / "registry.csv")
    assert "T1,甲,-0.500000,31.900000" in path.read_text(encoding="utf-8-sig")
    assert read_registry(path).snapshot_hash == Registry([target]).snapshot_hash


def test_roster_export_and_import_round_trip_with_hostile_names(tmp_path: Path) -> None:
    first = tmp_path / "first"
    write_roster(tiny_roster(), first)
    persons = (first / "persons.csv").read_text(encoding="utf-8-sig").splitlines()
    header, row, *rest = persons
    cells = row.split(",")
    cells[1] = '"=HYPERLINK(""http://x"",""y"")"'
    (first / "persons.csv").write_text("\n".join([header, ",".join(cells), *rest]) + "\n", "utf-8")
    roster = read_roster(first)
    assert any(p.name == HYPERLINK for p in roster.persons.values())
    second = tmp_path / "second"
    write_roster(roster, second)
    names = [r["name"] for r in rows_of(second / "persons.csv")]
    assert "'" + HYPERLINK in names
    assert HYPERLINK not in names
    assert_roster_equal(read_roster(second), roster)


def test_catalog_export_and_import_round_trip_with_hostile_names(tmp_path: Path) -> None:
    shipped = read_catalog()
    first = write_catalog(shipped, tmp_path / "first.csv")
    rows = rows_of(first)
    rows[0]["name_zh"] = "@SUM(1)"
    with first.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    catalog = read_catalog(first)
    second = write_catalog(catalog, tmp_path / "second.csv")
    assert rows_of(second)[0]["name_zh"] == "'@SUM(1)"
    assert catalog_to_rows(read_catalog(second)) == catalog_to_rows(catalog)


def test_neutralise_frame_keeps_numeric_columns_numeric() -> None:
    frame = pd.DataFrame({"label": [HYPERLINK, "ok"], "eb_rate": [-3.5, 0.25]})
    out = neutralise_frame(frame)
    assert out["label"].tolist() == ["'" + HYPERLINK, "ok"]
    assert out["eb_rate"].tolist() == [-3.5, 0.25]
    assert out["eb_rate"].dtype == frame["eb_rate"].dtype


def test_the_dashboard_coverage_export_neutralises_names(
    app: Flask,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dashboards.pages import coverage as page

    real = page.reads.review_performance

    def hostile(*args: Any, **kwargs: Any) -> pd.DataFrame:
        table = real(*args, **kwargs).copy()
        table["label"] = table["label"].astype(object)
        table.loc[table.index[0], "label"] = HYPERLINK
        return table

    monkeypatch.setattr(page.reads, "review_performance", hostile)
    response = callback(
        logged_in(app, None),
        [("cov-download", "data")],
        [("cov-export", "n_clicks", 1)],
        [
            ("cov-days", "value", 7),
            ("cov-by", "value", "cell"),
            ("cov-town", "value", TOWN),
            ("cov-min", "value", 3),
        ],
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    content = response.get_json()["response"]["cov-download"]["data"]["content"]
    rows = list(csv.DictReader(io.StringIO(content.lstrip("\ufeff"))))
    assert rows[0]["label"] == "'" + HYPERLINK
    assert all(not r["eb_rate"].startswith("'") for r in rows)
