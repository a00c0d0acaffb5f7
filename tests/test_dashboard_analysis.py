"""The analysis page (考核分析) over HTTP: a closed month shown frozen with its version and
digest, an open month computed on request with numerators and denominators, and field staff
refused by the page, the callback and the navigation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

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
from tests.test_sessions import FIXED, OWN_CELL, Clock

THIS_MONTH, LAST_MONTH = "2026-05", "2026-04"


@pytest.fixture
def clock() -> Clock:
    return Clock(FIXED)


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path, clock: Clock) -> Iterator[Flask]:
    built = dashboard_app(store, tiny, tmp_path, clock)
    yield built
    close_app(built)


def choose(client: object, month: str, level: str, clicks: int = 0, changed: int = 0) -> str:
    answer = callback(
        client,  # type: ignore[arg-type]
        [("an-body", "children")],
        [
            ("an-month", "value", month),
            ("an-level", "value", level),
            ("an-compute", "n_clicks", clicks),
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
