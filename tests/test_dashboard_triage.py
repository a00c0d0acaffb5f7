"""The dashboard's side of intake: a case's channel and probable duplicates, merging (operators
only), placing an unlocated case, and the notices page."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from dashboards.reads.notifications import notifications, unread
from gridmgr.access import caller_for
from gridmgr.cases import Action
from gridmgr.services.actions import act
from tests.test_dashboard import (  # noqa: F401 - fixtures
    OPERATOR,
    OTHER_CELL,
    app,
    board_of,
    callback,
    clock,
    logged_in,
    person_of,
    render,
    report,
    services_of,
    texts,
)
from tests.test_intake import CSV, run_import, write
from tests.test_sessions import FIXED, OWN_CELL


def merge(client: object, case_id: str, into: str) -> object:
    return callback(
        client,  # type: ignore[arg-type]
        [("case-body", "children")],
        [({"type": "case-merge", "into": into}, "n_clicks", 1)],
        [("case-comment", "value", "同一处"), ("case-id", "data", case_id)],
    )


def test_an_operator_sees_a_probable_duplicate_and_merges_it(app: Flask) -> None:  # noqa: F811
    first = report(app, OTHER_CELL, "井盖缺失")
    second = report(app, OTHER_CELL, "井盖缺失了")
    client = logged_in(app, None)
    words = texts(render(client, f"/dashboard/case/{second}"))
    assert "疑似重复(未自动合并)" in words
    assert first[:8] in words
    answer = merge(client, second, first)
    assert answer.status_code == 200  # type: ignore[attr-defined]
    assert "已完成" in texts(answer.get_json()["response"]["case-body"]["children"])  # type: ignore[attr-defined]
    page = texts(render(client, f"/dashboard/case/{second}"))
    assert "已并入案件 " in page
    actions = [e.action for e in services_of(app).store.trail(second)]
    assert "merge" in actions


def test_a_grid_worker_cannot_merge(app: Flask) -> None:  # noqa: F811
    first = report(app, OWN_CELL, "井盖缺失")
    second = report(app, OWN_CELL, "井盖缺失了")
    client = logged_in(app, OWN_CELL)
    answer = merge(client, second, first)
    assert "only the command center's operators" in str(answer.get_json())  # type: ignore[attr-defined]
    assert "merge" not in [e.action for e in services_of(app).store.trail(second)]


def test_an_operator_places_an_unlocated_case_from_its_page(
    app: Flask,  # noqa: F811
    tmp_path: Path,
) -> None:
    services = services_of(app)
    result = run_import(services.store, write(tmp_path, CSV))
    [(_, case_id)] = result.unlocated
    client = logged_in(app, None)
    assert "待落图(无坐标) · 1" in texts(render(client, "/dashboard/wall"))
    lon, lat = board_of(app).geometry.tier(3).centers[OWN_CELL]
    pinned = callback(
        client,
        [("case-lon", "value"), ("case-lat", "value")],
        [("case-pick", "relayoutData", {"geo.center.lon": lon, "geo.center.lat": lat})],
    )
    response = pinned.get_json()["response"]
    assert (response["case-lon"]["value"], response["case-lat"]["value"]) == (
        round(lon, 6),
        round(lat, 6),
    )
    placed = callback(
        client,
        [("case-body", "children")],
        [("case-place", "n_clicks", 1)],
        [
            ("case-lon", "value", lon),
            ("case-lat", "value", lat),
            ("case-comment", "value", "按地址落图"),
            ("case-id", "data", case_id),
        ],
    )
    assert placed.status_code == 200, placed.get_data(as_text=True)[:500]
    assert services.store.case(case_id).cell == OWN_CELL


def test_the_notices_page_lists_a_dispatch_and_marks_it_read(app: Flask) -> None:  # noqa: F811
    case_id = report(app, OWN_CELL)
    services = services_of(app)
    for action in (Action.REGISTER, Action.DISPATCH):
        act(
            services.store,
            services.context,
            case_id,
            action,
            actor=OPERATOR,
            at=FIXED,
            comment="ok",
        )
    client = logged_in(app, OWN_CELL)
    worker = caller_for(services.roster, person_of(services.roster, OWN_CELL), FIXED)
    [notice] = notifications(services, worker)
    assert unread(services, worker) == 1
    assert notice.title in texts(render(client, "/dashboard/notifications"))
    read = callback(client, [("notif-list", "children")], [("notif-read", "n_clicks", 1)])
    assert read.status_code == 200
    assert unread(services, worker) == 0
