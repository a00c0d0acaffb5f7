"""The field app's device tokens and last sync: a worker logs in on his phone, lists and revokes
his devices, and the command center sees when each worker was last heard from (SQLite and
PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from gridmgr import Grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.settings import Settings
from gridmgr.store import Store
from gridmgr.web.sessions import init_sessions
from tests.builders import api_app, close_app, tiny_context, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)  # a Wednesday morning, working time
KEY = "k" * 16 + "-test-secret-key-of-enough-length"
PASSWORD = "correct horse battery"
OWN_CELL = "320281001001001"
OTHER_CELL = "320281001004004"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
FAST_ARGON2 = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
URL = "/api/v1/devices"


@pytest.fixture(autouse=True)
def fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gridmgr.store.accounts._hasher", lambda: FAST_ARGON2)


def person_at(cell: str) -> str:
    person = tiny_roster().owner(field_post(cell), FIXED)
    assert person is not None
    return person.person_id


def operator_id() -> str:
    person = tiny_roster().owner(COMMAND_CENTER, FIXED)
    assert person is not None
    return person.person_id


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(FIXED)


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path, clock: Clock) -> Iterator[Flask]:
    built = api_app(store, Settings(data_dir=tmp_path), clock=clock, grid=tiny)
    init_sessions(built, secret_key=KEY, secure_cookies=False)
    store.set_password(person_at(OWN_CELL), PASSWORD, now=FIXED, actor="test")
    store.set_password(person_at(OTHER_CELL), PASSWORD, now=FIXED, actor="test")
    yield built
    close_app(built)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def device(client: FlaskClient, person_id: str, label: str = "小王的手机") -> dict[str, str]:
    reply = client.post(URL, json={"login": person_id, "password": PASSWORD, "label": label})
    assert reply.status_code == 201, reply.get_json()
    body: dict[str, str] = reply.get_json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_token(client: FlaskClient) -> str:
    found = CSRF_INPUT.search(client.get("/login").get_data(as_text=True))
    assert found is not None
    return found.group(1)


# -- device tokens -------------------------------------------------------------------------


def test_a_login_gets_a_device_token_that_speaks_for_its_person_only(
    client: FlaskClient, store: Store
) -> None:
    me = person_at(OWN_CELL)

    got = device(client, me)

    assert got["token"].startswith("gm_")
    assert got["person_id"] == me
    assert got["label"] == "小王的手机"
    assert got["expires_at"] == (FIXED + timedelta(days=180)).isoformat()
    cases = client.get("/api/v1/cases", headers=bearer(got["token"]))
    assert cases.status_code == 200
    listed = client.get(URL, headers=bearer(got["token"])).get_json()["devices"]
    assert [(d["token_id"], d["label"]) for d in listed] == [(got["token_id"], "小王的手机")]
    assert "token" not in listed[0]
    [stored] = [c for c in store.list_credentials(me) if c.token_id == got["token_id"]]
    assert stored.label == "field app: 小王的手机"


def test_a_wrong_password_gets_401_and_repeated_failures_are_throttled(
    client: FlaskClient, store: Store
) -> None:
    me = person_at(OWN_CELL)
    wrong = {"login": me, "password": "not the password", "label": "x"}

    codes = [client.post(URL, json=wrong).status_code for _ in range(6)]
    right = client.post(URL, json={**wrong, "password": PASSWORD})

    assert codes == [401] * 5 + [429]
    assert right.status_code == 429  # throttled before the password is even checked
    assert int(right.headers["Retry-After"]) > 0
    assert len(store.login_failures(person_id=me)) == 5
    assert [c for c in store.list_credentials(me) if c.kind == "person"] == []


def test_a_revoked_device_token_gets_401(client: FlaskClient) -> None:
    me = person_at(OWN_CELL)
    phone, tablet = device(client, me, "phone"), device(client, me, "tablet")

    reply = client.delete(f"{URL}/{phone['token_id']}", headers=bearer(tablet["token"]))

    assert reply.status_code == 200
    assert client.get("/api/v1/cases", headers=bearer(phone["token"])).status_code == 401
    assert client.get("/api/v1/cases", headers=bearer(tablet["token"])).status_code == 200
    listed = client.get(URL, headers=bearer(tablet["token"])).get_json()["devices"]
    assert [d["label"] for d in listed] == ["tablet"]


def test_another_persons_device_cannot_be_seen_or_revoked(client: FlaskClient) -> None:
    mine = device(client, person_at(OWN_CELL))
    theirs = device(client, person_at(OTHER_CELL))

    reply = client.delete(f"{URL}/{theirs['token_id']}", headers=bearer(mine["token"]))
    listed = client.get(URL, headers=bearer(mine["token"])).get_json()["devices"]

    assert reply.status_code == 404
    assert [d["token_id"] for d in listed] == [mine["token_id"]]
    assert client.get("/api/v1/cases", headers=bearer(theirs["token"])).status_code == 200


def test_a_dashboard_session_gets_a_device_token_with_its_csrf_token_only(
    client: FlaskClient,
) -> None:
    me = person_at(OWN_CELL)
    token = csrf_token(client)
    logged = client.post(
        "/login", data={"person_id": me, "password": PASSWORD, "csrf_token": token}
    )
    assert logged.status_code == 303
    token = client.get("/me").get_json()["csrf_token"]  # the logged-in session's own

    without = client.post(URL, json={"label": "phone"})
    with_csrf = client.post(URL, json={"label": "phone"}, headers={"X-CSRFToken": token})

    assert without.status_code == 400
    assert with_csrf.status_code == 201, with_csrf.get_json()
    assert with_csrf.get_json()["person_id"] == me
    assert [d["label"] for d in client.get(URL).get_json()["devices"]] == ["phone"]


def test_no_login_and_no_session_gets_401(client: FlaskClient) -> None:
    assert client.post(URL, json={"label": "phone"}).status_code == 401
    assert client.get(URL).status_code == 401
    assert client.post(URL, json={"login": person_at(OWN_CELL)}).status_code == 401


def test_a_device_token_cannot_mint_another(client: FlaskClient) -> None:
    got = device(client, person_at(OWN_CELL))

    reply = client.post(URL, json={"label": "more"}, headers=bearer(got["token"]))

    assert reply.status_code == 401


# -- last sync -----------------------------------------------------------------------------


def test_a_device_tokens_use_is_the_persons_last_sync_written_at_most_once_a_minute(
    client: FlaskClient, store: Store, clock: Clock
) -> None:
    me = person_at(OWN_CELL)
    phone = device(client, me)
    clock.now = FIXED + timedelta(minutes=3)

    first = client.get("/api/v1/sync/status", headers=bearer(phone["token"])).get_json()
    clock.now = FIXED + timedelta(minutes=3, seconds=30)
    again = client.get("/api/v1/sync/status", headers=bearer(phone["token"])).get_json()

    assert first == {
        "person_id": me,
        "server_time": (FIXED + timedelta(minutes=3)).isoformat(),
        "last_sync": (FIXED + timedelta(minutes=3)).isoformat(),
    }
    assert again["server_time"] == (FIXED + timedelta(minutes=3, seconds=30)).isoformat()
    assert again["last_sync"] == first["last_sync"]  # this server wrote it a moment ago
    listed = client.get(URL, headers=bearer(phone["token"])).get_json()["devices"]
    assert listed[0]["last_used_at"] == first["last_sync"]


def test_an_ordinary_personal_token_is_not_a_device_sync(client: FlaskClient, store: Store) -> None:
    me = person_at(OWN_CELL)
    token = store.create_credential(kind="person", subject=me, now=FIXED, days=9)

    status = client.get("/api/v1/sync/status", headers=bearer(token)).get_json()

    assert status["last_sync"] is None
    assert store.device_contacts() == {}


def test_the_command_center_sees_each_workers_last_sync(client: FlaskClient, store: Store) -> None:
    me = person_at(OWN_CELL)
    phone = device(client, me)
    client.get("/api/v1/cases", headers=bearer(phone["token"]))
    operator = store.create_credential(kind="person", subject=operator_id(), now=FIXED, days=9)

    workers = client.get("/api/v1/patrols/status", headers=bearer(operator)).get_json()["workers"]

    mine = [w for w in workers if w["person_id"] == me]
    assert [datetime.fromisoformat(w["last_sync"]) for w in mine] == [FIXED]
    assert all(w["last_sync"] is None for w in workers if w["person_id"] != me)


# -- the panel's line: workers on duty not heard from ----------------------------------------


def synced(store: Store) -> None:
    context = tiny_context()
    store.sync_reference(
        grid=context.grid, roster=context.roster, catalog=context.catalog, at=FIXED, actor="test"
    )


def silent_line(client: FlaskClient, store: Store) -> dict[str, object]:
    operator = store.create_credential(kind="person", subject=operator_id(), now=FIXED, days=9)
    reply = client.get("/api/v1/invariants", headers=bearer(operator))
    assert reply.status_code == 200, reply.get_json()
    [line] = [x for x in reply.get_json()["lines"] if x["key"] == "silent"]
    return dict(line)


def test_a_worker_on_duty_with_the_app_silent_for_30_minutes_turns_the_line_red(
    client: FlaskClient, store: Store, clock: Clock
) -> None:
    synced(store)
    me = person_at(OWN_CELL)
    phone = device(client, me)  # another worker without the app is never counted
    clock.now = FIXED - timedelta(minutes=31)
    client.get("/api/v1/cases", headers=bearer(phone["token"]))
    clock.now = FIXED

    red = silent_line(client, store)
    walk = {"points": [{"at": FIXED.isoformat(), "lon": 120.06, "lat": 31.93}]}
    posted = client.post("/api/v1/patrols/points", json=walk, headers=bearer(phone["token"]))
    green = silent_line(client, store)

    assert (red["ok"], red["count"], red["value"]) == (False, 1, "1/1")
    assert red["details"] == [f"{tiny_roster().persons[me].name} ({OWN_CELL}): 09:29"]
    assert posted.status_code == 201
    assert (green["ok"], green["count"]) == (True, 0)


def test_a_worker_heard_from_29_minutes_ago_or_off_duty_is_not_silent(
    client: FlaskClient, store: Store, clock: Clock
) -> None:
    synced(store)
    phone = device(client, person_at(OWN_CELL))
    clock.now = FIXED - timedelta(minutes=29)
    client.get("/api/v1/cases", headers=bearer(phone["token"]))
    clock.now = FIXED

    assert silent_line(client, store)["ok"] is True
    clock.now = FIXED.replace(hour=22)  # off duty: silence is his own business
    assert silent_line(client, store)["ok"] is True
    clock.now = FIXED.replace(hour=11)  # on duty again, 89 minutes later
    assert silent_line(client, store)["count"] == 1


def test_a_revoked_device_takes_its_worker_off_the_line(client: FlaskClient, store: Store) -> None:
    synced(store)
    phone = device(client, person_at(OWN_CELL))
    assert silent_line(client, store)["count"] == 1  # never heard from

    client.delete(f"{URL}/{phone['token_id']}", headers=bearer(phone["token"]))

    assert silent_line(client, store)["count"] == 0


def test_a_silent_workers_last_contact_may_be_an_older_patrol_point(
    client: FlaskClient, store: Store, clock: Clock
) -> None:
    synced(store)
    me = person_at(OWN_CELL)
    device(client, me)  # he carries the app, but walked with another token (no device contact)
    plain = store.create_credential(kind="person", subject=me, now=FIXED, days=9)
    clock.now = FIXED - timedelta(hours=2)
    walk = {"points": [{"at": clock.now.isoformat(), "lon": 120.06, "lat": 31.93}]}
    assert (
        client.post("/api/v1/patrols/points", json=walk, headers=bearer(plain)).status_code == 201
    )
    clock.now = FIXED

    line = silent_line(client, store)

    assert line["count"] == 1
    assert line["details"] == [f"{tiny_roster().persons[me].name} ({OWN_CELL}): 08:00"]
