"""The analysis page (考核分析) over HTTP: a closed month shown frozen with its version and
digest, an open month computed on request with numerators and denominators, and field staff
refused by the page, the callback and the navigation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from dashboards.reads.period import period_analysis
from gridmgr.access import Caller
from gridmgr.cases import Actor, Role
from gridmgr.grid.model import Grid
from gridmgr.services.assessments import close_month
from gridmgr.store import Store
from tests.builders import close_app
from tests.test_dashboard import (
    callback,
    dashboard_app,
    logged_in,
    render,
    report,
    services_of,
    texts,
)
from tests.test_sessions import FIXED, OWN_CELL, PASSWORD, Clock, log_in

THIS_MONTH, LAST_MONTH = "2026-05", "2026-04"


@pytest.fixture
def clock() -> Clock:
    return Clock(FIXED)


HEAD_AREA, OTHER_AREA = OWN_CELL[:12], "320281001003"  # two communities: their grid heads
DEPUTY_AREA = "320281001002"  # HEAD_AREA's head stands in for its head: his area too
CENTER_LEADER = "P00053"  # the tiny roster's 指挥中心主任: a manager, who decides appeals
CITY = Caller(Actor("op", Role.OPERATOR, "operator"), None)


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path, clock: Clock) -> Iterator[Flask]:
    built = dashboard_app(
        store, tiny, tmp_path, clock, logins=(None, OWN_CELL, HEAD_AREA, OTHER_AREA)
    )
    store.set_password(CENTER_LEADER, PASSWORD, now=FIXED, actor="test")
    yield built
    close_app(built)


def manager(app: Flask) -> Any:
    client = app.test_client()
    assert log_in(client, CENTER_LEADER).status_code == 303
    assert client.get("/dashboard/").status_code == 200  # sets the CSRF cookie
    return client


def choose(client: object, month: str, level: str, clicks: int = 0, changed: int = 0) -> str:
    answer = callback(
        client,  # type: ignore[arg-type]
        [("an-body", "children")],
        [
            ("an-month", "value", month),
            ("an-level", "value", level),
            ("an-compute", "n_clicks", clicks),
            ("an-decided", "data", 0),
        ],
        [("an-compute", "n_clicks", clicks)],
        changed=changed,
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return json.dumps(answer.get_json(), ensure_ascii=False)


def test_an_open_month_is_computed_on_request_with_numerators_and_denominators(
    app: Flask, clock: Clock
) -> None:
    report(app, OWN_CELL, "桥下有人占道经营")
    clock.now = FIXED + timedelta(hours=1)  # the month so far includes the report
    client = logged_in(app, None)

    page = " ".join(texts(render(client, "/dashboard/analysis")))
    before = choose(client, THIS_MONTH, "town")
    computed = choose(client, THIS_MONTH, "town", clicks=1, changed=2)

    assert "月度考核" in page
    assert f"{LAST_MONTH} 尚未冻结" in page  # last month, not closed: nothing computed yet
    assert "尚未冻结" in before
    assert "scoretable" in computed
    town = services_of(app).grid.cell(OWN_CELL[:9])["name"]
    assert str(town) in computed
    assert "主动发现率" in computed
    assert '"children": "1"' in computed  # one case in the town
    assert "km²" in computed  # patrol coverage as covered / total area


def test_a_closed_month_is_shown_frozen_with_its_version_and_digest(app: Flask) -> None:
    services = services_of(app)
    closing = close_month(services, LAST_MONTH, actor="test")
    client = logged_in(app, None)

    shown = choose(client, LAST_MONTH, "community")

    assert f"{LAST_MONTH} 已冻结（第 1 版" in shown
    assert closing.latest.digest[:16] in shown


def test_field_staff_cannot_read_the_analysis(app: Flask) -> None:
    report(app, OWN_CELL, "他自己网格的案件")
    client = logged_in(app, OWN_CELL)

    page = render(client, "/dashboard/analysis")
    answer = choose(client, THIS_MONTH, "worker", clicks=1, changed=2)

    refusal = "此页面仅限指挥中心和管理人员。"
    assert refusal in texts(page)
    assert refusal in answer
    assert "scoretable" not in answer
    nav = json.dumps(client.get("/dashboard/_dash-layout").get_json(), ensure_ascii=False)
    assert "/dashboard/analysis" not in nav
    operator_nav = logged_in(app, None).get("/dashboard/_dash-layout").get_json()
    assert "/dashboard/analysis" in json.dumps(operator_nav)


def appeals_of(client: object, month: str, level: str) -> Any:
    answer = callback(
        client,  # type: ignore[arg-type]
        [("an-appeals", "children"), ("an-unit", "options"), ("an-decide-id", "options")],
        [
            ("an-month", "value", month),
            ("an-level", "value", level),
            ("an-filed", "data", 0),
            ("an-decided", "data", 0),
        ],
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return answer.get_json()["response"]


def file_appeal(client: object, month: str, unit: str, reason: str, client_id: str) -> str:
    answer = callback(
        client,  # type: ignore[arg-type]
        [("an-file-result", "children"), ("an-filed", "data"), ("an-client", "data")],
        [("an-file", "n_clicks", 1)],
        [
            ("an-month", "value", month),
            ("an-level", "value", "community"),
            ("an-unit", "value", unit),
            ("an-indicator", "value", "coverage"),
            ("an-reason", "value", reason),
            ("an-client", "data", client_id),
            ("an-filed", "data", 0),
        ],
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return json.dumps(answer.get_json(), ensure_ascii=False)


def decide(client: object, appeal_id: str, verdict: str) -> str:
    answer = callback(
        client,  # type: ignore[arg-type]
        [("an-decide-result", "children"), ("an-decided", "data")],
        [("an-decide", "n_clicks", 1)],
        [
            ("an-decide-id", "value", appeal_id),
            ("an-verdict", "value", verdict),
            ("an-decide-reason", "value", "终端故障属实"),
            ("an-decided", "data", 0),
        ],
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return json.dumps(answer.get_json(), ensure_ascii=False)


def test_a_grid_head_appeals_on_the_page_and_a_manager_upholds_it(app: Flask) -> None:
    services = services_of(app)
    close_month(services, LAST_MONTH, actor="test")
    head, other = logged_in(app, HEAD_AREA), logged_in(app, OTHER_AREA)

    # the head sees his area's communities only, and may pick them to appeal
    mine = appeals_of(head, LAST_MONTH, "community")
    assert sorted(o["value"] for o in mine["an-unit"]["options"]) == [HEAD_AREA, DEPUTY_AREA]
    assert mine["an-decide-id"]["options"] == []  # heads do not decide
    shown = choose(head, LAST_MONTH, "community")
    assert str(services.grid.cell(HEAD_AREA)["name"]) in shown
    assert str(services.grid.cell(OTHER_AREA)["name"]) not in shown

    refused = file_appeal(other, LAST_MONTH, HEAD_AREA, "不是我的社区", "x-1")
    assert "area" in refused
    filed = file_appeal(head, LAST_MONTH, HEAD_AREA, "巡查终端故障", "c-1")
    resent = file_appeal(head, LAST_MONTH, HEAD_AREA, "巡查终端故障", "c-1")  # a double click
    assert "AP202604-001" in filed
    assert "AP202604-001" in resent
    assert len(services.store.appeals(LAST_MONTH)) == 1

    boss = manager(app)
    listed = appeals_of(boss, LAST_MONTH, "community")
    assert [o["value"] for o in listed["an-decide-id"]["options"]] == ["AP202604-001"]
    assert "巡查终端故障" in json.dumps(listed["an-appeals"], ensure_ascii=False)
    assert "decided by managers" in decide(head, "AP202604-001", "uphold")
    assert services.store.appeal("AP202604-001").decision is None  # the head could not decide
    decided = decide(boss, "AP202604-001", "uphold")
    assert "维持（第 2 版）" in decided
    after = choose(boss, LAST_MONTH, "community", changed=0)
    assert f"{LAST_MONTH} 已冻结（第 2 版" in after
    assert "取代第 1 版" in after
    assert "AP202604-001" in after  # the correction is named under the table


def test_the_period_shows_hot_spots_recurring_problems_and_stage_times(
    app: Flask, clock: Clock
) -> None:
    for text in ("桥下占道经营", "桥下又有占道经营", "桥下占道经营第三次"):
        report(app, OWN_CELL, text)
    clock.now = FIXED + timedelta(hours=1)
    client = logged_in(app, None)

    answer = callback(client, [("an-period", "children")], [("an-month", "value", THIS_MONTH)])
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    body = answer.get_json()["response"]["an-period"]["children"]
    text = json.dumps(body, ensure_ascii=False)
    graph = next(c for c in body if c.get("props", {}).get("id") == "an-map")
    traces = {tr["name"]: tr for tr in graph["props"]["figure"]["data"]}
    # only the cells of a significant Gi* class are drawn, over the towns; each named on hover
    spots = period_analysis(services_of(app), CITY, THIS_MONTH).spots
    significant = sorted(str(c) for c, z in zip(spots["cell"], spots["gi_z"], strict=True)
                         if abs(z) >= 1.65)  # fmt: skip
    assert 0 < len(significant) < 16, spots[["cell", "gi_z"]]  # three reports in one cell
    assert sorted(traces["hotspots"]["locations"]) == significant
    assert len(traces["territory"]["locations"]) == len(traces["borders"]["locations"])
    assert len(traces["recurring"]["lon"]) == 1  # three reports in one place: one problem
    assert "3 件案件，16 个网格" in text
    assert "反复发生的问题" in text
    assert "各镇街各环节用时" in text
    assert str(services_of(app).grid.cell(OWN_CELL[:9])["name"]) in text

    worker = logged_in(app, OWN_CELL)
    refused = callback(worker, [("an-period", "children")], [("an-month", "value", THIS_MONTH)])
    assert "此页面仅限指挥中心和管理人员。" in json.dumps(refused.get_json(), ensure_ascii=False)
