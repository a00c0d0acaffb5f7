"""Open311 interoperability: every JSON answer of ``/open311/v2`` validates against the Open311
community's GeoReport v2 JSON Schemas (vendored in ``tests/open311_schemas/``, CC BY 3.0), and
the independent ``georeport`` client from PyPI reads them over real HTTP (anonymous and partner
reads, paging, photos, notes)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests
from flask_openapi3 import OpenAPI
from georeport import GeoReport
from jsonschema import Draft202012Validator
from PIL import Image
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from werkzeug.serving import make_server

from gridmgr.api import create_app
from gridmgr.cases import Action, Actor, Role, open_case
from gridmgr.intake.photos import sanitize_photo
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER
from gridmgr.responsibility.routing import RoutingContext, route_incident
from gridmgr.services.actions import act
from gridmgr.services.context import Services
from gridmgr.services.photos import store_photo
from gridmgr.settings import Settings
from gridmgr.store import Store, new_case_id
from tests.builders import app_services, tiny_context, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
SCHEMAS = Path(__file__).parent / "open311_schemas"
ROOT = "/open311/v2"


def _registry() -> Registry[Any]:
    """The schemas by file name: ``requests.json`` refers to ``request.json`` by name."""
    resources = [
        (p.name, DRAFT202012.create_resource(json.loads(p.read_text("utf-8"))))
        for p in SCHEMAS.glob("*.json")
    ]
    return Registry().with_resources(resources)


REGISTRY = _registry()


def validate(name: str, body: Any) -> None:
    """Check ``body`` against the vendored schema ``name`` (e.g. ``requests.json``); the
    date-times, which the schemas give as ``format: date-time``, are parsed too."""
    schema = json.loads((SCHEMAS / name).read_text("utf-8"))
    Draft202012Validator(schema, registry=REGISTRY).validate(body)
    if name in ("requests.json", "request.json"):
        for request in body if isinstance(body, list) else [body]:
            for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
                if request.get(key) is not None:
                    assert datetime.fromisoformat(request[key]).tzinfo is not None


class World(NamedTuple):
    url: str
    store: Store
    services: Services
    partner: str
    ids: dict[str, str]


def seed(store: Store, context: RoutingContext, category: str, *, at: datetime) -> str:
    decision = route_incident(context, category=category, at=at, lon=120.0625, lat=31.9375)
    case, event = open_case(
        case_id=new_case_id(),
        decision=decision,
        reporter=Actor("apikey:seed", Role.PARTNER, "seed"),
        description="电话13812345678，3单元502室门口占道",
        at=at,
    )
    store.report_opened([(case, event, decision)])
    return case.case_id


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[World]:
    """A served app (real HTTP) with a public case with a photo, a closed public case and a
    restricted one, and a partner's api_key."""
    context = tiny_context()
    settings = Settings(data_dir=tmp_path)
    services = app_services(store, settings, context, clock=lambda: FIXED)
    app = create_app(settings, context.grid, tiny_roster(), services=services)
    assert isinstance(app, OpenAPI)
    ids = {
        "photo": seed(store, context, "street_vending", at=FIXED - timedelta(hours=3)),
        "closed": seed(store, context, "road_damage", at=FIXED - timedelta(hours=2)),
        "restricted": seed(store, context, "neighbour_dispute", at=FIXED - timedelta(hours=1)),
    }
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 30)).save(out, "JPEG")
    store_photo(services, ids["photo"], sanitize_photo(out.getvalue()), actor="test")
    person = tiny_roster().owner(COMMAND_CENTER, FIXED)
    assert person is not None
    act(
        store,
        context,
        ids["closed"],
        Action.REJECT,
        actor=Actor(person.person_id, Role.OPERATOR, person.name),
        at=FIXED - timedelta(minutes=30),
        comment="不属于网格化管理事项",
    )
    partner = store.create_credential(
        kind="apikey", subject="city-app", now=FIXED, days=30, scope="partner"
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("NO_PROXY", "127.0.0.1,localhost")
            url = f"http://127.0.0.1:{server.server_port}{ROOT}"
            yield World(url, store, services, partner, ids)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        assert services.ingestor is not None
        services.ingestor.close()


def get(world: World, path: str, headers: dict[str, str] | None = None, **query: str) -> Any:
    reply = requests.get(f"{world.url}/{path}", params=query, headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_every_json_answer_validates_against_the_open311_schemas(world: World) -> None:
    partner = {"X-Api-Key": world.partner}

    validate("services.json", get(world, "services.json"))
    validate("service-definition.json", get(world, "services/street_vending.json"))
    for headers in (None, partner):
        for query in ({}, {"extensions": "true"}, {"status": "closed"}, {"page_size": "1"}):
            validate("requests.json", get(world, "requests.json", headers, **query))
        one = get(world, f"requests/{world.ids['photo']}.json", headers, extensions="true")
        validate("requests.json", one)
    created = requests.post(
        f"{world.url}/requests.json",
        data={
            "api_key": world.partner,
            "service_code": "street_vending",
            "lat": "31.9375",
            "long": "120.0625",
            "source_id": "app-1",
            "media_url": "https://example.org/1.jpg",
        },
        timeout=10,
    )
    assert created.status_code == 200
    (reply,) = created.json()
    validate("requests.json", get(world, f"requests/{reply['service_request_id']}.json"))


def test_the_georeport_client_reads_what_the_public_may_see(world: World) -> None:
    client = GeoReport(world.url, jurisdiction="320281")

    services = client.get_service_list()
    listed = client.get_service_requests()
    one = client.get_service_request(world.ids["photo"])
    closed = client.get_service_requests(status="closed")

    validate("services.json", services)
    validate("requests.json", listed)
    validate("request.json", one)
    assert {r["service_request_id"] for r in listed} == {world.ids["photo"], world.ids["closed"]}
    assert [r["service_request_id"] for r in closed] == [world.ids["closed"]]
    assert "13812345678" not in json.dumps(listed, ensure_ascii=False)
    assert one["media_url"].startswith(world.url + "/media/")
    photo = requests.get(one["media_url"], timeout=10)
    assert photo.status_code == 200
    assert photo.headers["Content-Type"] == "image/jpeg"
    with pytest.raises(requests.HTTPError):
        client.get_service_request(world.ids["restricted"])


def test_the_georeport_client_reads_xml_that_matches_the_json(world: World) -> None:
    in_json = GeoReport(world.url).get_service_request(world.ids["closed"])
    in_xml = GeoReport(world.url, output_format="xml").get_service_request(world.ids["closed"])

    assert in_xml["service_request_id"] == in_json["service_request_id"]
    assert in_xml["description"] == in_json["description"]
    assert in_xml["lat"] == str(in_json["lat"])


def test_the_vendored_schemas_refuse_a_request_without_its_status() -> None:
    from jsonschema import ValidationError

    good = {
        "service_request_id": "1",
        "status": "open",
        "service_code": "x",
        "requested_datetime": "2026-05-06T10:00:00+08:00",
    }
    validate("requests.json", [good])
    with pytest.raises(ValidationError, match="status"):
        validate("requests.json", [{k: v for k, v in good.items() if k != "status"}])
    with pytest.raises(ValidationError):
        validate("requests.json", [{**good, "lat": "31.9"}])
