"""The native JSON API ``/api/v1``: report intake with Bearer tokens, scope, and input safety
(in-process Flask test client, on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from gridmgr.api.v1 import MAX_BODY
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.responsibility.routing import route_incident
from gridmgr.settings import Settings
from gridmgr.store import Store, open_store
from tests.builders import api_app, tiny_context, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)  # a Wednesday morning, working time
URL = "/api/v1/reports"
OWN_CELL = "320281001001001"  # NW corner cell of the tiny grid
IN_OWN_CELL = {"lon": 120.0625, "lat": 31.9375}  # its centre
IN_FAR_CELL = {"lon": 120.4375, "lat": 31.5625}  # the centre of the SE corner cell ...004004
OUT_OF_GRID = {"lon": 121.0, "lat": 31.7}
REPORT: dict[str, Any] = {
    **IN_OWN_CELL,
    "category": "street_vending",
    "description": "桥下有人占道经营",
}


def operator_id() -> str:
    person = tiny_roster().owner(COMMAND_CENTER, FIXED)
    assert person is not None
    return person.person_id


def worker_id() -> str:
    person = tiny_roster().owner(field_post(OWN_CELL), FIXED)
    assert person is not None
    return person.person_id


def make_app(store: Store, data_dir: Path, *, now: datetime = FIXED) -> Flask:
    return api_app(store, Settings(data_dir=data_dir), clock=lambda: now)


def token_for(store: Store, person_id: str, *, days: int = 30) -> str:
    return store.create_credential(kind="person", subject=person_id, now=FIXED, days=days)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def snapshot(store: Store) -> tuple[int, int | None]:
    """How many cases, and the ledger's head event: unchanged means nothing was stored."""
    head = store.ledger_head()
    return store.count_cases(), None if head is None else head.seq


def error_message(reply: TestResponse) -> str:
    body = reply.get_json()
    assert isinstance(body, dict), reply.get_data(as_text=True)
    assert body["error"]["status"] == reply.status_code
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message
    return message


@pytest.fixture
def client(store: Store, tmp_path: Path) -> FlaskClient:
    return make_app(store, tmp_path).test_client()


@pytest.fixture
def operator(store: Store) -> dict[str, str]:
    """The Authorization header of an operator of the command center."""
    return bearer(token_for(store, operator_id()))


@pytest.fixture
def worker(store: Store) -> dict[str, str]:
    """The Authorization header of the grid worker who owns OWN_CELL."""
    return bearer(token_for(store, worker_id()))


class Shared(NamedTuple):
    """One SQLite store and its app for the whole module, and an operator's header: for requests
    that must be refused before the store is touched (each test compares the store before and
    after)."""

    client: FlaskClient
    store: Store
    operator: dict[str, str]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    folder = tmp_path_factory.mktemp("api-v1")
    store = open_store(f"sqlite:///{folder / 'gridmgr.sqlite'}", create=True)
    try:
        client = make_app(store, folder).test_client()
        yield Shared(client, store, bearer(token_for(store, operator_id())))
    finally:
        store.close()


# -- accepted reports -----------------------------------------------------------------------


def test_an_operators_report_in_the_grid_opens_a_case_and_answers_201_with_its_routing(
    client: FlaskClient, store: Store, operator: dict[str, str]
) -> None:
    reply = client.post(URL, json=REPORT, headers=operator)

    assert reply.status_code == 201, reply.get_data(as_text=True)
    body = reply.get_json()
    assert re.fullmatch(r"[0-9a-f]{32}", body["case_id"])
    assert body["number"] == 1
    assert body["state"] == "reported"
    assert body["queue"] == "cell"
    assert body["cell_path"] == {
        "tier1": "320281001",
        "tier2": "320281001001",
        "tier3": OWN_CELL,
    }
    assert body["responsible"]["post"] == f"grid_worker:{OWN_CELL}"
    assert body["responsible"]["person"]["person_id"] == worker_id()
    assert body["deadlines"][0] == {
        "stage": "sign",
        "due": "2026-05-06T12:00:00+08:00",  # 2 working hours after 10:00 on a Wednesday
        "span": "2h",
        "clock": "working",
    }
    assert [d["stage"] for d in body["deadlines"]] == ["sign", "handle", "verify"]
    assert body["near_border"] == {"cells": [], "distance_m": None}
    assert reply.headers["Location"] == f"/api/v1/cases/{body['case_id']}"
    case = store.case(body["case_id"])
    assert (case.cell, case.category, case.description) == (
        OWN_CELL,
        "street_vending",
        REPORT["description"],
    )
    assert case.reporter == operator_id()
    verification = store.verify_ledger()
    assert verification.ok
    assert verification.count == 1


def test_the_reply_routes_exactly_as_the_domain_does(
    client: FlaskClient, operator: dict[str, str]
) -> None:
    expected = route_incident(
        tiny_context(), category="street_vending", at=FIXED, **IN_OWN_CELL
    ).to_dict()

    body = client.post(URL, json=REPORT, headers=operator).get_json()

    for key in ("queue", "cell_path", "responsible", "deadlines", "near_border"):
        assert body[key] == expected[key], key


def test_report_numbers_count_up(client: FlaskClient, operator: dict[str, str]) -> None:
    numbers = [client.post(URL, json=REPORT, headers=operator).get_json()["number"] for _ in "abc"]

    assert numbers == [1, 2, 3]


def test_an_operators_report_outside_the_grid_is_kept_in_the_out_of_grid_queue(
    client: FlaskClient, store: Store, operator: dict[str, str]
) -> None:
    reply = client.post(URL, json={**REPORT, **OUT_OF_GRID}, headers=operator)

    assert reply.status_code == 201, reply.get_data(as_text=True)
    body = reply.get_json()
    assert body["queue"] == "out_of_grid"
    assert body["cell_path"] is None
    assert body["responsible"]["post"] == COMMAND_CENTER.key
    case = store.case(body["case_id"])
    assert case.cell is None
    assert store.count_cases() == 1


def test_a_workers_report_inside_his_own_cell_is_accepted(
    client: FlaskClient, store: Store, worker: dict[str, str]
) -> None:
    reply = client.post(URL, json=REPORT, headers=worker)

    assert reply.status_code == 201, reply.get_data(as_text=True)
    assert reply.get_json()["cell_path"]["tier3"] == OWN_CELL
    assert store.case(reply.get_json()["case_id"]).reporter == worker_id()


@pytest.mark.parametrize("where", [IN_FAR_CELL, OUT_OF_GRID], ids=["other-cell", "out-of-grid"])
def test_a_workers_report_outside_his_cells_is_forbidden_and_stores_nothing(
    client: FlaskClient, store: Store, worker: dict[str, str], where: dict[str, float]
) -> None:
    before = snapshot(store)

    reply = client.post(URL, json={**REPORT, **where}, headers=worker)

    assert reply.status_code == 403
    assert "outside your cells" in error_message(reply)
    assert snapshot(store) == before


def test_the_bearer_scheme_is_case_insensitive(shared: Shared) -> None:
    client, store, _ = shared
    token = token_for(store, operator_id())

    reply = client.post(URL, json=REPORT, headers={"Authorization": f"bearer {token}"})

    assert reply.status_code == 201


# -- authentication -------------------------------------------------------------------------


def assert_unauthorized(reply: TestResponse) -> str:
    assert reply.status_code == 401, reply.get_data(as_text=True)
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    return error_message(reply)


def test_no_authorization_header_is_401_with_a_bearer_challenge(shared: Shared) -> None:
    client, store, _ = shared
    before = snapshot(store)

    reply = client.post(URL, json=REPORT)

    assert "Bearer" in assert_unauthorized(reply)
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-token",
        "Bearer gm_0123456789abcdef_",
        "Bearer gm_XYZ_" + "a" * 40,
        "Bearer gm_0123456789abcdef_" + "a" * 43,  # well-formed but unknown
    ],
    ids=["no-token", "empty-token", "basic", "garbage", "no-secret", "bad-id", "unknown"],
)
def test_a_missing_malformed_or_unknown_token_is_401(shared: Shared, header: str) -> None:
    client, store, _ = shared
    before = snapshot(store)

    reply = client.post(URL, json=REPORT, headers={"Authorization": header})

    assert_unauthorized(reply)
    assert snapshot(store) == before


def test_a_right_id_with_a_wrong_secret_is_401(shared: Shared) -> None:
    client, store, _ = shared
    token = token_for(store, operator_id())
    forged = token[:-4] + ("bbbb" if token.endswith("aaaa") else "aaaa")
    before = snapshot(store)

    reply = client.post(URL, json=REPORT, headers=bearer(forged))

    assert "unknown credential" in assert_unauthorized(reply)
    assert snapshot(store) == before


def test_an_expired_token_is_401_and_says_so(store: Store, tmp_path: Path) -> None:
    token = token_for(store, operator_id(), days=1)
    later = make_app(store, tmp_path, now=FIXED + timedelta(days=2)).test_client()

    reply = later.post(URL, json=REPORT, headers=bearer(token))

    assert "expired" in assert_unauthorized(reply)
    assert store.count_cases() == 0


def test_a_token_still_works_the_day_before_it_expires(store: Store, tmp_path: Path) -> None:
    token = token_for(store, operator_id(), days=3)
    client = make_app(store, tmp_path, now=FIXED + timedelta(days=2)).test_client()

    assert client.post(URL, json=REPORT, headers=bearer(token)).status_code == 201


def test_a_revoked_token_is_401_and_says_so(client: FlaskClient, store: Store) -> None:
    token = token_for(store, operator_id())
    assert client.post(URL, json=REPORT, headers=bearer(token)).status_code == 201
    assert store.revoke_credential(token[3:19], now=FIXED)

    reply = client.post(URL, json=REPORT, headers=bearer(token))

    assert "revoked" in assert_unauthorized(reply)
    assert store.count_cases() == 1


def test_an_api_key_is_not_a_bearer_token(client: FlaskClient, store: Store) -> None:
    key = store.create_credential(kind="apikey", subject="hotline", now=FIXED, days=30)

    reply = client.post(URL, json=REPORT, headers=bearer(key))

    assert_unauthorized(reply)
    assert store.count_cases() == 0


def test_a_token_of_someone_no_longer_on_the_roster_is_forbidden(
    client: FlaskClient, store: Store
) -> None:
    token = token_for(store, "P99999")

    reply = client.post(URL, json=REPORT, headers=bearer(token))

    assert reply.status_code == 403
    assert "P99999" in error_message(reply)
    assert store.count_cases() == 0


# -- input safety ---------------------------------------------------------------------------


def post_raw(client: FlaskClient, headers: dict[str, str], data: str | bytes) -> TestResponse:
    return client.post(URL, data=data, content_type="application/json", headers=headers)


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ('{"lon": NaN, "lat": 31.9, "category": "street_vending", "description": "x"}', "lon"),
        (
            '{"lon": 120.1, "lat": Infinity, "category": "street_vending", "description": "x"}',
            "lat",
        ),
        (
            '{"lon": -Infinity, "lat": 31.9, "category": "street_vending", "description": "x"}',
            "lon",
        ),
        ('{"lon": 1e400, "lat": 31.9, "category": "street_vending", "description": "x"}', "lon"),
    ],
    ids=["nan", "infinity", "minus-infinity", "overflow"],
)
def test_non_finite_coordinates_are_refused_naming_the_field(
    shared: Shared, raw: str, hint: str
) -> None:
    client, store, operator = shared
    before = snapshot(store)

    reply = post_raw(client, operator, raw)

    assert reply.status_code == 400
    message = error_message(reply)
    assert hint in message
    assert "finite" in message
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"lon": 200}, "lon", "less than or equal to 180"),
        ({"lon": -180.5}, "lon", "greater than or equal to -180"),
        ({"lat": -200}, "lat", "greater than or equal to -90"),
        ({"lat": 120.0625, "lon": 31.9375}, "lat", "swapped"),
        ({"lat": -120}, "lat", "swapped"),
        ({"lon": "east"}, "lon", "must be a JSON number"),
        ({"lon": None}, "lon", "must be a JSON number"),
        ({"description": ""}, "description", "at least 1 character"),
        ({"description": "   \n\t "}, "description", "at least 1 character"),
        ({"description": "x" * 2001}, "description", "at most 2000 characters"),
        ({"description": 42}, "description", "valid string"),
        ({"category": ""}, "category", "at least 1 character"),
        ({"datum": "osgb36"}, "datum", "wgs84"),
        ({"priority": "urgent"}, "priority", "Extra inputs are not permitted"),
    ],
    ids=[
        "lon-200",
        "lon-below-range",
        "lat-below-range",
        "swapped",
        "swapped-negative",
        "lon-text",
        "lon-null",
        "empty-description",
        "blank-description",
        "oversized-description",
        "description-number",
        "empty-category",
        "unknown-datum",
        "unknown-field",
    ],
)
def test_a_bad_field_is_400_naming_the_field_and_the_fix_and_stores_nothing(
    shared: Shared, change: dict[str, Any], field: str, words: str
) -> None:
    client, store, operator = shared
    before = snapshot(store)

    reply = client.post(URL, json={**REPORT, **change}, headers=operator)

    assert reply.status_code == 400
    message = error_message(reply)
    assert f"{field}: " in message
    assert words in message
    assert field in [f["field"] for f in reply.get_json()["error"]["fields"]]
    assert snapshot(store) == before


@pytest.mark.parametrize("missing", ["lon", "lat", "category", "description"])
def test_a_missing_field_is_named(shared: Shared, missing: str) -> None:
    client, store, operator = shared
    before = snapshot(store)

    body = {k: v for k, v in REPORT.items() if k != missing}

    reply = client.post(URL, json=body, headers=operator)

    assert reply.status_code == 400
    assert f"{missing}: Field required" in error_message(reply)
    assert snapshot(store) == before


def test_a_description_of_exactly_2000_characters_is_accepted(
    client: FlaskClient, store: Store, operator: dict[str, str]
) -> None:
    reply = client.post(URL, json={**REPORT, "description": "井" * 2000}, headers=operator)

    assert reply.status_code == 201
    assert store.case(reply.get_json()["case_id"]).description == "井" * 2000


def test_an_unknown_category_is_400_and_suggests_the_close_one(shared: Shared) -> None:
    client, store, operator = shared
    before = snapshot(store)

    reply = client.post(URL, json={**REPORT, "category": "street_vendng"}, headers=operator)

    assert reply.status_code == 400
    message = error_message(reply)
    assert "street_vendng" in message
    assert "did you mean street_vending" in message
    assert snapshot(store) == before


def test_a_form_encoded_body_is_415(shared: Shared) -> None:
    client, store, operator = shared
    before = snapshot(store)

    reply = client.post(URL, data={k: str(v) for k, v in REPORT.items()}, headers=operator)

    assert reply.status_code == 415
    assert "Content-Type: application/json" in error_message(reply)
    assert snapshot(store) == before


def test_json_sent_as_plain_text_is_415(shared: Shared) -> None:
    client, store, operator = shared
    before = snapshot(store)

    reply = client.post(URL, data=json.dumps(REPORT), content_type="text/plain", headers=operator)

    assert reply.status_code == 415
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "raw",
    ['{"lon": 120.06, "lat": 31.93,', "", "null", "[]", json.dumps([REPORT]), '"a report"', "42"],
    ids=["truncated", "empty", "null", "empty-array", "array", "string", "number"],
)
def test_a_body_that_is_not_a_json_object_is_400(shared: Shared, raw: str) -> None:
    client, store, operator = shared
    before = snapshot(store)

    reply = post_raw(client, operator, raw)

    assert reply.status_code == 400
    assert "not a JSON object" in error_message(reply)
    assert snapshot(store) == before


def test_a_body_over_64_kib_is_413_and_stores_nothing(shared: Shared) -> None:
    client, store, operator = shared
    before = snapshot(store)

    raw = json.dumps({**REPORT, "description": "x" * (MAX_BODY + 1)})

    reply = post_raw(client, operator, raw)

    assert reply.status_code == 413
    assert str(MAX_BODY) in error_message(reply)
    assert snapshot(store) == before


def test_a_deeply_nested_body_under_the_size_limit_is_a_400_not_a_500(shared: Shared) -> None:
    client, store, operator = shared
    before = snapshot(store)

    raw = "[" * 20_000 + "]" * 20_000
    assert len(raw) < MAX_BODY

    reply = post_raw(client, operator, raw)

    assert reply.status_code == 400
    assert snapshot(store) == before


def test_booleans_are_not_coordinates(shared: Shared) -> None:
    client, store, operator = shared
    before = snapshot(store)

    reply = client.post(URL, json={**REPORT, "lon": True, "lat": False}, headers=operator)

    assert reply.status_code == 400
    assert snapshot(store) == before


def test_a_nul_character_in_the_description_is_never_a_500(
    client: FlaskClient, store: Store, operator: dict[str, str]
) -> None:
    reply = client.post(URL, json={**REPORT, "description": "a\x00b"}, headers=operator)

    assert reply.status_code < 500
    if reply.status_code == 201:
        assert store.case(reply.get_json()["case_id"]).description == "a\x00b"
    else:
        assert reply.status_code == 400
        assert store.count_cases() == 0


# -- citizen text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    [
        "<script>alert(1)</script>",
        "'; DROP TABLE cases; --",
        '井盖 <b>丢失</b> & "quotes" 🚧',
    ],
    ids=["script", "sql", "markup-and-emoji"],
)
def test_citizen_text_is_stored_byte_for_byte_and_answered_as_json(
    client: FlaskClient, store: Store, operator: dict[str, str], description: str
) -> None:
    reply = client.post(URL, json={**REPORT, "description": description}, headers=operator)

    assert reply.status_code == 201
    assert reply.headers["Content-Type"] == "application/json"
    assert store.case(reply.get_json()["case_id"]).description == description
    assert store.verify_ledger().ok


def test_error_bodies_are_json_too(shared: Shared) -> None:
    client, _, _ = shared
    for reply in (client.post(URL, json=REPORT), client.get("/api/v1/nothing-here")):
        assert reply.headers["Content-Type"] == "application/json"
        error_message(reply)


# -- any body at all ------------------------------------------------------------------------

CATEGORIES = list(tiny_context().catalog.codes)[:5]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=60)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
report_shaped = st.fixed_dictionaries(
    {
        "lon": json_values | st.floats(min_value=119.9, max_value=120.6),
        "lat": json_values | st.floats(min_value=31.4, max_value=32.1),
        "category": json_values | st.sampled_from(CATEGORIES),
        "description": json_values | st.text(min_size=1, max_size=80),
    },
    optional={"datum": json_values | st.sampled_from(["wgs84", "gcj02", "bd09"])},
)


@settings(max_examples=50, deadline=None)
@given(body=json_values | report_shaped)
def test_no_json_body_makes_a_5xx_and_every_refusal_says_why(shared: Shared, body: object) -> None:
    client, _, operator = shared

    reply = client.post(
        URL, data=json.dumps(body), content_type="application/json", headers=operator
    )

    assert reply.status_code < 500, reply.get_data(as_text=True)
    if reply.status_code == 201:
        assert re.fullmatch(r"[0-9a-f]{32}", reply.get_json()["case_id"])
    else:
        assert 400 <= reply.status_code < 500
        error_message(reply)
