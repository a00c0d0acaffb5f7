"""The coverage review page over HTTP: the fair ranking (table, map, CSV), the minimum-sample
control, vacancies, a town's patrol coverage, and the role check in every callback — on two
simulated days of the tiny grid (one SQLite database for the module; the page only reads)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from dashboards.reads import coverage as reads
from gridmgr import Grid, analytics
from gridmgr.access import Caller
from gridmgr.cases import Actor, Role
from gridmgr.store import open_store
from tests.builders import close_app, tiny_context
from tests.test_analytics import simulate
from tests.test_dashboard import (
    board_of,
    callback,
    dashboard_app,
    logged_in,
    render,
    texts,
)
from tests.test_sessions import FIXED, OWN_CELL, Clock

TOWN = "320281001"
UPDATE_OUTPUTS = [
    ("cov-table", "children"),
    ("cov-map-box", "children"),
    ("cov-map-box", "style"),
    ("cov-summary", "children"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, tiny: Grid) -> Iterator[Flask]:
    """The app over two simulated days ending at FIXED (a module-wide, read-only database)."""
    folder = tmp_path_factory.mktemp("coverage")
    store = open_store(f"sqlite:///{folder / 'gridmgr.sqlite'}", create=True)
    simulate(store, tiny_context(), end=FIXED, days=2.0, per_day=120, seed=9)
    built = dashboard_app(store, tiny, folder, Clock(FIXED), logins=(None, OWN_CELL))
    yield built
    close_app(built)
    store.close()


def update(client: Any, *, by: str = "cell", min_cases: Any = 3, view: str = "table") -> Any:
    response = callback(
        client,
        UPDATE_OUTPUTS,
        [
            ("cov-days", "value", 7),
            ("cov-by", "value", by),
            ("cov-town", "value", None),
            ("cov-min", "value", min_cases),
            ("cov-view", "value", view),
        ],
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"]


def table_rows(answer: Any) -> list[list[str]]:
    """The ranking table's body rows, as cell texts (a Markdown table: header, rule, rows)."""
    table = answer["cov-table"]["children"][0]
    assert table["type"] == "Markdown"
    assert table["props"]["id"] == "cov-ranking"
    assert not table["props"].get("dangerously_allow_html")
    lines = table["props"]["children"].splitlines()
    assert re.fullmatch(r"\|(---\|)+", lines[1])
    return [
        [re.sub(r"\\(.)", r"\1", cell).strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        for line in lines[2:]
    ]


def expected(app: Flask, by: str, min_cases: int) -> Any:
    store = board_of(app).services.store
    facts = store.case_facts(since=FIXED - timedelta(days=7), until=FIXED)
    return analytics.performance(facts, by=by, min_cases=min_cases)


def test_the_page_shows_controls_vacancies_and_the_patrol_section(app: Flask) -> None:
    page = render(logged_in(app, None), "/dashboard/coverage")
    words = texts(page)
    assert "网格考核" in words
    assert "参与排名的最少案件数" in words
    assert "岗位空缺 · 0" in words  # the tiny roster fills every post
    assert "巡查覆盖(近7天)" in words
    assert "导出 CSV" in words
    # the first answers come with the page: the 30-day ranking of cells, the city's patrols
    ranking = find(page, "cov-ranking")
    assert ranking["type"] == "Markdown"
    assert "参与排名" in " ".join(texts(find(page, "cov-summary")))
    assert texts(find(page, "cov-patrols"))[0].startswith("巡查覆盖率: ")
    assert find(page, "cov-map") is None  # no graph (nor plotly.js) in the table view


def find(node: Any, wanted: str) -> Any:
    """The component with id ``wanted`` in a component tree (as JSON), or ``None``."""
    if isinstance(node, list):
        return next((f for f in (find(x, wanted) for x in node) if f is not None), None)
    if not isinstance(node, dict):
        return None
    props = node.get("props", {})
    if props.get("id") == wanted:
        return node
    return find(props.get("children"), wanted)


def test_the_table_ranks_only_cells_with_enough_closed_cases(app: Flask) -> None:
    client = logged_in(app, None)
    answer = update(client, min_cases=2)
    rows = table_rows(answer)
    want = expected(app, "cell", 2)
    assert len(rows) == len(want)
    ranked = want[want["ranked"]]
    assert len(ranked) >= 2, "the simulation closes enough cases to rank some cells"
    assert [r[0] for r in rows[: len(ranked)]] == [str(int(x)) for x in ranked["rank"]]
    assert all(r[0] == "—" for r in rows[len(ranked) :])  # the rest are listed, unranked
    for row, (_, unit) in zip(rows, want.iterrows(), strict=False):
        assert row[1] == str(board_of(app).services.grid.cell(unit["unit"])["name"])
        assert row[2] == str(unit["cases"])
    assert "参与排名" in answer["cov-summary"]["children"]
    assert answer["cov-map-box"]["style"] == {"display": "none"}
    assert answer["cov-map-box"]["children"] == []  # no graph (nor plotly.js) in the table view


def test_raising_the_minimum_unranks_everyone_and_a_bad_value_falls_back(app: Flask) -> None:
    client = logged_in(app, None)
    assert all(r[0] == "—" for r in table_rows(update(client, min_cases=1000)))
    fallback = update(client, min_cases="many")  # the default minimum, not an error
    assert f"不少于 {analytics.MIN_CASES} 件" in fallback["cov-summary"]["children"]


def test_owners_are_ranked_by_name(app: Flask) -> None:
    client = logged_in(app, None)
    rows = table_rows(update(client, by="assignee", min_cases=2))
    want = expected(app, "assignee", 2)
    assert len(rows) == len(want)
    first = want.iloc[0]
    assert rows[0][1] == f"{first['name']} ({first['unit']})"


def test_the_map_colours_ranked_cells_from_a_geometry_url_without_customdata(
    app: Flask,
) -> None:
    client = logged_in(app, None)
    answer = update(client, min_cases=3, view="map")
    assert answer["cov-map-box"]["style"] == {"display": "block"}
    graph = answer["cov-map-box"]["children"]
    assert graph["type"] == "Graph"
    assert graph["props"]["id"] == "cov-map"
    trace = graph["props"]["figure"]["data"][0]
    assert trace["type"] == "choropleth"  # SVG: no WebGL needed
    assert trace["geojson"].startswith("/dashboard/geo/")
    assert trace["geojson"].endswith("tier3.json")
    assert "customdata" not in trace
    want = expected(app, "cell", 3)
    assert sorted(trace["locations"]) == sorted(want.loc[want["ranked"], "unit"])
    towns = update(client, by="tier1", min_cases=1, view="map")
    trace = towns["cov-map-box"]["children"]["props"]["figure"]["data"][0]
    assert trace["geojson"].endswith("tier1.json")


def test_the_csv_export_has_every_unit(app: Flask) -> None:
    client = logged_in(app, None)
    response = callback(
        client,
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
    download = response.get_json()["response"]["cov-download"]["data"]
    assert download["filename"].startswith(f"coverage-cell-{TOWN}-")
    assert download["filename"].endswith(".csv")
    content = download["content"]
    assert content.startswith("\ufeff")  # Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(content.lstrip("\ufeff"))))
    want = expected(app, "cell", 3)
    assert len(rows) == len(want)
    assert {"rank", "unit", "label", "wilson_lo", "eb_rate", "sign_h"} <= set(rows[0])


def test_patrol_coverage_of_a_town_comes_from_the_patrol_analytics(app: Flask) -> None:
    client = logged_in(app, None)
    response = callback(client, [("cov-patrols", "children")], [("cov-patrol-town", "value", TOWN)])
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    words = texts(response.get_json()["response"]["cov-patrols"]["children"])
    board = board_of(app)
    operator = Caller(Actor("system:test", Role.OPERATOR), None)
    coverage, communities = reads.review_patrols(
        board.services, board.reviews, operator, FIXED, town=TOWN
    )
    assert len(communities) == 4
    summary = words[0]
    assert summary.startswith("巡查覆盖率: ")
    share = coverage["covered_m2"].sum() / coverage["area_m2"].sum()
    assert f"{100 * share:.1f}%" in summary
    assert share > 0, "the simulated workers walked"
    for name in communities["name"]:
        assert name in words


def test_review_figures_are_computed_once_a_minute_and_shown_while_recomputed(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = board_of(app).services
    calls = []
    original = services.store.case_facts

    def counting(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(services.store, "case_facts", counting)
    clock = services.clock
    assert isinstance(clock, Clock)
    client = logged_in(app, None)
    update(client, min_cases=2)
    before = len(calls)  # 0 if an earlier test of this minute already read them
    update(client, min_cases=5)  # re-ranking within the minute reads nothing again
    update(client, by="tier2", min_cases=5)
    assert len(calls) == before <= 1
    clock.now = FIXED + timedelta(minutes=1)
    try:
        update(client, min_cases=5)  # answered from the last minute's facts ...
        board_of(app).reviews.settle()
        assert len(calls) == before + 1  # ... while the new minute's are read, once
        update(client, by="tier1", min_cases=5)
        assert len(calls) == before + 1
        clock.now = FIXED + reads.STALE_FOR + timedelta(minutes=2)
        update(client, min_cases=5)  # too old to show: read while the caller waits
        assert len(calls) == before + 2
    finally:
        clock.now = FIXED


def test_a_grid_worker_gets_nothing_from_the_reviews_callbacks(app: Flask) -> None:
    client = logged_in(app, OWN_CELL)
    assert "此页面仅限指挥中心和管理人员。" in texts(render(client, "/dashboard/coverage"))
    answer = update(client)
    assert texts(answer["cov-table"]["children"]) == ["此页面仅限指挥中心和管理人员。"]
    assert answer["cov-map-box"]["children"] == []
    patrols = callback(client, [("cov-patrols", "children")], [("cov-patrol-town", "value", TOWN)])
    assert "此页面仅限指挥中心和管理人员。" in texts(
        patrols.get_json()["response"]["cov-patrols"]["children"]
    )
    export = callback(
        client,
        [("cov-download", "data")],
        [("cov-export", "n_clicks", 1)],
        [("cov-days", "value", 7), ("cov-by", "value", "cell"), ("cov-town", "value", None),
         ("cov-min", "value", 3)],
    )  # fmt: skip
    assert export.status_code == 204  # PreventUpdate: nothing is sent


def test_a_visitor_is_refused_by_the_reviews_callbacks(app: Flask) -> None:
    client = app.test_client()
    response = callback(client, [("cov-patrols", "children")], [("cov-patrol-town", "value", TOWN)])
    assert response.status_code == 401
