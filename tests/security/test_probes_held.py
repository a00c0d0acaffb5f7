"""The probes of issue #24 that held, kept holding: one explicit test per probe, on the fixtures
and helpers of the suites that test each area in depth (test_authorization, test_dashboard,
test_sessions, test_open311, test_photos, test_api_photos)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gridmgr.settings import Settings
from gridmgr.store import Store
from gridmgr.web.sessions import LOGIN_FAILED
from tests.builders import api_app, close_app
from tests.security.test_leaks import MINE, NEXT_DOOR, worker
from tests.test_api_photos import FIXED, jpeg, operator
from tests.test_dashboard import (
    OTHER_CELL,
    OWN_CELL,
    callback,
    logged_in,
    person_of,
    render,
    report,
    services_of,
    texts,
)
from tests.test_open311 import REPORT, ROOT, new_api_key
from tests.test_photos import png_header_only
from tests.test_sessions import log_in

EVIL = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[FlaskClient]:
    app = api_app(store, Settings(data_dir=tmp_path), clock=lambda: FIXED)
    yield app.test_client()
    close_app(app)


def form(values: dict[str, object]) -> dict[str, object]:
    return {k: str(v) for k, v in values.items()}


# -- scope -----------------------------------------------------------------------------------


def test_api_no_case_trail_photo_or_action_outside_the_callers_scope(
    client: FlaskClient, store: Store
) -> None:
    data = {**form(NEXT_DOOR), "description": EVIL, "photo": (io.BytesIO(jpeg()), "p.jpg")}
    made = client.post("/api/v1/reports/with-photo", data=data, headers=operator(store))
    assert made.status_code == 201
    theirs, photo_url = made.get_json()["case_id"], made.get_json()["photo"]["url"]
    me = worker(store)
    before = store.case(theirs).version
    for answer in (
        client.get(f"/api/v1/cases/{theirs}", headers=me),
        client.get(f"/api/v1/cases/{theirs}/trail", headers=me),
        client.get(f"/api/v1/cases/{theirs}/photos", headers=me),
        client.get(photo_url, headers=me),
        client.post(
            f"/api/v1/cases/{theirs}/actions",
            json={"action": "register", "comment": "x"},
            headers=me,
        ),
    ):
        assert answer.status_code == 404, answer.get_json()
    listed = client.get("/api/v1/cases", headers=me).get_json()
    assert theirs not in json.dumps(listed)
    assert store.case(theirs).version == before


def test_dashboard_no_case_trail_or_action_outside_the_callers_scope(app: Flask) -> None:
    theirs = report(app, OTHER_CELL, EVIL)
    client = logged_in(app, OWN_CELL)
    page = json.dumps(render(client, f"/dashboard/case/{theirs}"), ensure_ascii=False)
    assert "没有找到该案件" in page
    assert EVIL not in page  # neither its text nor its trail
    before = services_of(app).store.case(theirs).version
    acted = callback(
        client,
        [("case-body", "children")],
        [({"type": "case-action", "action": "register"}, "n_clicks", 1)],
        [
            ("case-comment", "value", "立案"),
            ("case-defer-to", "value", None),
            ("case-id", "data", theirs),
        ],
    )
    assert "没有找到该案件" in json.dumps(acted.get_json(), ensure_ascii=False)
    assert services_of(app).store.case(theirs).version == before


# -- CSRF ------------------------------------------------------------------------------------


def test_every_callback_is_refused_without_the_csrf_token(app: Flask) -> None:
    client = logged_in(app, None)
    deps = client.get("/dashboard/_dash-dependencies").get_json()
    assert len(deps) > 10
    for dep in deps:
        body = {"output": dep["output"], "outputs": [], "inputs": [], "state": []}
        refused = client.post("/dashboard/_dash-update-component", json=body)
        assert refused.status_code == 400, dep["output"]
        assert "CSRF" in refused.get_data(as_text=True), dep["output"]


# -- logins ----------------------------------------------------------------------------------


def test_login_does_not_tell_an_unknown_person_from_a_wrong_password(app: Flask) -> None:
    known = person_of(services_of(app).roster, OWN_CELL)
    answers = [
        log_in(app.test_client(), known, "wrong password"),
        log_in(app.test_client(), "P99999", "wrong password"),
        log_in(app.test_client(), "'; DROP TABLE accounts; --", "x"),
    ]
    assert {a.status_code for a in answers} == {401}
    assert all(LOGIN_FAILED in a.get_data(as_text=True) for a in answers)


# -- citizen text ----------------------------------------------------------------------------


def test_citizen_text_stays_text_in_api_json_and_dashboard_output(
    app: Flask, client: FlaskClient, store: Store
) -> None:
    made = client.post("/api/v1/reports", json={**MINE, "description": EVIL}, headers=worker(store))
    assert made.status_code == 201
    read = client.get(f"/api/v1/cases/{made.get_json()['case_id']}", headers=worker(store))
    assert read.mimetype == "application/json"
    assert read.headers["X-Content-Type-Options"] == "nosniff"
    assert read.get_json()["description"] == EVIL  # a JSON string, as sent
    case_id = report(app, OWN_CELL, EVIL)
    page = render(logged_in(app, None), f"/dashboard/case/{case_id}")
    assert EVIL in texts(page)  # a string child: React renders a text node
    assert "dangerously_allow_html" not in json.dumps(page)


# -- parsers ---------------------------------------------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<service_request><api_key>K</api_key><description>&xxe;</description></service_request>"""
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    )
    + b"]><service_request><description>&j;</description></service_request>"
)


@pytest.mark.parametrize("body", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_open311_refuses_xml_entities_and_billion_laughs(
    client: FlaskClient, store: Store, body: bytes
) -> None:
    key = new_api_key(store)
    for mimetype in ("text/xml", "application/xml"):
        answer = client.post(
            f"{ROOT}/requests.xml?jurisdiction_id=320281", data=body, content_type=mimetype
        )
        assert answer.status_code in (400, 403), answer.get_data(as_text=True)[:200]
        assert b"root:" not in answer.data
        assert b"lollollol" not in answer.data
    assert client.post(f"{ROOT}/requests.json", data={"api_key": key, **REPORT}).status_code == 200


def test_a_photo_bomb_is_refused_with_a_4xx(client: FlaskClient, store: Store) -> None:
    bomb = png_header_only(20_000, 20_000)
    data = {**form(MINE), "photo": (io.BytesIO(bomb), "bomb.png")}
    answer = client.post("/api/v1/reports/with-photo", data=data, headers=operator(store))
    assert 400 <= answer.status_code < 500, answer.get_json()
    assert "bomb" in answer.get_json()["error"]["message"]


# -- SQL-like input --------------------------------------------------------------------------

SQLISH = "1' OR '1'='1'; DROP TABLE cases; --"


def test_sql_like_input_gets_a_4xx_never_a_500(client: FlaskClient, store: Store) -> None:
    me = operator(store)
    for answer in (
        client.get(f"/api/v1/cases?state={SQLISH}", headers=me),
        client.get(f"/api/v1/cases?subtree={SQLISH}", headers=me),
        client.get(f"/api/v1/cases/{SQLISH}", headers=me),
        client.get(f"/api/v1/cases/{SQLISH}/trail", headers=me),
        client.post("/api/v1/reports", json={**MINE, "category": SQLISH}, headers=me),
        client.get(f"{ROOT}/requests.json?service_code={SQLISH}"),
        client.get(f"{ROOT}/requests/{SQLISH}.json"),
    ):
        assert answer.status_code in (400, 404), answer.get_data(as_text=True)[:200]
    assert client.get("/api/v1/cases", headers=me).status_code == 200  # the table is there
