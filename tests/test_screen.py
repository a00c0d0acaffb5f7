"""The big screen (大屏): a display token opens it and nothing else, shows no citizen text, and
is refused once revoked; a person's session does not open it (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from gridmgr import Grid
from gridmgr.services.display import create_display
from gridmgr.store import Store
from tests.builders import close_app
from tests.test_dashboard import OTHER_CELL, dashboard_app, logged_in, report
from tests.test_sessions import FIXED, OWN_CELL, Clock

SECRET_WORDS = "桥下有人说了他的手机号"


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path) -> Iterator[Flask]:
    built = dashboard_app(store, tiny, tmp_path, Clock(FIXED))
    yield built
    close_app(built)


def test_a_display_token_opens_the_screen_which_shows_no_citizen_text(
    app: Flask, store: Store
) -> None:
    report(app, OWN_CELL, SECRET_WORDS)
    token = create_display(store, "指挥大厅", now=FIXED)
    wall = app.test_client()
    first = wall.get(f"/dashboard/screen?token={token}&tour=20")
    assert first.status_code == 303
    assert first.headers["Location"] == "/dashboard/screen?tour=20"  # the token leaves the URL
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    page = wall.get("/dashboard/screen?tour=20")
    assert page.status_code == 200
    assert '"tour": 20' in page.get_data(as_text=True)
    data = wall.get("/dashboard/screen/data.json")
    assert data.status_code == 200
    body = data.get_json()
    assert {"figure", "kpis", "invariants", "feed", "overdue"} <= body.keys()
    assert body["kpis"][0][1] == 1  # one open case
    assert SECRET_WORDS not in json.dumps(body, ensure_ascii=False)
    town = OWN_CELL[:9]
    assert wall.get(f"/dashboard/screen/data.json?town={town}").status_code == 200
    assert wall.get("/dashboard/screen/data.json?town=999").status_code == 400
    assert wall.get("/dashboard/screen/plotly.js").status_code == 200


def test_a_display_token_can_neither_act_nor_open_anything_else(app: Flask, store: Store) -> None:
    case_id = report(app, OTHER_CELL)
    token = create_display(store, "指挥大厅", now=FIXED)
    wall = app.test_client()
    assert wall.get(f"/dashboard/screen?token={token}").status_code == 303
    for page in ("/dashboard/", f"/dashboard/case/{case_id}", f"/dashboard/dossier/{case_id}"):
        assert wall.get(page).status_code == 303  # to the login: no session
    assert wall.post("/dashboard/_dash-update-component", json={}).status_code in (400, 401)
    bearer = {"Authorization": f"Bearer {token}"}
    assert wall.get("/api/v1/cases", headers=bearer).status_code == 401
    action = {"action": "register", "comment": "立案", "version": 1}
    reply = wall.post(f"/api/v1/cases/{case_id}/actions", json=action, headers=bearer)
    assert reply.status_code == 401


def test_a_revoked_display_token_and_a_persons_session_are_refused(
    app: Flask, store: Store
) -> None:
    token = create_display(store, "指挥大厅", now=FIXED)
    wall = app.test_client()
    assert wall.get(f"/dashboard/screen?token={token}").status_code == 303
    assert wall.get("/dashboard/screen/data.json").status_code == 200
    assert store.revoke_credential(token.split("_")[1], now=FIXED)
    assert wall.get("/dashboard/screen/data.json").status_code == 401
    assert wall.get("/dashboard/screen").status_code == 401
    assert app.test_client().get("/dashboard/screen?token=gm_0_bad").status_code == 401
    operator = logged_in(app, None)
    assert operator.get("/dashboard/screen").status_code == 401
    assert operator.get("/dashboard/screen/data.json").status_code == 401


def test_the_display_commands_create_list_and_revoke_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cli import flat, run_main

    db = str(tmp_path / "gridmgr.sqlite")
    code, out, err = run_main(tmp_path, "display", "create", "指挥大厅", "--db", db, capsys=capsys)
    assert code == 0, err
    token = out.strip()
    token_id = token.split("_")[1]
    assert "read-only" in flat(err)
    code, out, _ = run_main(tmp_path, "display", "list", "--db", db, capsys=capsys)
    assert f"{token_id} 指挥大厅" in flat(out)
    assert "live" in out
    code, out, _ = run_main(tmp_path, "display", "revoke", token_id, "--db", db, capsys=capsys)
    assert code == 0
    _, out, _ = run_main(tmp_path, "display", "list", "--db", db, capsys=capsys)
    assert "revoked" in out
    code, _, err = run_main(tmp_path, "display", "create", "  ", "--db", db, capsys=capsys)
    assert code == 1
    assert "a display needs a name" in flat(err)


def test_the_screen_replays_a_past_moment_from_the_ledger(app: Flask, store: Store) -> None:
    report(app, OWN_CELL)
    token = create_display(store, "指挥大厅", now=FIXED)
    wall = app.test_client()
    wall.get(f"/dashboard/screen?token={token}")
    live = wall.get("/dashboard/screen/data.json").get_json()
    now = live["at"].replace(" ", "T")
    past = wall.get(f"/dashboard/screen/data.json?at={now}").get_json()
    assert past["kpis"][0][1] == live["kpis"][0][1] == 1
    assert sum(z or 0 for z in past["figure"]["data"][0]["z"]) == 1
    before = wall.get("/dashboard/screen/data.json?at=2020-01-01T10:05").get_json()
    assert before["kpis"][0][1] == 0
    assert wall.get("/dashboard/screen/data.json?at=yesterday").status_code == 400
    assert wall.get("/dashboard/screen/data.json?at=2999-01-01T00:00").status_code == 400
    assert '"at": "2020-01-01T10:05"' in wall.get("/dashboard/screen?at=2020-01-01T10:05").get_data(
        as_text=True
    )
