"""The Open311 GeoReport v2 server ``/open311/v2``: spec conformance of writes and errors, reads
through the ``georeport`` client from PyPI, XML and JSON alike (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests
from defusedxml import ElementTree as SafeET
from flask.testing import FlaskClient
from flask_openapi3 import OpenAPI
from georeport import GeoReport
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from gridmgr.api import create_app
from gridmgr.api.open311 import COMMAND_CENTER_NAME
from gridmgr.cases import Action, Actor, Role, open_case
from gridmgr.intake.open311 import MAX_RECORDS
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER
from gridmgr.responsibility.routing import RoutingContext, route_incident
from gridmgr.services.actions import act
from gridmgr.services.reports import Ingestor
from gridmgr.settings import Settings
from gridmgr.store import Store, new_case_id, open_store
from tests.builders import app_services, tiny_context, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)  # a Wednesday morning, working time
ROOT = "/open311/v2"
CELL = "320281001001001"  # the NW corner cell of the tiny grid
IN_CELL = {"lat": "31.9375", "long": "120.0625"}  # its centre
OUT_OF_GRID = {"lat": "31.7", "long": "121.0"}
REPORT = {"service_code": "street_vending", **IN_CELL, "description": "桥下有人占道经营"}
CONTACT = {
    "email": "zhang.san@example.com",
    "first_name": "Sanmu-contact",
    "last_name": "Zhangfake-contact",
    "phone": "13800000000",
    "device_id": "device-42",
    "account_id": "acct-7",
}


class Served(NamedTuple):
    """An app with the Open311 blueprint, its store and routing context, and a partner's key."""

    app: OpenAPI
    client: FlaskClient
    store: Store
    context: RoutingContext
    api_key: str


def make_app(store: Store, context: RoutingContext, data_dir: Path) -> tuple[OpenAPI, Ingestor]:
    settings = Settings(data_dir=data_dir)
    services = app_services(store, settings, context, clock=lambda: FIXED)
    app = create_app(settings, context.grid, tiny_roster(), services=services)
    assert isinstance(app, OpenAPI)
    ingestor = services.ingestor
    assert ingestor is not None
    assert "open311" in app.blueprints  # create_app mounts Open311 beside the native API
    return app, ingestor


def new_api_key(
    store: Store, *, subject: str = "hotline", days: int = 30, scope: str = "public"
) -> str:
    return store.create_credential(
        kind="apikey", subject=subject, now=FIXED, days=days, scope=scope
    )


@pytest.fixture(scope="module")
def context() -> RoutingContext:
    """The tiny grid's routing context (read-only, so shared by the module's tests)."""
    return tiny_context()


@pytest.fixture
def served(store: Store, context: RoutingContext, tmp_path: Path) -> Iterator[Served]:
    """The app over an empty store, on each backend."""
    app, ingestor = make_app(store, context, tmp_path)
    try:
        yield Served(app, app.test_client(), store, context, new_api_key(store))
    finally:
        ingestor.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, context: RoutingContext) -> Iterator[Served]:
    """One SQLite app for the whole module: for calls refused before the store is touched (each
    test compares the store before and after) and for calls that read no case."""
    folder = tmp_path_factory.mktemp("open311")
    store = open_store(f"sqlite:///{folder / 'gridmgr.sqlite'}", create=True)
    app, ingestor = make_app(store, context, folder)
    try:
        yield Served(app, app.test_client(), store, context, new_api_key(store))
    finally:
        ingestor.close()
        store.close()


@contextmanager
def serving(app: OpenAPI) -> Iterator[str]:
    """The Open311 root of ``app`` served over real HTTP on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("NO_PROXY", "127.0.0.1,localhost")  # loopback, never via a proxy
            yield f"http://127.0.0.1:{server.server_port}{ROOT}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def base_url(served: Served) -> Iterator[str]:
    with serving(served.app) as url:
        yield url


@pytest.fixture(scope="module")
def shared_url(shared: Served) -> Iterator[str]:
    with serving(shared.app) as url:
        yield url


def post(served: Served, fmt: str = "json", **fields: str) -> TestResponse:
    data = {"api_key": served.api_key, **REPORT, **fields}
    return served.client.post(f"{ROOT}/requests.{fmt}", data=data)


def created_id(reply: TestResponse) -> str:
    assert reply.status_code == 200, reply.get_data(as_text=True)
    body = reply.get_json()
    assert isinstance(body, list)
    assert len(body) == 1
    assert set(body[0]) == {"service_request_id", "service_notice", "account_id"}
    case_id = body[0]["service_request_id"]
    assert isinstance(case_id, str)
    return case_id


def spec_errors(reply: TestResponse) -> list[str]:
    """The descriptions of a spec error body (JSON list or XML ``<errors>``), each checked to
    carry the reply's status as its code."""
    if reply.mimetype == "text/xml":
        root = SafeET.fromstring(reply.data)
        assert root.tag == "errors"
        pairs = [(e.findtext("code"), e.findtext("description")) for e in root.findall("error")]
        codes, descriptions = [int(c or 0) for c, _ in pairs], [d or "" for _, d in pairs]
    else:
        assert reply.mimetype == "application/json", reply.get_data(as_text=True)
        body = reply.get_json()
        assert isinstance(body, list)
        assert all(set(e) == {"code", "description"} for e in body)
        codes, descriptions = [e["code"] for e in body], [e["description"] for e in body]
    assert descriptions
    assert all(code == reply.status_code for code in codes)
    assert all(descriptions)
    return descriptions


def snapshot(store: Store) -> tuple[int, int | None]:
    """How many cases, and the ledger's head: unchanged means nothing was stored."""
    head = store.ledger_head()
    return store.count_cases(), None if head is None else head.seq


def seed(
    store: Store,
    context: RoutingContext,
    count: int,
    *,
    at: datetime,
    category: str = "street_vending",
    lat: float = 31.9375,
    lon: float = 120.0625,
) -> list[str]:
    """Open ``count`` cases reported at ``at`` in one transaction; their ids."""
    decision = route_incident(context, category=category, at=at, lon=lon, lat=lat)
    opened = [
        open_case(
            case_id=new_case_id(),
            decision=decision,
            reporter=Actor("apikey:seed", Role.PARTNER, "seed"),
            description=f"种子案件 {i}",
            at=at,
        )
        for i in range(count)
    ]
    store.report_opened([(case, event, decision) for case, event in opened])
    return [case.case_id for case, _ in opened]


def operator() -> Actor:
    person = tiny_roster().owner(COMMAND_CENTER, FIXED)
    assert person is not None
    return Actor(person.person_id, Role.OPERATOR, person.name)


def get_requests(served: Served, fmt: str = "json", **query: str) -> TestResponse:
    return served.client.get(f"{ROOT}/requests.{fmt}", query_string=query)


def request_list(reply: TestResponse) -> list[dict[str, Any]]:
    assert reply.status_code == 200, reply.get_data(as_text=True)
    body = reply.get_json()
    assert isinstance(body, list)
    return body


def xml_requests(reply: TestResponse) -> list[dict[str, Any]]:
    """The ``<request>`` elements of an XML reply as dicts of text (nested ones as dicts)."""
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.mimetype == "text/xml"
    root = SafeET.fromstring(reply.data)
    assert root.tag == "service_requests"

    def to_dict(element: Any) -> Any:
        if element.tag == "notes":  # a list: one <note> per item
            return [to_dict(c) for c in element] or None
        return {c.tag: to_dict(c) if len(c) or c.tag == "notes" else c.text for c in element}

    return [to_dict(r) for r in root.findall("request")]


def as_xml_text(value: Any) -> Any:
    """A JSON value as the XML reply writes it (``None`` → no text, numbers as text)."""
    if isinstance(value, dict):
        return {k: as_xml_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_xml_text(v) for v in value] or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- POST requests: writes -------------------------------------------------------------------


def test_a_form_encoded_report_opens_a_case_reported_by_the_partner(served: Served) -> None:
    reply = post(served)

    case = served.store.case(created_id(reply))
    assert reply.mimetype == "application/json"
    assert (case.category, case.cell, case.description) == (
        "street_vending",
        CELL,
        REPORT["description"],
    )
    assert (case.lat, case.lon) == (31.9375, 120.0625)
    credential = served.store.check_credential(served.api_key, now=FIXED, kind="apikey")
    assert case.reporter == f"apikey:{credential.token_id}"
    trail = served.store.trail(case.case_id)
    assert [e.action for e in trail] == ["report"]
    assert trail[0].ledger.actor == f"apikey:{credential.token_id}"
    assert served.store.verify_ledger().ok


def test_the_reply_is_a_one_element_list_with_the_case_number_as_notice(served: Served) -> None:
    body = post(served).get_json()

    assert body[0]["account_id"] is None
    assert "案件编号 1" in body[0]["service_notice"]


def test_a_report_in_xml_answers_a_service_requests_document(served: Served) -> None:
    reply = post(served, "xml")

    assert reply.status_code == 200
    assert reply.content_type == "text/xml; charset=utf-8"
    root = SafeET.fromstring(reply.data)
    assert root.tag == "service_requests"
    (request,) = root.findall("request")
    case_id = request.findtext("service_request_id")
    assert case_id is not None
    assert served.store.case(case_id).category == "street_vending"
    assert request.find("account_id") is not None


def test_a_report_outside_the_territory_is_accepted_into_the_out_of_grid_queue(
    served: Served,
) -> None:
    reply = post(served, **OUT_OF_GRID)

    case = served.store.case(created_id(reply))
    assert case.cell is None
    assert (case.lat, case.lon) == (31.7, 121.0)
    assert "不在网格范围内" in reply.get_json()[0]["service_notice"]


def test_contact_details_are_not_stored_anywhere_in_the_case_or_the_ledger(
    served: Served,
) -> None:
    reply = post(served, **CONTACT, media_url="https://example.com/photo.jpg")

    case_id = created_id(reply)
    stored = repr(served.store.case(case_id)) + repr(served.store.trail(case_id))
    for value in CONTACT.values():
        assert value not in stored
    assert "未保存" in reply.get_json()[0]["service_notice"]
    # the media link is kept in the case's trail for the operators (it is never fetched)
    assert served.store.trail(case_id)[0].details["media_url"] == "https://example.com/photo.jpg"


def test_a_report_without_description_gets_the_service_name(served: Served) -> None:
    reply = post(served, description="")

    assert "占道经营" in served.store.case(created_id(reply)).description


def test_line_breaks_in_a_description_are_kept_as_newlines(served: Served) -> None:
    reply = post(served, description="第一行\r\n第二行")

    assert served.store.case(created_id(reply)).description == "第一行\n第二行"


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("api_key", "expected"),
    [
        (None, "api_key was not provided"),
        ("", "api_key was not provided"),
        ("not-a-key", "malformed"),
        ("gm_0123456789abcdef_" + "x" * 43, "unknown credential"),
    ],
    ids=["absent", "empty", "malformed", "unknown"],
)
def test_a_missing_or_invalid_api_key_is_refused_403_and_nothing_is_stored(
    shared: Served, fmt: str, api_key: str | None, expected: str
) -> None:
    before = snapshot(shared.store)
    data = dict(REPORT) if api_key is None else {**REPORT, "api_key": api_key}

    reply = shared.client.post(f"{ROOT}/requests.{fmt}", data=data)

    assert reply.status_code == 403
    assert expected in spec_errors(reply)[0]
    assert snapshot(shared.store) == before


def test_a_revoked_api_key_is_refused_403(shared: Served) -> None:
    before = snapshot(shared.store)
    key = new_api_key(shared.store)
    assert shared.store.revoke_credential(key.split("_")[1], now=FIXED)

    reply = shared.client.post(f"{ROOT}/requests.json", data={**REPORT, "api_key": key})

    assert reply.status_code == 403
    assert "revoked" in spec_errors(reply)[0]
    assert snapshot(shared.store) == before


def test_a_personal_token_is_not_an_api_key(shared: Served) -> None:
    before = snapshot(shared.store)
    person = shared.store.create_credential(
        kind="person", subject=operator().actor_id, now=FIXED, days=30
    )

    reply = shared.client.post(f"{ROOT}/requests.json", data={**REPORT, "api_key": person})

    assert reply.status_code == 403
    spec_errors(reply)
    assert snapshot(shared.store) == before


def test_an_api_key_in_the_url_is_refused_so_it_never_reaches_a_log(shared: Served) -> None:
    before = snapshot(shared.store)
    reply = shared.client.post(
        f"{ROOT}/requests.json", query_string={"api_key": shared.api_key}, data=REPORT
    )

    assert reply.status_code == 403
    assert "form body" in spec_errors(reply)[0]
    assert snapshot(shared.store) == before


def test_a_browser_with_a_session_cookie_but_no_api_key_cannot_create_a_request(
    shared: Served,
) -> None:
    """A cross-site form posted from a logged-in browser carries cookies, never the api_key."""
    before = snapshot(shared.store)
    browser = shared.app.test_client()
    browser.set_cookie("session", "a-logged-in-operator", domain="localhost")

    reply = browser.post(
        f"{ROOT}/requests.json",
        data=REPORT,
        headers={"Origin": "https://evil.example", "Referer": "https://evil.example/form"},
    )

    assert reply.status_code == 403
    spec_errors(reply)
    assert snapshot(shared.store) == before


def test_a_json_body_is_refused_400_because_the_spec_posts_a_form(shared: Served) -> None:
    before = snapshot(shared.store)
    reply = shared.client.post(f"{ROOT}/requests.json", json={**REPORT, "api_key": shared.api_key})

    assert reply.status_code == 400
    assert "x-www-form-urlencoded" in spec_errors(reply)[0]
    assert snapshot(shared.store) == before


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_service_code_is_refused_404_in_the_spec_format(
    shared: Served, fmt: str
) -> None:
    before = snapshot(shared.store)
    reply = post(shared, fmt, service_code="no_such_service")

    assert reply.status_code == 404
    assert "no_such_service" in spec_errors(reply)[0]
    assert snapshot(shared.store) == before


def test_a_missing_service_code_is_refused_400(shared: Served) -> None:
    reply = post(shared, service_code="")

    assert reply.status_code == 400
    assert spec_errors(reply) == ["service_code was not provided"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"lat": "nan"}, "lat: Input should be a finite number"),
        ({"long": "inf"}, "long: Input should be a finite number"),
        ({"lat": "-200"}, "lat: Input should be greater than or equal to -90"),
        ({"long": "180.5"}, "long: Input should be less than or equal to 180"),
        ({"lat": "north"}, "lat: Input should be a valid number"),
        ({"lat": "120.0625", "long": "31.9375"}, "swapped"),
        ({"long": ""}, "a coordinate is needed"),
        ({"lat": "", "long": "", "address_string": "虹桥北路1号"}, "cannot be placed"),
        ({"lat": "", "long": "", "address_id": "A-1"}, "cannot be placed"),
    ],
)
def test_bad_or_missing_coordinates_are_refused_400(
    shared: Served, fields: dict[str, str], expected: str
) -> None:
    before = snapshot(shared.store)
    reply = post(shared, "xml", **fields)

    assert reply.status_code == 400
    assert any(expected in d for d in spec_errors(reply)), spec_errors(reply)
    assert snapshot(shared.store) == before


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"description": "长" * 2001}, "description: String should have at most 2000"),
        ({"description": "bell\x07"}, "description: contains control characters"),
        ({"email": "a" * 300}, "email: String should have at most 254"),
        ({"first_name": "张\n三"}, "first_name: contains control characters or line breaks"),
        ({"media_url": "javascript:alert(1)"}, "media_url: must be an http"),
    ],
)
def test_oversized_or_unsafe_fields_are_refused_400(
    shared: Served, fields: dict[str, str], expected: str
) -> None:
    before = snapshot(shared.store)
    reply = post(shared, **fields)

    assert reply.status_code == 400
    assert any(d.startswith(expected) for d in spec_errors(reply)), spec_errors(reply)
    assert snapshot(shared.store) == before


def test_every_problem_of_a_form_is_listed_as_its_own_error(shared: Served) -> None:
    reply = post(shared, lat="nan", long="999", description="\x00")

    assert [d.split(":")[0] for d in spec_errors(reply)] == ["lat", "long", "description"]


def test_a_body_over_the_limit_is_refused_413_in_the_spec_format(shared: Served) -> None:
    before = snapshot(shared.store)
    reply = post(shared, description="x" * (70 * 1024))

    assert reply.status_code == 413
    spec_errors(reply)
    assert snapshot(shared.store) == before


def test_another_jurisdiction_is_not_found(shared: Served) -> None:
    before = snapshot(shared.store)
    reply = post(shared, jurisdiction_id="sfgov.org")

    assert reply.status_code == 404
    assert "jurisdiction_id" in spec_errors(reply)[0]
    assert snapshot(shared.store) == before


def test_our_own_jurisdiction_is_accepted(served: Served) -> None:
    created_id(post(served, jurisdiction_id="320281"))


# -- errors keep to their blueprint --------------------------------------------------------


@pytest.mark.parametrize("path", ["/requests.csv", "/nothing/here.xml", "/"])
def test_unknown_calls_under_the_prefix_answer_404_in_the_spec_format(
    shared: Served, path: str
) -> None:
    reply = shared.client.get(ROOT + path)

    assert reply.status_code == 404
    assert "discovery.json" in spec_errors(reply)[0]


def test_the_native_api_keeps_its_own_error_format(shared: Served) -> None:
    reply = shared.client.get("/api/v1/cases")

    assert reply.status_code == 401
    assert set(reply.get_json()) == {"error"}


def test_tokens_are_not_used_so_a_token_is_not_found(shared: Served) -> None:
    for fmt in ("json", "xml"):
        reply = shared.client.get(f"{ROOT}/tokens/12345.{fmt}")

        assert reply.status_code == 404
        assert "synchronously" in spec_errors(reply)[0]


def test_the_openapi_document_lists_every_open311_call(shared: Served) -> None:
    paths = shared.client.get("/api/openapi.json").get_json()["paths"]

    assert {p for p in paths if p.startswith(ROOT)} == {
        f"{ROOT}/discovery.{{format}}",
        f"{ROOT}/services.{{format}}",
        f"{ROOT}/services/{{service_code}}.{{format}}",
        f"{ROOT}/requests.{{format}}",
        f"{ROOT}/requests/{{service_request_id}}.{{format}}",
        f"{ROOT}/tokens/{{token}}.{{format}}",
    }
    post_body = paths[f"{ROOT}/requests.{{format}}"]["post"]["requestBody"]["content"]
    assert set(post_body) == {"application/x-www-form-urlencoded"}


# -- discovery and services ------------------------------------------------------------------


def test_discovery_names_the_spec_this_endpoint_and_both_formats(shared: Served) -> None:
    body = shared.client.get(f"{ROOT}/discovery.json").get_json()
    root = SafeET.fromstring(shared.client.get(f"{ROOT}/discovery.xml").data)

    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == f"http://localhost{ROOT}"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert root.tag == "discovery"
    assert root.findtext("endpoints/endpoint/url") == endpoint["url"]
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]


def test_the_georeport_client_lists_the_catalog_as_services(
    shared_url: str, shared: Served
) -> None:
    client = GeoReport(shared_url, jurisdiction="320281")
    catalog = shared.context.catalog

    services = client.get_service_list()
    in_xml = GeoReport(shared_url, output_format="xml").get_service_list()

    assert [s["service_code"] for s in services] == list(catalog.codes)
    vending = next(s for s in services if s["service_code"] == "street_vending")
    category = catalog.category("street_vending")
    assert vending["service_name"] == category.name_zh == "占道经营"
    assert vending["metadata"] is False
    assert vending["type"] == "realtime"
    assert vending["group"] == category.group.label_zh
    assert vending["keywords"] == ", ".join(category.keywords)
    assert [as_xml_text(s) for s in services] == in_xml


def test_the_georeport_client_gets_404_for_an_unknown_service_definition(
    shared_url: str,
) -> None:
    client = GeoReport(shared_url)

    with pytest.raises(requests.HTTPError) as raised:
        client.get_service_definition("no_such_service")

    assert raised.value.response is not None
    assert raised.value.response.status_code == 404
    assert raised.value.response.json()[0]["code"] == 404


def test_a_service_definition_lists_no_attributes(shared_url: str) -> None:
    assert GeoReport(shared_url).get_service_definition("street_vending") == {
        "service_code": "street_vending",
        "attributes": [],
    }
    in_xml = GeoReport(shared_url, output_format="xml").get_service_definition("street_vending")
    assert in_xml == {"service_code": "street_vending", "attributes": None}


# -- GET requests: reads ---------------------------------------------------------------------


def test_the_georeport_client_reads_back_a_request_as_it_was_reported(
    base_url: str, served: Served
) -> None:
    case_id = created_id(post(served))
    client = GeoReport(base_url, jurisdiction="320281")

    listed = client.get_service_requests()
    one = client.get_service_request(case_id)

    assert listed == [one]
    assert one == {
        "service_request_id": case_id,
        "status": "open",
        "status_notes": "上报",
        "service_name": "占道经营",
        "service_code": "street_vending",
        "description": REPORT["description"],
        "agency_responsible": one["agency_responsible"],
        # the report waits at 立案, on the command center's 30-working-minute clock
        "service_notice": "立案时限 2026-05-06T10:30:00+08:00",
        "requested_datetime": "2026-05-06T10:00:00+08:00",
        "updated_datetime": "2026-05-06T10:00:00+08:00",
        "expected_datetime": "2026-05-06T10:30:00+08:00",
        "address": f"cell {CELL}, cell {CELL[:12]}, cell {CELL[:9]}",
        "address_id": None,
        "zipcode": None,
        # the public reads the place rounded to about 100 m (gridmgr.privacy.coarsen)
        "lat": 31.938,
        "long": 120.062,
        "media_url": None,
    }
    unit = route_incident(
        served.context, category="street_vending", at=FIXED, cell=CELL
    ).handling.unit
    assert unit is not None
    assert one["agency_responsible"] == unit.name


def test_the_georeport_client_reads_the_same_request_in_xml(base_url: str, served: Served) -> None:
    case_id = created_id(post(served))

    in_json = GeoReport(base_url).get_service_request(case_id)
    in_xml = GeoReport(base_url, output_format="xml").get_service_request(case_id)

    assert in_xml == as_xml_text(in_json)


def test_the_georeport_client_filters_by_status_and_service_code(
    base_url: str, served: Served
) -> None:
    vending = created_id(post(served))
    other = next(c for c in served.context.catalog.codes if c != "street_vending")
    different = created_id(post(served, service_code=other))
    client = GeoReport(base_url)

    by_code = client.get_service_requests(service_code="street_vending")
    by_both = client.get_service_requests(service_code=f"street_vending,{other}")
    closed = client.get_service_requests(status="closed")

    assert [r["service_request_id"] for r in by_code] == [vending]
    assert {r["service_request_id"] for r in by_both} == {vending, different}
    assert closed == []


def test_an_unknown_request_is_404_in_both_formats(shared: Served) -> None:
    for case_id in ("0" * 32, "not-an-id"):
        for fmt in ("json", "xml"):
            reply = shared.client.get(f"{ROOT}/requests/{case_id}.{fmt}")

            assert reply.status_code == 404
            assert case_id in spec_errors(reply)[0]


def test_xml_and_json_carry_the_same_requests(served: Served) -> None:
    created_id(post(served, description="<b>占道</b> & 摆摊 ]]>"))
    created_id(post(served, **OUT_OF_GRID))

    for query in ({}, {"extensions": "true"}):
        in_json = request_list(get_requests(served, **query))
        in_xml = xml_requests(get_requests(served, "xml", **query))

        assert in_xml == [as_xml_text(r) for r in in_json]
    assert in_json[1]["description"] == "<b>占道</b> & 摆摊 ]]>"  # text, never markup


def test_an_out_of_grid_request_is_answered_for_by_the_command_center(served: Served) -> None:
    created_id(post(served, **OUT_OF_GRID))

    (request,) = request_list(get_requests(served, extensions="true"))

    assert request["agency_responsible"] == COMMAND_CENTER_NAME
    assert request["address"] is None
    ext = request["extended_attributes"]
    assert (ext["tier1"], ext["tier2"], ext["tier3"]) == (None, None, None)


def test_reads_show_no_reporter_and_no_contact_details(served: Served) -> None:
    case_id = created_id(post(served, **CONTACT))

    text = json.dumps(request_list(get_requests(served, extensions="true")), ensure_ascii=False)
    text += served.client.get(f"{ROOT}/requests/{case_id}.xml").get_data(as_text=True)

    assert "apikey:" not in text
    assert "hotline" not in text
    for value in CONTACT.values():
        assert value not in text


def test_a_rejected_case_reads_closed_and_a_reported_one_open(served: Served) -> None:
    still_open = created_id(post(served))
    rejected = created_id(post(served))
    act(
        served.store,
        served.context,
        rejected,
        Action.REJECT,
        actor=operator(),
        at=FIXED,
        comment="不属于网格化管理事项",
    )

    every = {r["service_request_id"]: r["status"] for r in request_list(get_requests(served))}
    closed = request_list(get_requests(served, status="closed"))
    opened = request_list(get_requests(served, status="open"))
    both = request_list(get_requests(served, status="open,closed"))

    assert every == {still_open: "open", rejected: "closed"}
    assert [r["service_request_id"] for r in closed] == [rejected]
    assert [r["status_notes"] for r in closed] == ["不予立案"]
    assert [r["service_request_id"] for r in opened] == [still_open]
    assert len(both) == 2


def test_extensions_add_grid_codes_owner_full_state_and_deadline(served: Served) -> None:
    case_id = created_id(post(served))
    for action in (Action.REGISTER, Action.DISPATCH):
        act(
            served.store,
            served.context,
            case_id,
            action,
            actor=operator(),
            at=FIXED,
            comment="请网格员签收",
        )
    assignee = served.store.case(case_id).assignee
    assert assignee is not None

    partner = {"X-Api-Key": new_api_key(served.store, subject="city-app", scope="partner")}
    url = f"{ROOT}/requests/{case_id}.json"

    (plain,) = request_list(served.client.get(url))
    (extended,) = request_list(served.client.get(f"{url}?extensions=true"))
    (in_full,) = request_list(served.client.get(f"{url}?extensions=true", headers=partner))

    assert "extended_attributes" not in plain
    notes = [
        {"datetime": "2026-05-06T10:00:00+08:00", "status": "open", "status_notes": "上报"},
    ]
    assert extended["extended_attributes"] == {
        "tier1": CELL[:9],
        "tier2": CELL[:12],
        "tier3": CELL,
        "owner": {"name": None, "post": assignee.post},  # the public reads no person's name
        "state": "dispatched",
        "state_zh": "派遣",
        "deadline": "2026-05-06T12:00:00+08:00",  # sign within 2 working hours
        "notes": notes,
    }
    assert in_full["extended_attributes"]["owner"] == {
        "name": assignee.name,
        "post": assignee.post,
    }
    assert extended["expected_datetime"] == "2026-05-06T12:00:00+08:00"
    assert extended["status"] == "open"


def test_every_timestamp_is_beijing_time_with_its_offset(served: Served) -> None:
    case_id = created_id(post(served))
    act(
        served.store,
        served.context,
        case_id,
        Action.REGISTER,
        actor=operator(),
        at=(FIXED + timedelta(minutes=5)).astimezone(UTC),
        comment="立案",
    )
    seed(served.store, served.context, 1, at=(FIXED - timedelta(days=1)).astimezone(UTC))

    stamps = [
        r[k]
        for r in request_list(get_requests(served))
        for k in ("requested_datetime", "updated_datetime")
    ]

    assert len(stamps) == 4
    assert all(s.endswith("+08:00") and len(s) == 25 for s in stamps), stamps
    assert "2026-05-06T10:05:00+08:00" in stamps


def test_a_service_request_id_list_overrides_every_other_filter(served: Served) -> None:
    old = seed(served.store, served.context, 1, at=FIXED - timedelta(days=200))
    new = created_id(post(served))
    unknown = "f" * 32

    found = request_list(
        get_requests(served, service_request_id=f"{old[0]},{new},{unknown}", status="closed")
    )

    assert [r["service_request_id"] for r in found] == [old[0], new]


def test_a_malformed_service_request_id_in_a_list_is_refused_400(shared: Served) -> None:
    reply = get_requests(shared, "xml", service_request_id="abc")

    assert reply.status_code == 400
    assert "service_request_id" in spec_errors(reply)[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}, "90 days"),
        ({"start_date": "2026-05-01T00:00:00+08:00", "end_date": "2026-04-01"}, "before"),
        ({"start_date": "yesterday"}, "not an ISO 8601"),
        ({"end_date": "2026-13-01"}, "not an ISO 8601"),
        ({"status": "pending"}, "unknown status"),
        ({"service_code": "no_such_service"}, "was not found"),
        ({"service_code": "DROP TABLE"}, "not a service_code"),
        ({"extensions": "maybe"}, "extensions"),
    ],
)
def test_bad_filters_are_refused_400_never_500(
    shared: Served, query: dict[str, str], expected: str
) -> None:
    for fmt in ("json", "xml"):
        reply = get_requests(shared, fmt, **query)

        assert reply.status_code == 400
        assert expected in " ".join(spec_errors(reply))


def test_by_default_only_the_last_90_days_are_listed(served: Served) -> None:
    recent = seed(served.store, served.context, 1, at=FIXED - timedelta(days=89))
    old = seed(served.store, served.context, 1, at=FIXED - timedelta(days=91))

    default = request_list(get_requests(served))
    earlier = request_list(
        get_requests(
            served,
            start_date=(FIXED - timedelta(days=120)).isoformat(),
            end_date=(FIXED - timedelta(days=90)).isoformat(),
        )
    )

    assert [r["service_request_id"] for r in default] == recent
    assert [r["service_request_id"] for r in earlier] == old


def test_the_window_includes_its_end_date(served: Served) -> None:
    ids = seed(served.store, served.context, 1, at=FIXED - timedelta(days=3))

    found = request_list(
        get_requests(
            served,
            start_date=(FIXED - timedelta(days=4)).isoformat(),
            end_date=(FIXED - timedelta(days=3)).isoformat(),
        )
    )

    assert [r["service_request_id"] for r in found] == ids


def test_at_most_1000_requests_are_returned_newest_first(served: Served) -> None:
    seed(served.store, served.context, MAX_RECORDS, at=FIXED - timedelta(hours=2))
    newest = seed(served.store, served.context, 1, at=FIXED - timedelta(hours=1))

    found = request_list(get_requests(served))
    by_code = request_list(get_requests(served, service_code="street_vending"))

    assert len(found) == MAX_RECORDS == len(by_code)
    assert found[0]["service_request_id"] == newest[0]
    assert len({r["service_request_id"] for r in found}) == MAX_RECORDS


# -- never a 500 -----------------------------------------------------------------------------


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.dictionaries(
        st.sampled_from(
            ["service_code", "lat", "long", "description", "email", "media_url", "address_id"]
        ),
        st.text(max_size=30) | st.sampled_from(["nan", "-inf", "1e400", "31.9", "120.06", ""]),
    ),
    query=st.dictionaries(
        st.sampled_from(["start_date", "end_date", "status", "service_code", "extensions"]),
        st.text(max_size=30),
    ),
    fmt=st.sampled_from(["json", "xml"]),
)
def test_arbitrary_input_never_causes_a_500(
    shared: Served, fields: dict[str, str], query: dict[str, str], fmt: str
) -> None:
    written = shared.client.post(
        f"{ROOT}/requests.{fmt}", data={**REPORT, "api_key": shared.api_key, **fields}
    )
    read = shared.client.get(f"{ROOT}/requests.{fmt}", query_string=query)

    for reply in (written, read):
        assert reply.status_code in (200, 400, 404), reply.get_data(as_text=True)
        if reply.status_code != 200:
            spec_errors(reply)
