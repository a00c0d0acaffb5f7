"""Dashboard logins: accounts (argon2id, policy, ledger), sessions, CSRF, cookie flags, and the
token API refusing the session cookie (in-process Flask test client, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner, Result
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from gridmgr import Grid
from gridmgr.api import create_app
from gridmgr.cli.accounts import account
from gridmgr.errors import AccountError, GridMgrError, UnknownAccountError
from gridmgr.grid.generations import store_generation
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.settings import Settings
from gridmgr.store import Store
from gridmgr.store.accounts import check_password_policy
from gridmgr.web.sessions import (
    LOGIN_FAILED,
    NO_POST,
    SECRET_KEY_FILE,
    SessionConfigError,
    current_session_user,
    init_sessions,
    login_required_json,
    secret_key_for,
)
from tests.builders import api_app, close_app, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)  # a Wednesday morning, working time
KEY = "k" * 16 + "-test-secret-key-of-enough-length"
PASSWORD = "correct horse battery"
OWN_CELL = "320281001001001"  # NW corner cell of the tiny grid
REPORT = {"lon": 120.0625, "lat": 31.9375, "category": "street_vending", "description": "占道"}
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


FAST_ARGON2 = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
"""Test-speed argon2id parameters (the defaults take ~0.3 s a hash on a small CI machine)."""


@pytest.fixture
def real_argon2() -> None:
    """Ask for this to hash with argon2-cffi's default parameters, as production does."""


@pytest.fixture(autouse=True)
def fast_argon2(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "real_argon2" not in request.fixturenames:
        monkeypatch.setattr("gridmgr.store.accounts._hasher", lambda: FAST_ARGON2)


def operator_id() -> str:
    person = tiny_roster().owner(COMMAND_CENTER, FIXED)
    assert person is not None
    return person.person_id


def worker_id() -> str:
    person = tiny_roster().owner(field_post(OWN_CELL), FIXED)
    assert person is not None
    return person.person_id


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_app(
    store: Store,
    tiny: Grid,
    data_dir: Path,
    *,
    clock: Callable[[], datetime] = lambda: FIXED,
    secure_cookies: bool = False,
) -> Flask:
    app = api_app(store, Settings(data_dir=data_dir), clock=clock, grid=tiny)
    init_sessions(app, secret_key=KEY, secure_cookies=secure_cookies)
    return app


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path) -> Iterator[Flask]:
    built = make_app(store, tiny, tmp_path)
    yield built
    close_app(built)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token of the client's session, as the login form carries it."""
    page = client.get("/login")
    assert page.status_code == 200
    found = CSRF_INPUT.search(page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def log_in(client: FlaskClient, person_id: str, password: str = PASSWORD) -> TestResponse:
    return client.post(
        "/login",
        data={"person_id": person_id, "password": password, "csrf_token": csrf_token(client)},
    )


def error_message(response: TestResponse) -> str:
    body = response.get_json()
    assert isinstance(body, dict)
    message = body["error"]["message"]
    assert isinstance(message, str)
    return message


def ledger_payloads(store: Store) -> list[tuple[str, dict[str, object]]]:
    """(kind, payload) of every ledger event."""
    return [(e.kind, json.loads(e.payload)) for e in store.ledger_events()]


# -- accounts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short1!", "at least 10"),
        ("1234567890123", "only digits"),
        ("p00044abcd", None),  # the person id below, in another case, is refused
        ("x" * 257, "at most 256"),
    ],
)
def test_password_policy_refuses_short_all_digit_and_overlong_passwords(
    password: str, says: str | None
) -> None:
    if says is None:
        check_password_policy("P00044", password)
        return
    with pytest.raises(AccountError, match=says) as caught:
        check_password_policy("P00044", password)
    assert isinstance(caught.value, GridMgrError)
    assert isinstance(caught.value, ValueError)


def test_password_policy_refuses_the_person_id_itself_in_any_case() -> None:
    with pytest.raises(AccountError, match="person id"):
        check_password_policy("worker-0001", "WORKER-0001")


def test_a_refused_password_stores_nothing(store: Store) -> None:
    with pytest.raises(AccountError):
        store.set_password(worker_id(), "123456789012", now=FIXED)
    assert store.account(worker_id()) is None
    assert store.ledger_head() is None


def test_set_password_stores_an_argon2id_hash_with_default_parameters_never_the_password(
    store: Store, real_argon2: None
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    stored_account = store.account(worker_id())
    assert stored_account is not None
    stored = stored_account.password_hash
    assert stored.startswith("$argon2id$")
    assert not PasswordHasher().check_needs_rehash(stored)
    assert store.check_password(worker_id(), PASSWORD, now=FIXED)
    assert PASSWORD not in stored
    account_ = store.account(worker_id())
    assert account_ is not None
    assert PASSWORD not in repr(account_)
    assert stored not in repr(account_)


def test_the_ledger_records_each_password_change_without_the_password_or_hash(
    store: Store,
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED, actor="cli:account")
    store.set_password(worker_id(), "another good password", now=FIXED + timedelta(days=1))
    account_ = store.account(worker_id())
    assert account_ is not None
    events = ledger_payloads(store)
    assert [kind for kind, _ in events] == ["account.password_set", "account.password_set"]
    assert [p["created"] for _, p in events] == [True, False]
    raw = json.dumps([p for _, p in events])
    for secret in (PASSWORD, "another good password", account_.password_hash, "$argon2"):
        assert secret not in raw
    assert store.verify_ledger().ok
    assert account_.created_at == FIXED
    assert account_.updated_at == FIXED + timedelta(days=1)


def test_check_password_accepts_only_the_current_password_of_an_enabled_account(
    store: Store,
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    assert store.check_password(worker_id(), PASSWORD, now=FIXED)
    assert not store.check_password(worker_id(), PASSWORD + "!", now=FIXED)
    assert not store.check_password("nobody", PASSWORD, now=FIXED)
    assert not store.check_password("", PASSWORD, now=FIXED)
    store.disable_account(worker_id(), now=FIXED)
    assert not store.check_password(worker_id(), PASSWORD, now=FIXED)
    store.enable_account(worker_id(), now=FIXED)
    assert store.check_password(worker_id(), PASSWORD, now=FIXED)
    kinds = [kind for kind, _ in ledger_payloads(store)]
    assert kinds == ["account.password_set", "account.disabled", "account.enabled"]


def test_disabling_an_unknown_account_says_how_to_create_one(store: Store) -> None:
    with pytest.raises(UnknownAccountError, match="set-password"):
        store.disable_account("nobody", now=FIXED)


def test_a_hash_with_old_parameters_is_replaced_at_the_next_good_login(
    store: Store, real_argon2: None
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    weak = FAST_ARGON2.hash(PASSWORD)
    # as if the hash had been made with older parameters (written behind the store's back)
    store.execute_sql_for_tests("UPDATE accounts SET password_hash = :weak", {"weak": weak})
    assert store.check_password(worker_id(), PASSWORD, now=FIXED)
    account_ = store.account(worker_id())
    assert account_ is not None
    assert account_.password_hash != weak
    assert not PasswordHasher().check_needs_rehash(account_.password_hash)
    assert ledger_payloads(store)[-1][0] == "account.password_rehashed"


# -- logging in -----------------------------------------------------------------------------


def test_a_login_with_the_csrf_token_opens_a_session_and_me_shows_the_role(
    store: Store, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    response = log_in(client, worker_id())
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    me = client.get("/me")
    assert me.status_code == 200
    body = me.get_json()
    assert body["person_id"] == worker_id()
    assert body["role"] == "worker"
    assert body["name"] == tiny_roster().person(worker_id()).name
    assert OWN_CELL in body["scope"]
    assert body["csrf_token"]


def test_an_operator_is_city_wide_in_me(store: Store, client: FlaskClient) -> None:
    store.set_password(operator_id(), PASSWORD, now=FIXED)
    assert log_in(client, operator_id()).status_code == 303
    body = client.get("/me").get_json()
    assert (body["role"], body["scope"]) == ("operator", None)


def test_me_without_a_session_answers_401_in_json(client: FlaskClient) -> None:
    response = client.get("/me")
    assert response.status_code == 401
    assert "log in" in error_message(response)


def test_a_wrong_password_and_an_unknown_person_get_the_same_answer(
    store: Store, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    wrong = log_in(client, worker_id(), "not the password")
    unknown = log_in(client, "P99999", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    pages = [r.get_data(as_text=True) for r in (wrong, unknown)]
    assert all(LOGIN_FAILED in page for page in pages)
    # the pages differ only in the echoed person id and the CSRF token
    normalised = [
        CSRF_INPUT.sub("", page).replace(worker_id(), "ID").replace("P99999", "ID")
        for page in pages
    ]
    assert normalised[0] == normalised[1]
    assert client.get("/me").status_code == 401


def test_login_without_the_csrf_token_is_refused_with_400(
    store: Store, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    client.get("/login")  # a session exists, but the form is sent without its token
    response = client.post("/login", data={"person_id": worker_id(), "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in error_message(response)
    assert client.get("/me").status_code == 401


def test_logout_requires_the_csrf_token_and_then_ends_the_session(
    store: Store, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    log_in(client, worker_id())
    refused = client.post("/logout")
    assert refused.status_code == 400
    assert client.get("/me").status_code == 200
    token = client.get("/me").get_json()["csrf_token"]
    done = client.post("/logout", headers={"X-CSRFToken": token})
    assert done.status_code == 303
    assert client.get("/me").status_code == 401


def test_the_session_cookie_is_httponly_samesite_lax_and_not_secure_over_http(
    store: Store, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    cookie = log_in(client, worker_id()).headers["Set-Cookie"]
    assert cookie.startswith("gridmgr_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert "Expires=" in cookie  # a 12-hour cookie, not a browser-lifetime one


def test_secure_cookies_marks_the_session_cookie_secure(
    store: Store, tiny: Grid, tmp_path: Path
) -> None:
    app = make_app(store, tiny, tmp_path, secure_cookies=True)
    try:
        client = app.test_client()
        store.set_password(worker_id(), PASSWORD, now=FIXED)
        page = client.get("/login", base_url="https://localhost")
        token = CSRF_INPUT.search(page.get_data(as_text=True))
        assert token is not None
        response = client.post(
            "/login",
            base_url="https://localhost",
            headers={"Referer": "https://localhost/login"},
            data={"person_id": worker_id(), "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert response.status_code == 303
        cookie = response.headers["Set-Cookie"]
        for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
            assert flag in cookie
        assert app.config["REMEMBER_COOKIE_SECURE"] is True
    finally:
        close_app(app)


def test_a_logged_in_session_cookie_does_not_authenticate_api_reports(
    store: Store, client: FlaskClient
) -> None:
    store.set_password(operator_id(), PASSWORD, now=FIXED)
    log_in(client, operator_id())
    token = client.get("/me").get_json()["csrf_token"]
    for headers in ({}, {"X-CSRFToken": token}):
        response = client.post("/api/v1/reports", json=REPORT, headers=headers)
        assert response.status_code == 401
        assert "Bearer" in error_message(response)
    assert store.count_cases() == 0


def test_the_token_api_needs_no_csrf_token(store: Store, client: FlaskClient) -> None:
    secret = store.create_credential(kind="person", subject=operator_id(), now=FIXED, days=30)
    response = client.post(
        "/api/v1/reports", json=REPORT, headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 201


def test_token_blueprints_registered_after_init_are_exempt_and_others_are_not(
    store: Store, tiny: Grid, tmp_path: Path
) -> None:
    app = make_app(store, tiny, tmp_path)
    bp = Blueprint("dashboard_actions", __name__, url_prefix="/dashboard_actions")
    bp.add_url_rule("/post", "post", lambda: "done", methods=["POST"])
    app.register_blueprint(bp)
    try:
        client = app.test_client()
        # Open311 (mounted by create_app) is token-only: refused for its missing api_key (403,
        # the spec's code), not by the CSRF check (400)
        assert client.post("/open311/v2/requests.json", data={"x": "1"}).status_code == 403
        assert client.post("/dashboard_actions/post").status_code == 400
    finally:
        close_app(app)


def test_a_disabled_account_cannot_log_in_and_its_open_session_ends(
    store: Store, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    log_in(client, worker_id())
    assert client.get("/me").status_code == 200
    store.disable_account(worker_id(), now=FIXED)
    assert client.get("/me").status_code == 401
    response = log_in(client, worker_id())
    assert response.status_code == 401
    assert LOGIN_FAILED in response.get_data(as_text=True)


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(
    store: Store, client: FlaskClient
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    log_in(client, worker_id())
    store.set_password(worker_id(), "a brand new password", now=FIXED)
    assert client.get("/me").status_code == 401


def test_a_session_ends_twelve_hours_after_the_login(
    store: Store, tiny: Grid, tmp_path: Path
) -> None:
    clock = Clock(FIXED)
    app = make_app(store, tiny, tmp_path, clock=clock)
    try:
        client = app.test_client()
        store.set_password(worker_id(), PASSWORD, now=FIXED)
        log_in(client, worker_id())
        clock.now = FIXED + timedelta(hours=11, minutes=59)
        assert client.get("/me").status_code == 200
        clock.now = FIXED + timedelta(hours=12)
        assert client.get("/me").status_code == 401
    finally:
        close_app(app)


def test_a_person_holding_no_post_now_is_told_so_only_with_the_right_password(
    store: Store, tiny: Grid, tmp_path: Path
) -> None:
    before_posts = datetime(2023, 6, 1, 10, 0, tzinfo=TZ)  # the tiny roster starts in 2024
    app = make_app(store, tiny, tmp_path, clock=lambda: before_posts)
    try:
        client = app.test_client()
        store.set_password(worker_id(), PASSWORD, now=before_posts)
        assert LOGIN_FAILED in log_in(client, worker_id(), "wrong password").get_data(True)
        response = log_in(client, worker_id())
        assert response.status_code == 403
        assert NO_POST in response.get_data(as_text=True)
        assert client.get("/me").status_code == 401
    finally:
        close_app(app)


@pytest.mark.parametrize(
    ("asked", "goes_to"),
    [
        ("/cases?state=open", "/cases?state=open"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
    ],
)
def test_login_goes_back_only_to_a_path_on_this_site(
    store: Store, client: FlaskClient, asked: str, goes_to: str
) -> None:
    store.set_password(worker_id(), PASSWORD, now=FIXED)
    data = {
        "person_id": worker_id(),
        "password": PASSWORD,
        "next": asked,
        "csrf_token": csrf_token(client),
    }
    response = client.post("/login", data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == goes_to


def test_the_login_page_shows_a_typed_person_id_as_text(client: FlaskClient) -> None:
    response = log_in(client, '<script>alert("x")</script>', "whatever-password")
    page = response.get_data(as_text=True)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_login_required_json_guards_a_dashboard_endpoint(
    store: Store, tiny: Grid, tmp_path: Path
) -> None:
    app = make_app(store, tiny, tmp_path)

    @app.get("/dashboard/data")
    @login_required_json
    def data() -> dict[str, str]:
        user = current_session_user()
        assert user is not None
        return {"person": user.person_id}

    try:
        client = app.test_client()
        assert client.get("/dashboard/data").status_code == 401
        store.set_password(worker_id(), PASSWORD, now=FIXED)
        log_in(client, worker_id())
        assert client.get("/dashboard/data").get_json() == {"person": worker_id()}
    finally:
        close_app(app)


# -- the secret key -------------------------------------------------------------------------


def test_secret_key_from_the_environment_wins_even_in_demo_mode(tmp_path: Path) -> None:
    assert secret_key_for(tmp_path, KEY, demo=True) == KEY
    assert secret_key_for(tmp_path, KEY, demo=False) == KEY
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_a_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SessionConfigError, match="at least 32"):
        secret_key_for(tmp_path, "hunter2", demo=True)


def test_demo_mode_makes_a_secret_key_file_readable_by_its_owner_only_and_reuses_it(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = secret_key_for(data_dir, None, demo=True)
    path = data_dir / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert secret_key_for(data_dir, "", demo=True) == first


def test_a_demo_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    secret_key_for(tmp_path, None, demo=True)
    (tmp_path / SECRET_KEY_FILE).chmod(0o644)
    with pytest.raises(SessionConfigError, match="chmod 600"):
        secret_key_for(tmp_path, None, demo=True)


def test_without_a_secret_key_outside_demo_mode_sessions_refuse_to_start(tmp_path: Path) -> None:
    with pytest.raises(SessionConfigError, match="GRIDMGR_SECRET_KEY"):
        secret_key_for(tmp_path, None, demo=False)
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_init_sessions_refuses_a_weak_key(store: Store, tiny: Grid, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), tiny, tiny_roster())
    with pytest.raises(SessionConfigError):
        init_sessions(app, secret_key="short", secure_cookies=False)


# -- gridmgr account ------------------------------------------------------------------------


@pytest.fixture
def tiny_dir(tmp_path: Path, tiny: Grid) -> Path:
    data_dir = tmp_path / "data"
    store_generation(tiny, Settings(data_dir=data_dir))
    return data_dir


def run_account(data_dir: Path, *args: str, stdin: str | None = None) -> Result:
    obj = {"settings": Settings(data_dir=data_dir), "debug": False}
    return CliRunner().invoke(account, list(args), obj=obj, input=stdin)


def test_account_set_password_from_stdin_then_disable(tiny_dir: Path, tmp_path: Path) -> None:
    from gridmgr.store import open_store

    db = str(tmp_path / "cli.sqlite")
    person = worker_id()
    args = ("set-password", "--person", person, "--password-stdin", "--db", db)
    done = run_account(tiny_dir, *args, stdin=PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    assert f"password set for {tiny_roster().person(person).name}" in done.output
    assert PASSWORD not in done.output
    assert run_account(tiny_dir, "disable", "--person", person, "--db", db).exit_code == 0
    store = open_store(f"sqlite:///{db}")
    try:
        assert not store.check_password(person, PASSWORD, now=FIXED)
        assert [k for k, _ in ledger_payloads(store)][-2:] == [
            "account.password_set",
            "account.disabled",
        ]
        assert ledger_payloads(store)[-2][1]["created"] is True
    finally:
        store.close()


def test_account_set_password_asks_twice_and_refuses_a_weak_one(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from gridmgr.store import open_store

    db = str(tmp_path / "cli.sqlite")
    mismatch_then_ok = f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n"
    ok = run_account(
        tiny_dir, "set-password", "--person", worker_id(), "--db", db, stdin=mismatch_then_ok
    )
    assert ok.exit_code == 0, ok.output
    assert "do not match" in ok.output
    assert PASSWORD not in ok.output  # hidden input is not echoed
    weak_args = ("set-password", "--person", worker_id(), "--password-stdin", "--db", db)
    weak = run_account(tiny_dir, *weak_args, stdin="12345678901\n")
    assert isinstance(weak.exception, AccountError)
    assert "only digits" in str(weak.exception)
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.check_password(worker_id(), PASSWORD, now=FIXED)
    finally:
        store.close()


def test_demo_mode_creates_one_login_per_role_once_and_keeps_changed_passwords(
    store: Store,
) -> None:
    from gridmgr.responsibility.demo_roster import DEMO_PASSWORD

    logins = store.ensure_demo_logins(tiny_roster(), at=FIXED)
    worker = next(p for label, p in logins if "网格员" in label)
    store.set_password(worker.person_id, "a-private-password", now=FIXED)
    again = store.ensure_demo_logins(tiny_roster(), at=FIXED)

    assert [label.split(" ")[-1] for label, _ in logins] == [
        "值班员",
        "镇街负责人",
        "网格长",
        "网格员",
        "单位负责人",
        "指挥中心主任",
        "执法队负责人",
        "单位成员",
    ]
    assert again == logins
    for _, person in logins:
        expected = person.person_id != worker.person_id
        assert store.check_password(person.person_id, DEMO_PASSWORD, now=FIXED) is expected
    assert store.check_password(worker.person_id, "a-private-password", now=FIXED)
