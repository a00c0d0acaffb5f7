"""Password guessing on ``/login`` is throttled per person id and per address before any hash,
and every refused password is recorded for managers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from gridmgr import Grid
from gridmgr.store import Store, open_store
from tests.builders import close_app
from tests.test_cli import flat, invoke
from tests.test_sessions import (
    CSRF_INPUT,
    FAST_ARGON2,
    FIXED,
    LOGIN_FAILED,
    PASSWORD,
    Clock,
    log_in,
    make_app,
    operator_id,
    worker_id,
)


def retry_after(response: TestResponse) -> int:
    """The response's Retry-After in seconds (the API's rate limiter sends one on every
    response, at most its one-minute window; a throttled login sends the longer wait)."""
    return int(response.headers.get("Retry-After", "0"))


class CountingHasher(PasswordHasher):
    """Fast argon2id that counts its verifications."""

    verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        CountingHasher.verified += 1
        return super().verify(hash, password)


@pytest.fixture(autouse=True)
def counting_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    CountingHasher.verified = 0
    hasher = CountingHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    monkeypatch.setattr("gridmgr.store.accounts._hasher", lambda: hasher)
    assert FAST_ARGON2.time_cost == hasher.time_cost


@pytest.fixture
def clock() -> Clock:
    return Clock(FIXED)


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path, clock: Clock) -> Iterator[Flask]:
    built = make_app(store, tiny, tmp_path, clock=clock)
    yield built
    close_app(built)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_after_five_wrong_passwords_even_the_right_one_waits_with_the_same_answer(
    store: Store, client: FlaskClient, clock: Clock
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    for _ in range(5):
        wrong = log_in(client, worker_id(), "not the password")
        assert wrong.status_code == 401

    throttled = log_in(client, worker_id(), PASSWORD)

    assert throttled.status_code == 401
    assert LOGIN_FAILED in throttled.get_data(as_text=True)
    assert retry_after(throttled) >= 50  # the limiter recounts it from its own clock
    assert CountingHasher.verified == 5  # the right password was not even hashed
    assert client.get("/me").status_code == 401
    clock.now = FIXED + timedelta(seconds=61)
    assert log_in(client, worker_id(), PASSWORD).status_code == 303
    assert client.get("/me").status_code == 200


def test_each_further_failure_doubles_the_wait(
    store: Store, client: FlaskClient, clock: Clock
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    for _ in range(5):
        log_in(client, worker_id(), "not the password")
    clock.now = FIXED + timedelta(seconds=61)
    assert log_in(client, worker_id(), "still not it").status_code == 401
    assert CountingHasher.verified == 6
    assert retry_after(log_in(client, worker_id(), PASSWORD)) >= 100  # beyond the limiter's 60
    assert CountingHasher.verified == 6


def test_a_flood_of_guesses_costs_no_argon2_hash_once_throttled(
    store: Store, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    for _ in range(40):
        log_in(client, worker_id(), "not the password")
    assert CountingHasher.verified == 5
    assert len(store.login_failures(person_id=worker_id())) == 5  # throttled tries checked nothing


def test_four_failures_do_not_stop_the_right_password(store: Store, client: FlaskClient) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    for _ in range(4):
        log_in(client, worker_id(), "not the password")
    assert log_in(client, worker_id(), PASSWORD).status_code == 303


def test_one_address_guessing_many_person_ids_is_throttled(
    store: Store, app: Flask, client: FlaskClient
) -> None:
    store.set_password(operator_id(), PASSWORD, now=FIXED)
    for n in range(20):
        assert log_in(client, f"P9{n:04d}", "some guess here").status_code == 401
    throttled = log_in(client, operator_id(), PASSWORD)
    assert throttled.status_code == 401
    assert retry_after(throttled) >= 50  # the limiter recounts it from its own clock
    assert CountingHasher.verified == 20  # the operator's password was not hashed
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert log_in(elsewhere, operator_id(), PASSWORD).status_code == 303


def test_unknown_person_wrong_password_and_throttled_read_the_same(
    store: Store, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    pages = [log_in(client, "P99999", PASSWORD)]
    pages += [log_in(client, worker_id(), "not the password") for _ in range(5)]
    pages.append(log_in(client, worker_id(), PASSWORD))
    assert {p.status_code for p in pages} == {401}
    texts = [p.get_data(as_text=True) for p in pages]
    assert all(LOGIN_FAILED in text for text in texts)
    normalised = {
        CSRF_INPUT.sub("", text).replace(worker_id(), "ID").replace("P99999", "ID")
        for text in texts
    }
    assert len(normalised) == 1
    assert retry_after(pages[-1]) >= 50


def test_failures_are_recorded_with_person_and_address_and_never_the_password(
    store: Store, client: FlaskClient
) -> None:
    log_in(client, "P99999", "the guessed secret")
    (failure,) = store.login_failures()
    assert (failure.at, failure.person_id, failure.address) == (FIXED, "P99999", "127.0.0.1")
    assert "the guessed secret" not in repr(failure)


def test_the_failures_table_is_append_only(store: Store, db_url: str) -> None:
    store.record_login_failure("P99999", "127.0.0.1", at=FIXED)
    engine = sa.create_engine(db_url)
    try:
        for statement in (
            "UPDATE login_failures SET person_id = 'x'",
            "DELETE FROM login_failures",
        ):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()
    assert len(store.login_failures()) == 1


def test_managers_list_failures_by_person_and_time_on_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.sqlite'}"
    store = open_store(url, create=True)
    try:
        store.record_login_failure("P00044", "10.0.0.1", at=FIXED)
        store.record_login_failure("P00045", "10.0.0.2", at=FIXED + timedelta(hours=1))
        store.record_login_failure("P00044", "10.0.0.3", at=FIXED + timedelta(hours=2))
    finally:
        store.close()

    everyone = invoke(tmp_path / "data", "account", "failures", "--db", url)
    one = invoke(tmp_path / "data", "account", "failures", "--person", "P00044", "--db", url)
    later = invoke(
        tmp_path / "data", "account", "failures", "--since", "2026-05-06T11:30", "--db", url
    )

    assert everyone.exit_code == 0, everyone.output
    assert "3 refused login(s)" in flat(everyone.output)
    assert "10.0.0.2" not in one.output
    assert "2 refused login(s)" in flat(one.output)
    assert "10.0.0.3" in later.output
    assert "1 refused login(s)" in flat(later.output)


def test_city_wide_roles_read_the_failures_in_json_and_workers_may_not(
    store: Store, app: Flask, client: FlaskClient
) -> None:
    store.set_password(operator_id(), PASSWORD, now=FIXED)
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    log_in(client, "P99999", "a guess at it")
    log_in(client, operator_id())
    body = client.get("/logins/failures").get_json()
    (failure,) = body["failures"]
    assert datetime.fromisoformat(failure["at"]) == FIXED
    assert (failure["person_id"], failure["address"]) == ("P99999", "127.0.0.1")
    assert client.get("/logins/failures?person=P00000").get_json()["failures"] == []
    assert client.get("/logins/failures?since=yesterday").status_code == 400
    worker = app.test_client()
    log_in(worker, worker_id())
    assert worker.get("/logins/failures").status_code == 403
    assert app.test_client().get("/logins/failures").status_code == 401
