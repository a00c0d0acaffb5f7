"""The command center's time slider over HTTP: an operator replays a past moment from the
ledger, labelled as such, and comes back to live; field staff cannot, however they ask."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboards.figures import Trace
from gridmgr.grid.model import Grid
from gridmgr.store import Store
from tests.builders import close_app
from tests.test_dashboard import (
    MAP_OUTPUTS,
    OTHER_CELL,
    board_of,
    callback,
    dashboard_app,
    logged_in,
    report,
)
from tests.test_sessions import FIXED, OWN_CELL, Clock


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path) -> Iterator[Flask]:
    built = dashboard_app(store, tiny, tmp_path, Clock(FIXED))
    yield built
    close_app(built)


NAV_OUTPUTS = [("cc-view", "data"), ("cc-go", "href"), ("cc-at", "value")]


def slide(client: FlaskClient, view: dict[str, Any], *, hours_back: int, live: int = 0) -> Any:
    """Move the slider (``changed`` 3) or, with ``live``, press the live button (4)."""
    return callback(
        client,
        NAV_OUTPUTS,
        [
            ("cc-map", "clickData", None),
            ("cc-up", "n_clicks", 0),
            ("cc-metric", "value", "open"),
            ("cc-at", "value", hours_back),
            ("cc-live", "n_clicks", live),
        ],
        [("cc-view", "data", view)],
        changed=4 if live else 3,
    )


def draw(client: FlaskClient, view: dict[str, Any], drawn: dict[str, Any] | None = None) -> Any:
    """The map callback after a view change (``drawn``: the view the page showed before)."""
    return callback(
        client,
        MAP_OUTPUTS,
        [("cc-tick", "n_intervals", 3), ("cc-view", "data", view)],
        [("cc-cursor", "data", {"seq": 0, "drawn": drawn or {"parent": None}})],
        changed=1,
    )


def z_of(app: Flask, body: dict[str, Any], cell: str) -> Any:
    index = board_of(app).geometry.tier(3).codes.index(cell)
    return body["cc-map"]["figure"]["data"][Trace.CELLS]["z"][index]


def test_an_operator_replays_three_hours_ago_and_comes_back_to_live(app: Flask) -> None:
    report(app, OTHER_CELL)  # reported now: open live, not yet three hours ago
    client = logged_in(app, None)
    view: dict[str, Any] = {"parent": None, "metric": "open"}
    moved = slide(client, view, hours_back=-3)
    assert moved.status_code == 200, moved.get_data(as_text=True)[:300]
    view = moved.get_json()["response"]["cc-view"]["data"]
    assert view["at"] == (FIXED - timedelta(hours=3)).replace(second=0, microsecond=0).isoformat()
    drawn = draw(client, view)
    assert drawn.status_code == 200, drawn.get_data(as_text=True)[:300]
    body = drawn.get_json()["response"]
    assert "回放 replay at" in body["cc-replay-label"]["children"]
    assert body["cc-replay-label"]["hidden"] is False
    assert body["cc-live"]["hidden"] is False
    assert z_of(app, body, OTHER_CELL) == 0
    assert not body["cc-map"]["figure"]["data"][Trace.CASES]["lon"]  # no live points
    tiles = json.dumps(body["cc-kpis"]["children"], ensure_ascii=False)
    assert "replayed" in tiles
    assert "实时动态暂停" in json.dumps(body["cc-feed"]["children"], ensure_ascii=False)
    assert draw_tick_is_quiet(client, view)  # a replayed moment gets no live patches
    back = slide(client, view, hours_back=-3, live=1)
    assert back.status_code == 200
    answer = back.get_json()["response"]
    assert answer["cc-at"]["value"] == 0
    replayed_view, view = view, answer["cc-view"]["data"]
    assert view["at"] is None
    live = draw(client, view, replayed_view).get_json()["response"]
    assert live["cc-replay-label"]["hidden"] is True
    assert live["cc-live"]["hidden"] is True
    assert z_of(app, live, OTHER_CELL) == 1
    assert "路灯不亮" in json.dumps(live["cc-feed"]["children"], ensure_ascii=False)


def draw_tick_is_quiet(client: FlaskClient, view: dict[str, Any]) -> bool:
    quiet = callback(
        client,
        MAP_OUTPUTS,
        [("cc-tick", "n_intervals", 60), ("cc-view", "data", view)],
        [("cc-cursor", "data", {"seq": 0, "drawn": view})],
        changed=0,
    )
    return bool(quiet.status_code == 204)


def test_a_grid_worker_can_neither_move_the_slider_nor_forge_a_moment(app: Flask) -> None:
    report(app, OWN_CELL)
    client = logged_in(app, OWN_CELL)
    view: dict[str, Any] = {"parent": None, "metric": "open"}
    assert slide(client, view, hours_back=-3).status_code == 204
    forged = {**view, "at": (FIXED - timedelta(hours=3)).isoformat()}
    body = draw(client, forged).get_json()["response"]
    assert body["cc-replay-label"]["hidden"] is True  # drawn live, not replayed
    assert z_of(app, body, OWN_CELL) == 1


def test_a_moment_in_the_future_or_not_a_time_is_drawn_live(app: Flask) -> None:
    report(app, OTHER_CELL)
    client = logged_in(app, None)
    for at in ((FIXED + timedelta(hours=1)).isoformat(), "yesterday", 5, "2026-05-06T10:00"):
        body = draw(client, {"parent": None, "metric": "open", "at": at}).get_json()["response"]
        assert body["cc-replay-label"]["hidden"] is True, at
        assert z_of(app, body, OTHER_CELL) == 1
