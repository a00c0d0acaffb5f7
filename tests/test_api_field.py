"""The field app's API: writes sent with a ``client_id`` are stored once, capture times are
checked, and a resend gets the first reply again (on SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import api_app, close_app, tiny_context, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)  # a Wednesday morning, working time
URL = "/api/v1/reports"
OWN_CELL = "320281001001001"
REPORT: dict[str, Any] = {
    "lon": 120.0625,
    "lat": 31.9375,
    "category": "street_vending",
    "description": "桥下有人占道经营",
}
CID = "0b7e3c9e-5c1d-4b8e-9f3a-2d1c0e9b8a7f"


def worker_id() -> str:
    person = tiny_roster().owner(field_post(OWN_CELL), FIXED)
    assert person is not None
    return person.person_id


def operator_id() -> str:
    person = tiny_roster().owner(COMMAND_CENTER, FIXED)
    assert person is not None
    return person.person_id


def bearer(store: Store, person_id: str) -> dict[str, str]:
    token = store.create_credential(kind="person", subject=person_id, now=FIXED, days=9)
    return {"Authorization": f"Bearer {token}"}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(out, "JPEG")
    return out.getvalue()


def ledger_count(store: Store) -> int:
    head = store.ledger_head()
    return 0 if head is None else head.seq


@pytest.fixture
def app(store: Store, tmp_path: Path) -> Iterator[Flask]:
    made = api_app(store, Settings(data_dir=tmp_path), clock=lambda: FIXED)
    yield made
    close_app(made)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def worker(store: Store) -> dict[str, str]:
    return bearer(store, worker_id())


@pytest.fixture
def operator(store: Store) -> dict[str, str]:
    return bearer(store, operator_id())


# -- reports -------------------------------------------------------------------------------


def test_a_resent_report_returns_the_first_reply_with_200_and_writes_nothing(
    client: FlaskClient, store: Store, worker: dict[str, str]
) -> None:
    first = client.post(URL, json={**REPORT, "client_id": CID}, headers=worker)
    assert first.status_code == 201, first.get_json()
    events = ledger_count(store)

    again = client.post(URL, json={**REPORT, "client_id": CID}, headers=worker)

    assert again.status_code == 200, again.get_json()
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert store.count_cases() == 1
    assert ledger_count(store) == events
    case = store.case(first.get_json()["case_id"])
    assert case.reporter == worker_id()


def test_two_workers_may_send_the_same_client_id_without_colliding(
    client: FlaskClient, store: Store, worker: dict[str, str], operator: dict[str, str]
) -> None:
    mine = client.post(URL, json={**REPORT, "client_id": CID}, headers=worker)
    theirs = client.post(URL, json={**REPORT, "client_id": CID}, headers=operator)

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.get_json()["case_id"] != theirs.get_json()["case_id"]
    assert store.count_cases() == 2
    detail = client.get(f"/api/v1/cases/{mine.get_json()['case_id']}", headers=worker).get_json()
    assert (detail["channel"], detail["source_id"]) == (
        "grid_worker",
        f"person:{worker_id()}:{CID}",
    )


def test_a_report_without_client_id_is_stored_each_time_as_before(
    client: FlaskClient, store: Store, worker: dict[str, str]
) -> None:
    codes = [client.post(URL, json=REPORT, headers=worker).status_code for _ in "ab"]

    assert codes == [201, 201]
    assert store.count_cases() == 2


def test_two_simultaneous_sends_of_one_report_open_one_case(
    app: Flask, store: Store, worker: dict[str, str]
) -> None:
    barrier = threading.Barrier(2)
    replies: list[tuple[int, dict[str, Any]]] = []

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        reply = client.post(URL, json={**REPORT, "client_id": CID}, headers=worker)
        replies.append((reply.status_code, reply.get_json()))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(code for code, _ in replies) == [200, 201], replies
    assert replies[0][1]["case_id"] == replies[1][1]["case_id"]
    assert store.count_cases() == 1
    assert store.verify_ledger().count == 1


def test_the_capture_time_is_the_reports_time(
    client: FlaskClient, store: Store, worker: dict[str, str]
) -> None:
    captured = FIXED - timedelta(hours=3)
    body = {**REPORT, "client_id": CID, "captured_at": captured.isoformat()}

    reply = client.post(URL, json=body, headers=worker)

    assert reply.status_code == 201, reply.get_json()
    case = store.case(reply.get_json()["case_id"])
    assert case.reported_at == captured
    trail = client.get(f"/api/v1/cases/{case.case_id}/trail", headers=worker).get_json()
    assert trail["events"][0]["at"] == captured.isoformat()
    assert trail["events"][0]["details"]["client_id"] == CID


@pytest.mark.parametrize(
    ("offset", "status", "words"),
    [
        (timedelta(minutes=1, seconds=59), 201, None),  # within the phone clock's skew
        (timedelta(minutes=2, seconds=1), 422, "in the future"),
        (-timedelta(days=7) + timedelta(minutes=1), 201, None),
        (-timedelta(days=7, minutes=1), 422, "more than 7 days ago"),
    ],
)
def test_a_capture_time_in_the_future_or_older_than_7_days_is_refused(
    client: FlaskClient,
    store: Store,
    worker: dict[str, str],
    offset: timedelta,
    status: int,
    words: str | None,
) -> None:
    body = {**REPORT, "client_id": CID, "captured_at": (FIXED + offset).isoformat()}

    reply = client.post(URL, json=body, headers=worker)

    assert reply.status_code == status, reply.get_json()
    if words is not None:
        assert words in reply.get_json()["error"]["message"]
        assert store.count_cases() == 0


def test_a_capture_time_without_offset_or_a_bad_client_id_is_refused(
    client: FlaskClient, store: Store, worker: dict[str, str]
) -> None:
    naive = client.post(URL, json={**REPORT, "captured_at": "2026-05-06T09:00:00"}, headers=worker)
    short = client.post(URL, json={**REPORT, "client_id": "abc"}, headers=worker)
    odd = client.post(URL, json={**REPORT, "client_id": "abc/../defghij"}, headers=worker)

    assert [r.status_code for r in (naive, short, odd)] == [400, 400, 400]
    assert "captured_at" in naive.get_json()["error"]["message"]
    assert "client_id" in short.get_json()["error"]["message"]
    assert store.count_cases() == 0


def test_a_resent_report_with_photo_stores_one_case_and_one_photo(
    client: FlaskClient, store: Store, worker: dict[str, str]
) -> None:
    form = {k: str(v) for k, v in REPORT.items()} | {"client_id": CID}

    def send() -> Any:
        data = {**form, "photo": (io.BytesIO(jpeg()), "p.jpg")}
        return client.post(f"{URL}/with-photo", data=data, headers=worker)

    first, again = send(), send()

    assert (first.status_code, again.status_code) == (201, 200), again.get_json()
    assert again.get_json() == first.get_json()
    assert store.count_cases() == 1
    assert len(store.attachments_of(first.get_json()["case_id"])) == 1


def test_a_client_id_used_for_a_report_cannot_be_reused_for_an_action(
    client: FlaskClient, store: Store, worker: dict[str, str]
) -> None:
    case_id = client.post(URL, json={**REPORT, "client_id": CID}, headers=worker).get_json()[
        "case_id"
    ]

    reply = client.post(
        f"/api/v1/cases/{case_id}/actions",
        json={"action": "register", "comment": "x", "client_id": CID},
        headers=worker,
    )

    assert reply.status_code == 409
    assert "already used for a report" in reply.get_json()["error"]["message"]


# -- actions -------------------------------------------------------------------------------


def dispatched_case(client: FlaskClient, operator: dict[str, str], worker: dict[str, str]) -> str:
    case_id: str = client.post(URL, json=REPORT, headers=worker).get_json()["case_id"]
    for action in ("register", "dispatch"):
        reply = client.post(
            f"/api/v1/cases/{case_id}/actions",
            json={"action": action, "comment": "请处理"},
            headers=operator,
        )
        assert reply.status_code == 200, reply.get_json()
    return case_id


def test_a_resent_action_returns_the_same_event_and_writes_nothing(
    client: FlaskClient, store: Store, worker: dict[str, str], operator: dict[str, str]
) -> None:
    case_id = dispatched_case(client, operator, worker)
    captured = FIXED - timedelta(minutes=20)
    body = {"action": "accept", "comment": "收到", "client_id": CID}
    body["captured_at"] = captured.isoformat()
    url = f"/api/v1/cases/{case_id}/actions"

    first = client.post(url, json=body, headers=worker)
    events = ledger_count(store)
    again = client.post(url, json=body, headers=worker)

    assert first.status_code == 200, first.get_json()
    assert first.get_json()["state"] == "accepted"
    assert first.get_json()["event"]["kind"] == "case.accept"
    assert first.get_json()["event"]["seq"] == events
    assert first.get_json()["client_id"] == CID
    assert again.status_code == 200, again.get_json()
    assert again.get_json() == first.get_json()
    assert ledger_count(store) == events
    trail = client.get(f"/api/v1/cases/{case_id}/trail", headers=worker).get_json()["events"]
    accept = [e for e in trail if e["action"] == "accept"]
    assert len(accept) == 1
    assert accept[0]["details"]["captured_at"] == captured.isoformat()
    assert accept[0]["at"] == FIXED.isoformat()  # the action counts at the server's time


def test_an_action_resend_after_the_reply_was_lost_is_answered_from_the_ledger(
    client: FlaskClient, store: Store, worker: dict[str, str], operator: dict[str, str]
) -> None:
    case_id = dispatched_case(client, operator, worker)
    url = f"/api/v1/cases/{case_id}/actions"
    body = {"action": "accept", "comment": "收到", "client_id": CID}
    first = client.post(url, json=body, headers=worker).get_json()
    store.execute_sql_for_tests("UPDATE client_requests SET reply = NULL")

    again = client.post(url, json=body, headers=worker)

    assert again.status_code == 200
    assert again.get_json()["event"] == first["event"]
    assert again.get_json()["case_id"] == case_id


def test_two_simultaneous_sends_of_one_action_apply_it_once(
    app: Flask, store: Store, worker: dict[str, str], operator: dict[str, str]
) -> None:
    case_id = dispatched_case(app.test_client(), operator, worker)
    barrier = threading.Barrier(2)
    replies: list[tuple[int, dict[str, Any]]] = []
    body = {"action": "accept", "comment": "收到", "client_id": CID}

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        reply = client.post(f"/api/v1/cases/{case_id}/actions", json=body, headers=worker)
        replies.append((reply.status_code, reply.get_json()))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [code for code, _ in replies] == [200, 200], replies
    assert replies[0][1]["event"] == replies[1][1]["event"]
    trail = store.trail(case_id)
    assert [e.action for e in trail].count("accept") == 1


def test_an_action_client_id_on_another_case_is_refused(
    client: FlaskClient, store: Store, worker: dict[str, str], operator: dict[str, str]
) -> None:
    one = dispatched_case(client, operator, worker)
    two = dispatched_case(client, operator, worker)
    body = {"action": "accept", "comment": "收到", "client_id": CID}
    assert client.post(f"/api/v1/cases/{one}/actions", json=body, headers=worker).status_code == 200

    reply = client.post(f"/api/v1/cases/{two}/actions", json=body, headers=worker)

    assert reply.status_code == 409
    assert store.case(two).state.value == "dispatched"


def test_an_action_with_a_future_capture_time_is_refused(
    client: FlaskClient, store: Store, worker: dict[str, str], operator: dict[str, str]
) -> None:
    case_id = dispatched_case(client, operator, worker)
    body = {"action": "accept", "comment": "收到", "client_id": CID}
    body["captured_at"] = (FIXED + timedelta(minutes=10)).isoformat()

    reply = client.post(f"/api/v1/cases/{case_id}/actions", json=body, headers=worker)

    assert reply.status_code == 422
    assert store.case(case_id).state.value == "dispatched"
    assert store.client_request(worker_id(), CID) is None


def test_a_report_resend_that_passes_the_check_before_the_first_commits_loses_to_it(
    client: FlaskClient, store: Store, worker: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique key decides: a resend whose early checks ran before the first send committed
    fails its own transaction and answers the first case."""
    from gridmgr.services import reports, submissions

    first = client.post(URL, json={**REPORT, "client_id": CID}, headers=worker)
    monkeypatch.setattr(submissions, "earlier_write", lambda *a, **k: None)
    real = reports.earlier_report
    calls: list[str] = []

    def not_yet(*args: Any) -> str | None:
        calls.append("check")
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(reports, "earlier_report", not_yet)

    again = client.post(URL, json={**REPORT, "client_id": CID}, headers=worker)

    assert again.status_code == 200, again.get_json()
    assert again.get_json() == first.get_json()
    assert calls == ["check", "check"]  # the second look came after the failed insert
    assert store.count_cases() == 1
    assert store.verify_ledger().count == 1


def test_an_action_resend_that_passes_the_check_before_the_first_commits_loses_to_it(
    client: FlaskClient,
    store: Store,
    worker: dict[str, str],
    operator: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gridmgr.services import fieldsync

    case_id = dispatched_case(client, operator, worker)
    url = f"/api/v1/cases/{case_id}/actions"
    body = {"action": "accept", "comment": "收到", "client_id": CID}
    first = client.post(url, json=body, headers=worker).get_json()
    events = ledger_count(store)
    real = fieldsync.earlier_write
    calls: list[str] = []

    def not_yet(*args: Any, **kwargs: Any) -> Any:
        calls.append("check")
        return None if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(fieldsync, "earlier_write", not_yet)

    again = client.post(url, json=body, headers=worker)

    assert again.status_code == 200, again.get_json()
    assert again.get_json() == first
    assert calls == ["check", "check"]
    assert ledger_count(store) == events


# -- patrol points -------------------------------------------------------------------------


def synced(store: Store) -> None:
    """The tiny grid's reference data in the database (patrol points name roster persons)."""
    context = tiny_context()
    store.sync_reference(
        grid=context.grid, roster=context.roster, catalog=context.catalog, at=FIXED, actor="test"
    )


def points(ids: Sequence[str | None], *, start: int = 0) -> dict[str, Any]:
    """A batch walking east through the worker's cell, one point a minute."""
    return {
        "points": [
            {
                "at": (FIXED - timedelta(minutes=30 - start - i)).isoformat(),
                "lon": 120.05 + 0.0005 * (start + i),
                "lat": 31.9375,
                **({} if cid is None else {"client_id": cid}),
            }
            for i, cid in enumerate(ids)
        ]
    }


def test_a_patrol_batch_resent_wholly_or_in_part_stores_each_point_once(
    client: FlaskClient, store: Store, worker: dict[str, str]
) -> None:
    synced(store)
    url = "/api/v1/patrols/points"
    ids = [f"pt-{i:04d}-aaaa" for i in range(6)]

    first = client.post(url, json=points(ids[:4]), headers=worker)
    whole = client.post(url, json=points(ids[:4]), headers=worker)
    part = client.post(url, json=points(ids[2:]), headers=worker)  # 2 old, 2 new
    twice = client.post(url, json=points([ids[0], "pt-new-0000", "pt-new-0000"]), headers=worker)

    assert first.status_code == 201
    assert (first.get_json()["new"], first.get_json()["repeats"]) == (4, 0)
    assert whole.status_code == 200
    assert (whole.get_json()["new"], whole.get_json()["repeats"]) == (0, 4)
    assert part.status_code == 201
    assert (part.get_json()["new"], part.get_json()["repeats"]) == (2, 2)
    assert (twice.get_json()["new"], twice.get_json()["repeats"]) == (1, 2)
    assert len(store.patrol_points(persons=[worker_id()])) == 7
    assert store.verify_ledger().ok


def test_patrol_points_without_client_id_are_stored_each_time(
    client: FlaskClient, store: Store, worker: dict[str, str]
) -> None:
    synced(store)
    for _ in "ab":
        reply = client.post("/api/v1/patrols/points", json=points([None, None]), headers=worker)
        assert reply.get_json()["new"] == 2

    assert len(store.patrol_points(persons=[worker_id()])) == 4


def test_a_patrol_upload_racing_another_with_the_same_points_stores_them_once(
    client: FlaskClient, store: Store, worker: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique (person, client id) index decides when the check ran before the other
    upload committed: the upload filters again and stores only what is new."""
    synced(store)
    ids = ["pt-race-0001", "pt-race-0002"]
    assert client.post("/api/v1/patrols/points", json=points(ids[:1]), headers=worker).status_code
    real = store.patrol_client_ids
    calls: list[int] = []

    def stale(person_id: str, client_ids: Any) -> set[str]:
        calls.append(1)
        return set() if len(calls) == 1 else real(person_id, client_ids)

    monkeypatch.setattr(store, "patrol_client_ids", stale)

    reply = client.post("/api/v1/patrols/points", json=points(ids), headers=worker)

    assert reply.status_code == 201, reply.get_json()
    assert (reply.get_json()["new"], reply.get_json()["repeats"]) == (1, 1)
    assert len(calls) == 2
    assert len(store.patrol_points(persons=[worker_id()])) == 2


def test_a_resent_report_back_with_its_after_photo_stores_one_photo_and_one_event(
    client: FlaskClient, store: Store, worker: dict[str, str], operator: dict[str, str]
) -> None:
    case_id = dispatched_case(client, operator, worker)
    for action in ("accept", "start"):
        body = {"action": action, "comment": "好的"}
        client.post(f"/api/v1/cases/{case_id}/actions", json=body, headers=worker)
    photos_before = len(store.attachments_of(case_id))

    def send() -> Any:
        form = {"action": "handle", "comment": "已清理", "client_id": CID}
        form["photo"] = (io.BytesIO(jpeg()), "after.jpg")  # type: ignore[assignment]
        return client.post(f"/api/v1/cases/{case_id}/actions/with-photo", data=form, headers=worker)

    first, again = send(), send()

    assert first.status_code == 200, first.get_json()
    assert first.get_json()["state"] == "handled"
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert len(store.attachments_of(case_id)) == photos_before + 1
    assert [e.action for e in store.trail(case_id)].count("handle") == 1
