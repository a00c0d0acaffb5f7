"""What the public sees (issue #17): publication tiers, masking, coarse places, partner keys, the
access log, and Open311's paging, areas, photos and idempotent writes."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from faker import Faker
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy.exc import DBAPIError

from gridmgr.api import create_app
from gridmgr.cases import Actor, Role, open_case
from gridmgr.intake.photos import sanitize_photo
from gridmgr.privacy import coarsen, is_coarse, mask_text
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.catalog import CategoryGroup, PublicationTier
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.responsibility.routing import RoutingContext, route_incident
from gridmgr.services.context import Services
from gridmgr.services.photos import store_photo
from gridmgr.settings import Settings
from gridmgr.store import Store, new_case_id, open_store
from gridmgr.testing import simulate_activity
from tests.builders import app_services, tiny_context, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
ROOT = "/open311/v2"
CELL = "320281001001001"
CATALOG = read_catalog()
TIERS = {c.code: c.tier for c in CATALOG}
PUBLIC = next(c for c, t in TIERS.items() if t is PublicationTier.PUBLIC)
RESTRICTED = "neighbour_dispute"
CONFIDENTIAL = "medical_dispute"
# Bounded by anything but a letter, digit or decimal point: a phone number in text stands apart,
# while a random hex id (a case's, an attachment's) may hold eleven digits in a row (≈ 1 in 600).
MOBILE = re.compile(r"(?<![0-9A-Za-z.])1[3-9]\d{9}(?![0-9A-Za-z])")
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


class App(NamedTuple):
    client: FlaskClient
    store: Store
    services: Services
    context: RoutingContext


def make_app(store: Store, context: RoutingContext, data_dir: Path) -> tuple[App, Services]:
    settings = Settings(data_dir=data_dir)
    services = app_services(store, settings, context, clock=lambda: FIXED)
    app = create_app(settings, context.grid, tiny_roster(), services=services)
    return App(app.test_client(), store, services, context), services


@pytest.fixture(scope="module")
def context() -> RoutingContext:
    return tiny_context()


@pytest.fixture
def served(store: Store, context: RoutingContext, tmp_path: Path) -> Iterator[App]:
    """The app over an empty store, on each backend."""
    app, services = make_app(store, context, tmp_path)
    try:
        yield app
    finally:
        assert services.ingestor is not None
        services.ingestor.close()


def seed(
    store: Store,
    context: RoutingContext,
    category: str,
    *,
    count: int = 1,
    at: datetime = FIXED - timedelta(hours=1),
    lon: float = 120.0625,
    lat: float = 31.9375,
    description: str = "种子案件",
) -> list[str]:
    decision = route_incident(context, category=category, at=at, lon=lon, lat=lat)
    opened = [
        open_case(
            case_id=new_case_id(),
            decision=decision,
            reporter=Actor("apikey:seed", Role.PARTNER, "seed"),
            description=description,
            at=at,
        )
        for _ in range(count)
    ]
    store.report_opened([(case, event, decision) for case, event in opened])
    return [case.case_id for case, _ in opened]


def partner_key(store: Store, scope: str = "partner") -> dict[str, str]:
    key = store.create_credential(
        kind="apikey", subject="city-app", now=FIXED, days=30, scope=scope
    )
    return {"X-Api-Key": key}


def bearer(store: Store, person_id: str) -> dict[str, str]:
    token = store.create_credential(kind="person", subject=person_id, now=FIXED, days=30)
    return {"Authorization": f"Bearer {token}"}


def listed(client: FlaskClient, headers: dict[str, str] | None = None, **query: str) -> Any:
    reply = client.get(f"{ROOT}/requests.json", query_string=query, headers=headers or {})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_json()


def ids_of(requests: list[dict[str, Any]]) -> set[str]:
    return {r["service_request_id"] for r in requests}


# -- the catalog's tiers -----------------------------------------------------------------------


def test_disputes_and_personal_matters_are_not_public_in_the_shipped_catalog() -> None:
    police = {c.code for c in CATALOG if c.handler.department == "gaj"}
    police.discard("traffic_signal_fault")  # a street facility, not a person
    for category in CATALOG:
        if category.group is CategoryGroup.DISPUTE or category.code in police:
            assert category.tier is not PublicationTier.PUBLIC, category.code
    assert TIERS["medical_dispute"] is PublicationTier.CONFIDENTIAL
    assert TIERS["family_dispute"] is PublicationTier.CONFIDENTIAL
    assert TIERS["street_vending"] is PublicationTier.PUBLIC


def test_the_shipped_catalog_file_keeps_its_byte_order_mark_and_ends_with_tier() -> None:
    raw = (Path(__file__).parents[1] / "data" / "catalog.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.splitlines()[0].decode("utf-8-sig").endswith(",power_code,tier")


# -- masking (pure) ----------------------------------------------------------------------------

_TEXT = st.text(alphabet="桥下有人占道经营垃圾，。 ", max_size=12)


@given(
    before=_TEXT,
    after=_TEXT,
    mobile=st.from_regex(r"\A1[3-9][0-9]{9}\Z"),
    id_number=st.from_regex(r"\A[1-6][0-9]{16}[0-9X]\Z"),
)
def test_masking_removes_every_mobile_and_id_number(
    before: str, after: str, mobile: str, id_number: str
) -> None:
    masked = mask_text(f"{before}{mobile}{after}身份证{id_number}{before}")

    assert mobile not in masked
    assert id_number not in masked
    assert not MOBILE.search(masked)
    assert not ID_NUMBER.search(masked)


def test_a_point_is_rounded_to_about_a_hundred_metres() -> None:
    lon, lat = coarsen(120.26394817, 31.91268821)
    assert (lon, lat) == (120.264, 31.913)
    assert lon is not None
    assert lat is not None
    assert is_coarse(lon)
    assert is_coarse(lat)


# -- a simulated month, read anonymously -------------------------------------------------------


class Month(NamedTuple):
    app: App
    personal: dict[str, list[str]]  # phones, ID numbers, names seeded into descriptions


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory, context: RoutingContext) -> Iterator[Month]:
    """A simulated month on SQLite, plus cases of every category whose descriptions carry a
    phone, an ID number, a licence plate, a room and a name."""
    folder = tmp_path_factory.mktemp("privacy")
    store = open_store(f"sqlite:///{folder / 'gridmgr.sqlite'}", create=True)
    simulate_activity(store, context, end=FIXED - timedelta(hours=2), days=30, per_day=12)
    fake = Faker("zh_CN")
    fake.seed_instance(17)
    personal: dict[str, list[str]] = {"phones": [], "ids": [], "names": []}
    for i, category in enumerate(CATALOG.codes):
        phone, id_number, name = fake.phone_number(), fake.ssn(), fake.name()
        personal["phones"].append(phone)
        personal["ids"].append(id_number)
        personal["names"].append(name)
        text = (
            f"{name}女士反映：3单元50{i % 10}室，电话{phone}，身份证{id_number}，"
            f"车牌苏B1234{i % 10}"
        )
        seed(store, context, category, description=text, lon=120.0625 + i * 1e-5)
    app, services = make_app(store, context, folder)
    try:
        yield Month(app, personal)
    finally:
        assert services.ingestor is not None
        services.ingestor.close()
        store.close()


def _every_page(client: FlaskClient, **query: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        found = listed(client, page=str(page), page_size="100", **query)
        out.extend(found)
        if len(found) < 100:
            return out
        page += 1


def test_an_anonymous_client_sees_only_public_cases_of_the_simulated_month(month: Month) -> None:
    start = (FIXED - timedelta(days=31)).isoformat()
    seen = _every_page(month.app.client, start_date=start, extensions="true")
    every = month.app.store.cases(_window(start), limit=100_000)

    public = {c.case_id for c in every if TIERS.get(c.category) is PublicationTier.PUBLIC}
    assert len(public) > 100  # a month of activity, not a handful
    assert len(public) < len(every)  # and some of it is not public
    assert ids_of(seen) == public
    assert all(TIERS[r["service_code"]] is PublicationTier.PUBLIC for r in seen)


def _context(text: str, match: re.Match[str]) -> str:
    """The match with 40 characters either side, so a failure shows what leaked and where."""
    return text[max(0, match.start() - 40) : match.end() + 40]


def test_an_anonymous_client_sees_no_name_no_exact_point_and_no_phone_or_id(
    month: Month,
) -> None:
    start = (FIXED - timedelta(days=31)).isoformat()
    seen = _every_page(month.app.client, start_date=start, extensions="true")
    xml = month.app.client.get(
        f"{ROOT}/requests.xml", query_string={"start_date": start, "extensions": "true"}
    ).get_data(as_text=True)
    text = json.dumps(seen, ensure_ascii=False) + xml
    exact = {
        (c.lon, c.lat)
        for c in month.app.store.cases(_window(start), limit=100_000)
        if c.lon is not None and c.lat is not None and not (is_coarse(c.lon) and is_coarse(c.lat))
    }
    assert exact  # the simulation reports exact points

    people = {p.name for p in tiny_roster().persons.values()}
    assert not [name for name in people if name in text]
    assert not [name for name in month.personal["names"] if name in text]
    assert not [_context(text, m) for m in MOBILE.finditer(text)]
    assert not [_context(text, m) for m in ID_NUMBER.finditer(text)]
    for value in (*month.personal["phones"], *month.personal["ids"]):
        assert value not in text
    assert "苏B1234" not in text
    assert not re.search(r"\d+室", text)
    for r in seen:
        if r["lat"] is not None:
            assert is_coarse(r["lat"])
            assert is_coarse(r["long"])
            assert (r["long"], r["lat"]) not in exact
        assert r["extended_attributes"]["owner"] is None or (
            r["extended_attributes"]["owner"]["name"] is None
        )


def _window(start: str) -> Any:
    from gridmgr.services.queries import CaseFilter

    return CaseFilter(reported_from=datetime.fromisoformat(start))


def test_a_restricted_or_confidential_case_is_not_found_by_id(month: Month) -> None:
    hidden = [
        c
        for c in month.app.store.cases(_window((FIXED - timedelta(days=31)).isoformat()), limit=500)
        if TIERS[c.category] is not PublicationTier.PUBLIC
    ]
    assert hidden
    for case in hidden[:5]:
        reply = month.app.client.get(f"{ROOT}/requests/{case.case_id}.json")
        assert reply.status_code == 404
    ids = ",".join(c.case_id for c in hidden[:5])
    assert listed(month.app.client, service_request_id=ids) == []


# -- partner keys and the access log -----------------------------------------------------------


def test_a_partner_key_sees_restricted_cases_in_full_but_never_confidential(served: App) -> None:
    exact = (120.06251234, 31.93751234)
    public = seed(served.store, served.context, PUBLIC, lon=exact[0], lat=exact[1])[0]
    restricted = seed(served.store, served.context, RESTRICTED, description="电话13812345678")[0]
    confidential = seed(served.store, served.context, CONFIDENTIAL)[0]
    partner = partner_key(served.store)
    public_key = partner_key(served.store, scope="public")

    anonymous = listed(served.client)
    with_public_key = listed(served.client, headers=public_key)
    with_partner_key = listed(served.client, headers=partner)

    assert ids_of(anonymous) == ids_of(with_public_key) == {public}
    assert ids_of(with_partner_key) == {public, restricted}
    full = {r["service_request_id"]: r for r in with_partner_key}
    assert full[restricted]["description"] == "电话13812345678"
    assert (full[public]["long"], full[public]["lat"]) == exact
    one = served.client.get(f"{ROOT}/requests/{confidential}.json", headers=partner)
    assert one.status_code == 404


def test_a_bad_partner_key_or_a_key_in_the_url_is_refused_403(served: App) -> None:
    bad = served.client.get(f"{ROOT}/requests.json", headers={"X-Api-Key": "gm_nonsense"})
    in_url = served.client.get(f"{ROOT}/requests.json", query_string={"api_key": "x"})

    assert bad.status_code == 403
    assert in_url.status_code == 403


def test_a_partner_read_of_a_restricted_case_leaves_a_record(served: App) -> None:
    public = seed(served.store, served.context, PUBLIC)[0]
    restricted = seed(served.store, served.context, RESTRICTED)[0]
    partner = partner_key(served.store)

    served.client.get(f"{ROOT}/requests/{restricted}.json", headers=partner)
    listed(served.client, headers=partner)
    listed(served.client)  # anonymous reads see nothing restricted, so record nothing

    reads = served.store.case_reads(case_id=restricted)
    assert [(r.door, r.role, r.reader_name, r.tier) for r in reads] == [
        ("open311", "partner", "city-app", "restricted")
    ] * 2
    assert reads[0].reader.startswith("apikey:")
    assert served.store.case_reads(case_id=public) == []


def test_opening_a_restricted_case_in_the_api_is_recorded_and_managers_list_it(
    served: App,
) -> None:
    restricted = seed(served.store, served.context, RESTRICTED)[0]
    public = seed(served.store, served.context, PUBLIC)[0]
    worker = tiny_roster().owner(field_post(CELL), FIXED)
    operator = tiny_roster().owner(COMMAND_CENTER, FIXED)
    assert worker is not None
    assert operator is not None
    as_worker, as_operator = (
        bearer(served.store, worker.person_id),
        bearer(served.store, operator.person_id),
    )

    assert served.client.get(f"/api/v1/cases/{restricted}", headers=as_worker).status_code == 200
    assert served.client.get(f"/api/v1/cases/{public}", headers=as_worker).status_code == 200
    by_case = served.client.get(f"/api/v1/access-log?case={restricted}", headers=as_operator)
    by_person = served.client.get(
        f"/api/v1/access-log?person={worker.person_id}", headers=as_operator
    )
    refused = served.client.get(f"/api/v1/access-log?case={restricted}", headers=as_worker)

    assert by_case.status_code == 200, by_case.get_data(as_text=True)
    (read,) = by_case.get_json()["reads"]
    assert (read["reader"], read["door"], read["case_id"]) == (worker.person_id, "api", restricted)
    assert read["at"] == FIXED.isoformat()
    assert by_person.get_json()["reads"] == [read]
    assert refused.status_code == 403
    neither = served.client.get("/api/v1/access-log", headers=as_operator)
    assert neither.status_code == 400


def test_the_access_log_is_append_only(served: App) -> None:
    restricted = seed(served.store, served.context, RESTRICTED)[0]
    listed(served.client, headers=partner_key(served.store), service_request_id=restricted)

    for statement in ("UPDATE access_log SET reader = 'nobody'", "DELETE FROM access_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            served.store.execute_sql_for_tests(statement)
    assert len(served.store.case_reads(case_id=restricted)) == 1


# -- Open311: paging, areas, notes, photos, idempotent writes ------------------------------------


def test_pages_read_on_beyond_a_thousand_records(served: App) -> None:
    ids = seed(served.store, served.context, PUBLIC, count=1005)

    first = listed(served.client)
    second = listed(served.client, page="2")
    small = listed(served.client, page="3", page_size="500")

    assert len(first) == 1000
    assert len(second) == 5
    assert ids_of(first) | ids_of(second) == set(ids)
    assert len(small) == 5
    too_large = served.client.get(f"{ROOT}/requests.json", query_string={"page_size": "1001"})
    assert too_large.status_code == 400


def test_service_area_lists_the_requests_of_one_cell_subtree(served: App) -> None:
    here = seed(served.store, served.context, PUBLIC)[0]
    other_cell = next(c for c in served.context.grid.codes(3) if not c.startswith(CELL[:12]))
    point = served.context.grid.cell(other_cell)["geometry"].representative_point()
    elsewhere = seed(served.store, served.context, PUBLIC, lon=point.x, lat=point.y)[0]

    assert ids_of(listed(served.client, service_area=CELL[:12])) == {here}
    assert ids_of(listed(served.client, service_area=other_cell)) == {elsewhere}
    bad = served.client.get(f"{ROOT}/requests.json", query_string={"service_area": "abc"})
    assert bad.status_code == 400


def test_a_public_case_photo_is_served_and_a_restricted_one_never(served: App) -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 160, 200)).save(out, "JPEG")
    photo = sanitize_photo(out.getvalue())
    public = seed(served.store, served.context, PUBLIC)[0]
    restricted = seed(served.store, served.context, RESTRICTED)[0]
    shown = store_photo(served.services, public, photo, actor="test")
    hidden = store_photo(served.services, restricted, photo, actor="test")

    (request,) = listed(served.client)
    assert request["media_url"].endswith(f"{ROOT}/media/{shown.attachment_id}.jpg")
    got = served.client.get(f"{ROOT}/media/{shown.attachment_id}.jpg")
    assert got.status_code == 200
    assert got.mimetype == "image/jpeg"
    for attachment in (hidden.attachment_id, "0" * 32, "nonsense"):
        assert served.client.get(f"{ROOT}/media/{attachment}.jpg").status_code == 404
    full = listed(served.client, headers=partner_key(served.store))
    assert {r["service_request_id"]: r["media_url"] for r in full}[restricted] is None


def test_a_resend_with_the_same_source_id_creates_nothing_twice(served: App) -> None:
    key = served.store.create_credential(kind="apikey", subject="hotline", now=FIXED, days=30)
    form = {
        "api_key": key,
        "service_code": PUBLIC,
        "lat": "31.9375",
        "long": "120.0625",
        "source_id": "12345-2026-000017",
        "media_url": "https://example.org/p/1.jpg",
    }

    first = served.client.post(f"{ROOT}/requests.json", data=form)
    again = served.client.post(f"{ROOT}/requests.json", data=form)
    other = served.client.post(f"{ROOT}/requests.json", data={**form, "source_id": "another"})

    assert first.status_code == again.status_code == other.status_code == 200
    case_id = first.get_json()[0]["service_request_id"]
    assert again.get_json()[0]["service_request_id"] == case_id
    assert "重复提交" in again.get_json()[0]["service_notice"]
    assert other.get_json()[0]["service_request_id"] != case_id
    assert served.store.count_cases() == 2
    assert served.store.trail(case_id)[0].details["media_url"] == form["media_url"]


def test_notes_list_the_public_status_changes(served: App) -> None:
    from gridmgr.cases import Action
    from gridmgr.services.actions import act

    case_id = seed(served.store, served.context, PUBLIC, at=FIXED - timedelta(minutes=30))[0]
    operator = tiny_roster().owner(COMMAND_CENTER, FIXED)
    assert operator is not None
    actor = Actor(operator.person_id, Role.OPERATOR, operator.name)
    act(served.store, served.context, case_id, Action.REJECT, actor=actor, at=FIXED, comment="否")

    (request,) = listed(served.client, extensions="true")

    assert request["extended_attributes"]["notes"] == [
        {"datetime": "2026-05-06T09:30:00+08:00", "status": "open", "status_notes": "上报"},
        {"datetime": "2026-05-06T10:00:00+08:00", "status": "closed", "status_notes": "不予立案"},
    ]


# -- the command line ----------------------------------------------------------------------------


def test_apikey_create_with_scope_partner_and_access_log_list_the_reads(
    tmp_path: Path, tiny: Any, capsys: pytest.CaptureFixture[str], context: RoutingContext
) -> None:
    from gridmgr.grid.generations import store_generation
    from gridmgr.services.accesslog import record_reads
    from tests.test_cli import run_main

    data_dir = tmp_path / "data"
    store_generation(tiny, Settings(data_dir=data_dir))
    db = tmp_path / "db" / "gridmgr.sqlite"
    code, out, err = run_main(
        data_dir,
        "apikey",
        "create",
        "city-app",
        "--scope",
        "partner",
        "--db",
        str(db),
        capsys=capsys,
    )
    assert code == 0, err
    assert "scope partner" in err
    store = open_store(f"sqlite:///{db}")
    try:
        credential = store.check_credential(out.strip(), now=FIXED, kind="apikey")
        assert credential.scope == "partner"
        restricted = seed(store, context, RESTRICTED)[0]
        services, _ = make_app(store, context, tmp_path / "app")
        reader = Actor("P00044", Role.WORKER, "网格员甲")
        record_reads(
            services.services,
            reader,
            store.cases(_window("2026-01-01T00:00:00+08:00"), limit=9),
            door="api",
        )
        assert services.services.ingestor is not None
        services.services.ingestor.close()
    finally:
        store.close()

    code, out, err = run_main(
        data_dir, "access-log", "--case", restricted, "--db", str(db), capsys=capsys
    )

    assert code == 0, err
    assert "P00044" in out
    assert restricted in out
    assert "1 read(s)" in out
