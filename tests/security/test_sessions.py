"""Logging out ends the session on the server: a copied cookie stops working everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gridmgr import Grid
from gridmgr.store import Store
from tests.builders import close_app
from tests.test_sessions import FAST_ARGON2, FIXED, PASSWORD, log_in, make_app, worker_id

COOKIE = "gridmgr_session"


@pytest.fixture(autouse=True)
def fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gridmgr.store.accounts._hasher", lambda: FAST_ARGON2)


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path) -> Iterator[Flask]:
    built = make_app(store, tiny, tmp_path)
    yield built
    close_app(built)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_of(client: FlaskClient) -> str:
    token = client.get("/me").get_json()["csrf_token"]
    assert isinstance(token, str)
    return token


def copy_cookie(source: FlaskClient, target: FlaskClient) -> None:
    cookie = source.get_cookie(COOKIE)
    assert cookie is not None
    target.set_cookie(COOKIE, cookie.value)


def test_a_cookie_saved_before_logout_is_refused_after_it(
    store: Store, app: Flask, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    log_in(client, worker_id())
    saved = app.test_client()
    copy_cookie(client, saved)
    assert saved.get("/me").status_code == 200

    assert client.post("/logout", headers={"X-CSRFToken": csrf_of(client)}).status_code == 303

    assert saved.get("/me").status_code == 401
    assert client.get("/me").status_code == 401
    assert store.ledger_head() is not None
    assert store.ledger_head().kind == "account.sessions_ended"  # type: ignore[union-attr]


def test_log_out_everywhere_ends_the_sessions_of_every_device(
    store: Store, app: Flask, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    phone = app.test_client()
    log_in(client, worker_id())
    log_in(phone, worker_id())
    assert phone.get("/me").status_code == 200
    assert client.get("/me").get_json()["logout_everywhere"] == "/logout/everywhere"

    done = client.post("/logout/everywhere", headers={"X-CSRFToken": csrf_of(client)})

    assert done.status_code == 303
    assert phone.get("/me").status_code == 401
    assert client.get("/me").status_code == 401
    log_in(phone, worker_id())  # a new login works
    assert phone.get("/me").status_code == 200


def test_log_out_everywhere_needs_the_csrf_token(
    store: Store, app: Flask, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    log_in(client, worker_id())
    assert client.post("/logout/everywhere").status_code == 400
    assert client.get("/me").status_code == 200


def test_a_password_change_keeps_the_changer_and_ends_the_other_sessions(
    store: Store, app: Flask, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    other = app.test_client()
    log_in(client, worker_id())
    log_in(other, worker_id())

    changed = client.post(
        "/password",
        data={"current_password": PASSWORD, "new_password": "a brand new password"},
        headers={"X-CSRFToken": csrf_of(client)},
    )

    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert client.get("/me").status_code == 200
    assert other.get("/me").status_code == 401
    assert store.check_password(worker_id(), "a brand new password", now=FIXED)


def test_a_password_change_needs_the_current_password(
    store: Store, app: Flask, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    log_in(client, worker_id())
    refused = client.post(
        "/password",
        data={"current_password": "not it at all", "new_password": "a brand new password"},
        headers={"X-CSRFToken": csrf_of(client)},
    )
    assert refused.status_code == 403
    assert store.check_password(worker_id(), PASSWORD, now=FIXED)
    assert client.get("/me").status_code == 200


def test_a_cookie_saved_before_logout_is_refused_by_dashboard_data_endpoints(
    store: Store, tiny: Grid, tmp_path: Path
) -> None:
    built = make_app(store, tiny, tmp_path)
    try:
        browser = built.test_client()
        store.set_password(worker_id(), PASSWORD, now=FIXED)
        log_in(browser, worker_id())
        saved = built.test_client()
        copy_cookie(browser, saved)
        browser.post("/logout", headers={"X-CSRFToken": csrf_of(browser)})
        # the same user loader guards every login_required_json view and Dash callback
        assert saved.get("/me").status_code == 401
        assert saved.post("/logout/everywhere").status_code == 400  # no CSRF token either
    finally:
        close_app(built)
