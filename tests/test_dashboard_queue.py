"""The work-queue page over HTTP: the six queues for the command center with their named
holders and time left, the search, the card and holder on the case page, the wall and the map,
and field staff refused by every callback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from dashboards.components import case_href
from dashboards.figures import CARD_COLOURS, point_colour
from dashboards.reads import command as command_reads
from dashboards.reads import queue as queue_reads
from gridmgr.access import caller_for
from gridmgr.cases import Action
from gridmgr.errors import ForbiddenError
from gridmgr.grid.model import Grid
from gridmgr.services.actions import act
from gridmgr.services.escalation import escalate_overdue
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import app_services, close_app, tiny_context
from tests.test_authorization import callers
from tests.test_dashboard import (  # the app, logins and callbacks of the dashboard's tests
    OPERATOR,
    OTHER_CELL,
    callback,
    dashboard_app,
    logged_in,
    person_of,
    render,
    report,
    services_of,
    texts,
)
from tests.test_sessions import FIXED, OWN_CELL, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(FIXED)


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path, clock: Clock) -> Iterator[Flask]:
    built = dashboard_app(store, tiny, tmp_path, clock)
    yield built
    close_app(built)


def number_of(app: Flask, case_id: str) -> int:
    rows = services_of(app).store.execute_sql_for_tests(
        "SELECT number FROM cases WHERE case_id = :id", {"id": case_id}
    )
    return int(rows[0]["number"])


def links(node: object) -> list[str]:
    """Every link's href in a component tree, in order."""
    raw = json.dumps(node, ensure_ascii=False)
    return [part.split('"', 1)[0] for part in raw.split('"href": "')[1:]]


def queue_section(page: object, key: str) -> object:
    """The section of one queue in the rendered page."""
    found: list[object] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == f"queue-{key}":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for x in node:
                walk(x)

    walk(page)
    assert found, f"no section queue-{key}"
    return found[0]


def test_the_operator_sees_six_queues_earliest_deadline_first_with_holder_and_time(
    app: Flask, clock: Clock
) -> None:
    second = report(app, OTHER_CELL, "第二件")
    clock.now = FIXED  # the same minute: the numbers break the tie
    first = report(app, OWN_CELL, "第一件")
    services = services_of(app)
    registered = report(app, OWN_CELL, "已立案")
    act(services.store, services.context, registered, Action.REGISTER, actor=OPERATOR, at=FIXED,
        comment="立案")  # fmt: skip
    client = logged_in(app, None)

    page = render(client, "/dashboard/queue")
    words = texts(page)

    for label in ("待立案", "待派遣", "退回待处理", "待结案", "网格外", "待定位"):
        assert label in words
    register = queue_section(page, "register")
    assert texts(register)[0] == "待立案 · 2"
    hrefs = links(register)
    assert hrefs.index(case_href(second)) < hrefs.index(case_href(first))  # reported first
    holder = services.store.case(second).holder
    assert holder is not None
    assert holder.name in texts(register)  # a named operator, not "the crew"
    assert any(w.startswith("剩余") for w in texts(register))
    assert f"#{number_of(app, registered)}" in texts(queue_section(page, "dispatch"))
    # later, the same lists say how late, in red
    clock.now = FIXED + timedelta(hours=3)
    late = render(client, "/dashboard/queue")
    assert any(w.startswith("超时") for w in texts(queue_section(late, "register")))
    assert '"className": "due late"' in json.dumps(queue_section(late, "register"))


def test_the_search_finds_a_case_by_number_text_and_cell(app: Flask) -> None:
    lamp = report(app, OWN_CELL, "路灯不亮 西门")
    cover = report(app, OTHER_CELL, "井盖缺失 东门")
    client = logged_in(app, None)

    def search(text: str) -> list[str]:
        answer = callback(
            client,
            [("queue-results", "children")],
            [("queue-search", "value", text), ("queue-search-go", "n_clicks", 1)],
            [("queue-search", "value", text)],
        )
        assert answer.status_code == 200
        return links(answer.get_json()["response"]["queue-results"]["children"])

    assert search(str(number_of(app, cover))) == [case_href(cover)]
    assert search("西门") == [case_href(lamp)]
    assert search(OTHER_CELL) == [case_href(cover)]
    assert set(search("门")) == {case_href(lamp), case_href(cover)}
    assert search("没有这种案件") == []


def test_a_grid_worker_cannot_read_the_queues_nor_search(app: Flask) -> None:
    report(app, OWN_CELL, "他自己网格的案件")
    client = logged_in(app, OWN_CELL)

    page = render(client, "/dashboard/queue")
    refreshed = callback(
        client, [("queues", "children")], [("queue-tick", "n_intervals", 1)]
    ).get_json()
    searched = callback(
        client,
        [("queue-results", "children")],
        [("queue-search", "value", "案件"), ("queue-search-go", "n_clicks", 1)],
        [("queue-search", "value", "案件")],
    ).get_json()

    refusal = "此页面仅限指挥中心和管理人员。"
    assert refusal in texts(page)
    for answer in (refreshed, searched):
        body = json.dumps(answer, ensure_ascii=False)
        assert refusal in body
        assert "他自己网格的案件" not in body
        assert "/dashboard/case/" not in body
    nav = json.dumps(client.get("/dashboard/_dash-layout").get_json(), ensure_ascii=False)
    assert "/dashboard/queue" not in nav  # no link either
    operator_nav = logged_in(app, None).get("/dashboard/_dash-layout").get_json()
    assert "/dashboard/queue" in json.dumps(operator_nav)


def test_a_late_case_shows_its_holder_stage_deadline_and_card_everywhere(
    app: Flask, clock: Clock
) -> None:
    case_id = report(app, OWN_CELL)
    services = services_of(app)
    climbed = escalate_overdue(services.store, services.context, now=FIXED + timedelta(hours=1))
    case = services.store.case(case_id)
    assert [c.case_id for c in climbed] == [case_id]
    assert case.card is not None
    assert case.holder is not None
    assert case.due_at is not None
    clock.now = FIXED + timedelta(hours=1, minutes=5)  # the rung's own clock runs
    assert case.due_at > clock.now
    client = logged_in(app, None)
    operator = caller_for(services.roster, person_of(services.roster, None), clock.now)

    page = texts(render(client, f"/dashboard/case/{case_id}"))
    wall = render(client, "/dashboard/wall")
    queue = render(client, "/dashboard/queue")
    points = {p["id"]: p for p in command_reads.open_points(services, operator, clock.now)}

    badge = {"yellow": "黄牌", "orange": "橙牌", "red": "红牌"}[case.card]
    assert "立案" in page  # the stage running: 立案
    assert any(w.startswith(case.holder.name + " · ") for w in page)  # name · post
    assert any(w.startswith("剩余") for w in page)  # the rung's deadline, counting down
    assert badge in page
    assert badge in texts(wall)  # on the ladder: on the wall, though the rung is not late yet
    assert badge in texts(queue_section(queue, "register"))
    assert points[case_id]["card"] == case.card  # and on the map, in the card's colour
    assert point_colour(points[case_id]) == CARD_COLOURS[case.card]


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("near worker", False),
        ("near head", False),
        ("town leader", False),
        ("operator", True),
        ("manager", True),
        ("far worker", False),
    ],
)
def test_only_city_wide_roles_read_the_queues_and_search(
    store: Store, tmp_path: Path, who: str, allowed: bool
) -> None:
    person = next(c.person_id for c in callers() if c.name == who)
    context = tiny_context()
    services = app_services(store, Settings(data_dir=tmp_path), context, clock=lambda: FIXED)
    caller = caller_for(context.roster, person, FIXED)
    try:
        if allowed:
            assert len(queue_reads.work_queues(services, caller)) == 6
            assert queue_reads.search(services, caller, "320281") == []
            return
        with pytest.raises(ForbiddenError):
            queue_reads.work_queues(services, caller)
        with pytest.raises(ForbiddenError):
            queue_reads.search(services, caller, "320281")
    finally:
        services.ingestor.close()
