"""``GET /api/v1/me/bundle``: the field app's offline cache holds the caller's cells, the
categories, his open cases with the actions he may take now, and nothing of anybody else's
(SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import api_app, close_app, tiny_context, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
OWN_CELL = "320281001001001"
OTHER_CELL = "320281001004004"
URL = "/api/v1/me/bundle"


def person_at(cell: str | None) -> str:
    post = COMMAND_CENTER if cell is None else field_post(cell)
    person = tiny_roster().owner(post, FIXED)
    assert person is not None
    return person.person_id


def bearer(store: Store, person_id: str) -> dict[str, str]:
    token = store.create_credential(kind="person", subject=person_id, now=FIXED, days=9)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app(store: Store, tmp_path: Path) -> Iterator[Flask]:
    made = api_app(store, Settings(data_dir=tmp_path), clock=lambda: FIXED)
    yield made
    close_app(made)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def centre(cell: str) -> dict[str, float]:
    point = tiny_context().grid.cell(cell)["geometry"].representative_point()
    return {"lon": point.x, "lat": point.y}


def dispatched(client: FlaskClient, store: Store, cell: str, text: str) -> str:
    """A case in ``cell`` dispatched to its worker, with a photo."""
    operator = bearer(store, person_at(None))
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 30)).save(out, "JPEG")
    form: dict[str, Any] = {k: str(v) for k, v in centre(cell).items()}
    form |= {"category": "street_vending", "description": text}
    form["photo"] = (io.BytesIO(out.getvalue()), "p.jpg")
    reply = client.post("/api/v1/reports/with-photo", data=form, headers=operator)
    assert reply.status_code == 201, reply.get_json()
    case_id: str = reply.get_json()["case_id"]
    for action in ("register", "dispatch"):
        done = client.post(
            f"/api/v1/cases/{case_id}/actions",
            json={"action": action, "comment": "请处理"},
            headers=operator,
        )
        assert done.status_code == 200, done.get_json()
    return case_id


def test_the_bundle_holds_my_cells_the_categories_and_my_open_cases_only(
    client: FlaskClient, store: Store
) -> None:
    mine = dispatched(client, store, OWN_CELL, "<script>alert(1)</script> 占道")
    dispatched(client, store, OTHER_CELL, "别人的案件")
    me = person_at(OWN_CELL)

    reply = client.get(URL, headers=bearer(store, me))

    assert reply.status_code == 200
    assert reply.headers["Cache-Control"] == "private, no-store"
    body: dict[str, Any] = reply.get_json()
    assert body["person_id"] == me
    assert body["server_time"] == FIXED.isoformat()
    own = {a.post.place for a in tiny_roster().posts_of(me, FIXED)}
    cells = body["cells"]
    assert cells["type"] == "FeatureCollection"
    assert {f["id"] for f in cells["features"]} == own
    assert OTHER_CELL not in {f["id"] for f in cells["features"]}
    shape = shapely.geometry.shape(cells["features"][0]["geometry"])
    true = tiny_context().grid.cell(cells["features"][0]["id"])["geometry"]
    assert shape.symmetric_difference(true).area < 0.01 * true.area  # simplified a little
    codes = {c["code"]: c for c in body["categories"]}
    vending = tiny_context().catalog.category("street_vending")
    assert (codes["street_vending"]["zh"], codes["street_vending"]["en"]) == (
        vending.name_zh,
        vending.name_en,
    )
    assert len(codes) == len(list(tiny_context().catalog))
    [case] = body["cases"]
    assert case["case_id"] == mine
    assert case["description"] == "<script>alert(1)</script> 占道"  # text, as JSON
    assert case["state"] == "dispatched"
    assert case["number"] == 1
    assert case["due_at"] is not None
    assert set(case["actions"]) >= {"accept", "return"}
    assert len(case["photos"]) == 1
    photo = client.get(case["photos"][0], headers=bearer(store, me))
    assert photo.status_code == 200
    assert photo.headers["Content-Type"] == "image/jpeg"


def test_the_bundles_actions_follow_the_rules_for_its_caller(
    client: FlaskClient, store: Store
) -> None:
    case_id = dispatched(client, store, OWN_CELL, "占道")
    me = bearer(store, person_at(OWN_CELL))
    client.post(
        f"/api/v1/cases/{case_id}/actions", json={"action": "accept", "comment": "收到"}, headers=me
    )

    [case] = client.get(URL, headers=me).get_json()["cases"]

    assert case["state"] == "accepted"
    assert "accept" not in case["actions"]
    assert "start" in case["actions"]


def test_a_city_wide_caller_gets_no_cells_and_a_bundle_needs_a_token(
    client: FlaskClient, store: Store
) -> None:
    body = client.get(URL, headers=bearer(store, person_at(None))).get_json()

    assert body["cells"]["features"] == []
    assert client.get(URL).status_code == 401
