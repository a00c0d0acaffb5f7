"""A reporter's callback contact (回访): kept only with consent, encrypted at rest, shown only to
operators (and recorded), erased N days after the case closes, once, by any number of processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient

from gridmgr.api import create_app
from gridmgr.cases import Action, Actor, Role
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.services.actions import act
from gridmgr.services.contacts import erase_expired_contacts
from gridmgr.services.context import Services
from gridmgr.settings import Settings, SettingsError
from gridmgr.store import Store, open_store
from tests.builders import app_services, tiny_context, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
ROOT = "/open311/v2"
CELL = "320281001001001"
KEY = Fernet.generate_key().decode()
PHONE = "13912345678"
FORM = {"service_code": "street_vending", "lat": "31.9375", "long": "120.0625"}


class Clock:
    def __init__(self) -> None:
        self.now = FIXED

    def __call__(self) -> datetime:
        return self.now


class App(NamedTuple):
    client: FlaskClient
    store: Store
    services: Services
    clock: Clock
    api_key: str


def make_app(store: Store, data_dir: Path, *, key: str | None = KEY) -> App:
    settings = Settings(data_dir=data_dir, contact_key=key)
    clock = Clock()
    services = app_services(store, settings, tiny_context(), clock=clock)
    app = create_app(settings, services.grid, tiny_roster(), services=services)
    api_key = store.create_credential(kind="apikey", subject="hotline", now=FIXED, days=30)
    return App(app.test_client(), store, services, clock, api_key)


@pytest.fixture
def served(store: Store, tmp_path: Path) -> Iterator[App]:
    app = make_app(store, tmp_path)
    try:
        yield app
    finally:
        assert app.services.ingestor is not None
        app.services.ingestor.close()


def report(app: App, **fields: str) -> tuple[str, str]:
    reply = app.client.post(
        f"{ROOT}/requests.json", data={"api_key": app.api_key, **FORM, **fields}
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)
    (created,) = reply.get_json()
    return created["service_request_id"], created["service_notice"]


def bearer(store: Store, person_id: str) -> dict[str, str]:
    token = store.create_credential(kind="person", subject=person_id, now=FIXED, days=365)
    return {"Authorization": f"Bearer {token}"}


def operator() -> Actor:
    person = tiny_roster().owner(COMMAND_CENTER, FIXED)
    assert person is not None
    return Actor(person.person_id, Role.OPERATOR, person.name)


def close(app: App, case_id: str) -> None:
    act(
        app.store,
        app.services.context,
        case_id,
        Action.REJECT,
        actor=operator(),
        at=FIXED,
        comment="不属于网格化管理事项，已电话回访",
    )


def test_a_contact_given_with_consent_is_shown_to_an_operator_only_and_the_read_recorded(
    served: App,
) -> None:
    case_id, notice = report(served, phone=PHONE, contact_consent="true")
    worker = tiny_roster().owner(field_post(CELL), FIXED)
    assert worker is not None

    as_operator = served.client.get(
        f"/api/v1/cases/{case_id}/contact", headers=bearer(served.store, operator().actor_id)
    )
    as_worker = served.client.get(
        f"/api/v1/cases/{case_id}/contact", headers=bearer(served.store, worker.person_id)
    )

    assert "已加密保存" in notice
    assert as_operator.get_json() == {"case_id": case_id, "kind": "phone", "contact": PHONE}
    assert as_worker.status_code == 403
    (read,) = served.store.case_reads(case_id=case_id)
    assert (read.reader, read.door) == (operator().actor_id, "api:contact")


def test_a_contact_without_consent_or_without_a_key_is_not_kept(
    served: App, store: Store, tmp_path: Path
) -> None:
    no_consent, notice = report(served, phone=PHONE)
    keyless = make_app(store, tmp_path / "keyless", key=None)
    try:
        no_key, _ = report(keyless, email="zhang@example.com", contact_consent="yes")
    finally:
        assert keyless.services.ingestor is not None
        keyless.services.ingestor.close()

    assert "联系方式未保存" in notice
    assert served.store.contact_of(no_consent) is None
    assert served.store.contact_of(no_key) is None


def test_a_bad_contact_with_consent_is_refused_400_and_nothing_is_stored(served: App) -> None:
    reply = served.client.post(
        f"{ROOT}/requests.json",
        data={"api_key": served.api_key, **FORM, "phone": "call me", "contact_consent": "1"},
    )

    assert reply.status_code == 400
    assert served.store.count_cases() == 0


def test_the_contact_cannot_be_read_from_the_database_file(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    store = open_store(f"sqlite:///{folder / 'gridmgr.sqlite'}", create=True)
    app = make_app(store, tmp_path)
    try:
        case_id, _ = report(app, phone=PHONE, email="li.si@example.com", contact_consent="true")
        stored = store.contact_of(case_id)
    finally:
        assert app.services.ingestor is not None
        app.services.ingestor.close()
        store.close()

    assert stored is not None
    assert stored.ciphertext is not None
    raw = b"".join(p.read_bytes() for p in folder.iterdir())  # the file, its WAL and all
    assert PHONE.encode() not in raw
    assert stored.ciphertext.encode() in raw  # what is there is the ciphertext


def test_the_contact_is_gone_n_days_after_closing_with_an_event_that_holds_none_of_it(
    served: App,
) -> None:
    case_id, _ = report(served, phone=PHONE, contact_consent="true")
    still_open, _ = report(served, phone="13700000000", contact_consent="true")
    close(served, case_id)

    served.clock.now = FIXED + timedelta(days=89)
    early = erase_expired_contacts(served.services)
    served.clock.now = FIXED + timedelta(days=91)
    erased = erase_expired_contacts(served.services)
    again = erase_expired_contacts(served.services)

    assert (early, erased, again) == (0, 1, 0)
    gone = served.store.contact_of(case_id)
    assert gone is not None
    assert gone.ciphertext is None
    assert gone.erased_at == served.clock.now
    kept = served.store.contact_of(still_open)
    assert kept is not None
    assert kept.ciphertext is not None
    events = [e for e in served.store.ledger_events() if e.kind.startswith("contact.")]
    assert [e.kind for e in events] == ["contact.kept", "contact.kept", "contact.erased"]
    assert all(PHONE not in e.payload and "13700000000" not in e.payload for e in events)
    reply = served.client.get(
        f"/api/v1/cases/{case_id}/contact", headers=bearer(served.store, operator().actor_id)
    )
    assert reply.get_json()["contact"] is None


def test_erasing_from_several_processes_at_once_erases_each_contact_once(
    served: App, db_url: str
) -> None:
    ids = [report(served, phone=f"1391234{i:04d}", contact_consent="true")[0] for i in range(6)]
    for case_id in ids:
        close(served, case_id)
    served.clock.now = FIXED + timedelta(days=100)
    others = [open_store(db_url) for _ in range(3)]  # each its own engine, as a process has
    counts: list[int] = []
    try:
        workers = [
            threading.Thread(
                target=lambda s=s: counts.append(
                    erase_expired_contacts(
                        Services(s, served.services.context, served.services.settings, served.clock)
                    )
                )
            )
            for s in others
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        for s in others:
            s.close()

    assert sum(counts) == len(ids)
    erased = [e for e in served.store.ledger_events() if e.kind == "contact.erased"]
    assert sorted(e.subject for e in erased) == sorted(f"case:{i}" for i in ids)
    assert served.store.verify_ledger().ok


def test_the_contact_key_must_be_a_fernet_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="GRIDMGR_CONTACT_KEY"):
        Settings.from_env({"GRIDMGR_DATA_DIR": str(tmp_path), "GRIDMGR_CONTACT_KEY": "short"})
    settings = Settings.from_env(
        {"GRIDMGR_DATA_DIR": str(tmp_path), "GRIDMGR_CONTACT_KEY": KEY},
    )
    assert settings.contact_key == KEY
    assert settings.contact_retention_days == 90
    assert KEY not in repr(settings)
