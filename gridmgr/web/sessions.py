"""Dashboard sessions: a person logs in with his password and a signed cookie names him after.

The session cookie authenticates the dashboard and nothing else: the token APIs (``/api/v1``,
Open311) read only ``Authorization: Bearer`` and never look at the cookie, so a browser that is
logged in cannot write through them. Every other state-changing request (the login form
included) must carry the session's CSRF token, in the form field ``csrf_token`` or the header
``X-CSRFToken``. The person's role and cells come from the roster at each request, so a post
lost or an account disabled takes effect at once.

A session ends on the server too: the cookie carries the account's session epoch, and a logout,
"log out everywhere" (``POST /logout/everywhere``) or a password change moves the epoch on, so
every copy of an older cookie is logged out. ``POST /password`` changes the own password and
keeps the session that changed it. Guessing is throttled before any password is hashed
(:mod:`gridmgr.services.logins`); a throttled attempt gets the same page as a wrong password,
with a ``Retry-After`` header.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import ParamSpec
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template_string,
    request,
)
from flask import session as flask_session
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_user, logout_user  # type: ignore[import-untyped]
from flask_wtf.csrf import CSRFProtect, generate_csrf  # type: ignore[import-untyped]

from gridmgr.access import Caller, caller_for
from gridmgr.errors import AccountError, ForbiddenError, GridMgrError
from gridmgr.services.accounts import (
    Account,
    account_of,
    check_password_policy,
    end_sessions,
    set_login_password,
)
from gridmgr.services.logins import check_login, login_failures
from gridmgr.web.deps import services

SECRET_KEY_ENV = "GRIDMGR_SECRET_KEY"
SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY_LENGTH = 32
SESSION_LIFETIME = timedelta(hours=12)
"""How long a login lasts, counted from the login (not from the last request)."""
DEFAULT_CSRF_EXEMPT = ("api_v1", "api_inspections", "open311", "api_devices")
"""Blueprints authenticated by tokens only: a cookie never authenticates them, so no CSRF
(``api_devices`` also takes a session, and checks its CSRF token itself when it does)."""
BLUEPRINT = "sessions"
LOGIN_FAILED = "人员编号或密码不正确 · Wrong person id or password."
NO_POST = "您目前没有岗位，请联系指挥中心 · You hold no post now; ask the command center."

_LOGIN_AT = "gridmgr_login_at"
_MAX_CLOCK_SKEW = timedelta(minutes=5)
_P = ParamSpec("_P")

_LOGIN_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 · Log in — gridmgr</title></head>
<body style="font-family: sans-serif; max-width: 24em; margin: 4em auto">
<h1>gridmgr 指挥中心登录 · Log in</h1>
{% if message %}<p role="alert" style="color: #b00020">{{ message }}</p>{% endif %}
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf_token" value="{{ csrf_token }}">
<input type="hidden" name="next" value="{{ next }}">
<p><label>人员编号 · Person id<br>
<input name="person_id" value="{{ person_id }}" required maxlength="64" autocomplete="username">
</label></p>
<p><label>密码 · Password<br>
<input name="password" type="password" required autocomplete="current-password"></label></p>
<p><button type="submit">登录 · Log in</button></p>
</form>
</body></html>"""

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


class SessionConfigError(GridMgrError, ValueError):
    """Sessions cannot be set up as asked (no secret key outside demo mode, a weak key …)."""


@dataclass(frozen=True)
class User:
    """A logged-in person as flask-login sees him: his caller now, his session stamp and the
    session epoch of his account when he logged in."""

    caller: Caller
    stamp: str
    epoch: int

    @property
    def person_id(self) -> str:
        """The roster person id."""
        return self.caller.actor.actor_id

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """What the session stores: the person id, the stamp of his current password and the
        session epoch."""
        return f"{self.person_id}:{self.stamp}:{self.epoch}"


def secret_key_for(data_dir: Path, env_value: str | None, *, demo: bool) -> str:
    """The key that signs session cookies: ``env_value`` (``GRIDMGR_SECRET_KEY``) when set.

    Otherwise, in demo mode only, a random key made once and kept in ``<data_dir>/secret_key``
    (mode 0600); outside demo mode a missing key is a :class:`SessionConfigError`.
    """
    if env_value is not None and env_value.strip():
        return _checked_key(env_value.strip(), source=SECRET_KEY_ENV)
    if not demo:
        raise SessionConfigError(
            f"set {SECRET_KEY_ENV} to a long random value, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`; it signs the "
            "dashboard's session cookies and must stay the same across restarts"
        )
    return _demo_key(data_dir / SECRET_KEY_FILE)


def init_sessions(
    app: Flask,
    *,
    secret_key: str,
    secure_cookies: bool,
    csrf_exempt: Iterable[str] = DEFAULT_CSRF_EXEMPT,
) -> None:
    """Add logins to ``app``: ``GET/POST /login``, ``POST /logout``, ``GET /me``, and CSRF.

    Accounts, the roster (roles and cells follow it at each request) and the clock come from the
    app's services (:func:`gridmgr.web.deps.services`). ``csrf_exempt`` names the
    token-authenticated blueprints (top-level names; those registered later count too).
    ``secure_cookies`` sends the cookies over HTTPS only: set it whenever the dashboard is
    served over HTTPS.
    """
    app.secret_key = _checked_key(secret_key, source="secret_key")
    app.config.update(
        SESSION_COOKIE_NAME="gridmgr_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # the login's lifetime counts from the login, so the cookie need not be re-sent on every
        # request; a cookie that stays the same keeps the browser's cache of the map geometry
        SESSION_REFRESH_EACH_REQUEST=False,
        REMEMBER_COOKIE_NAME="gridmgr_remember",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_DURATION=SESSION_LIFETIME,
        # CSRF is checked by the guard below, which knows the token blueprints
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=int(SESSION_LIFETIME.total_seconds()),
    )
    csrf = CSRFProtect(app)
    exempt = frozenset(csrf_exempt)

    def csrf_guard() -> None:
        if request.endpoint is None:  # 404 / 405: nothing runs, the error handler answers
            return
        if (request.blueprint or "").split(".")[0] in exempt:
            return
        csrf.protect()

    app.before_request(csrf_guard)

    login_manager = LoginManager()
    login_manager.session_protection = "strong"
    login_manager.login_view = f"{BLUEPRINT}.login_form"
    login_manager.login_message = None
    login_manager.user_loader(_load_user)
    login_manager.init_app(app)
    app.register_blueprint(bp)


def current_session_user() -> User | None:
    """The person logged in on this request's session, or ``None``."""
    user = current_user._get_current_object()
    return user if isinstance(user, User) else None


def login_required_json(
    view: Callable[_P, ResponseReturnValue],
) -> Callable[_P, ResponseReturnValue]:
    """Decorate a dashboard data endpoint: a JSON 401 unless a person is logged in.

    The view reads the person with :func:`current_session_user` (never ``None`` inside it).
    """

    @functools.wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> ResponseReturnValue:
        if current_session_user() is None:
            return _not_logged_in()
        return view(*args, **kwargs)

    return wrapper


def _load_user(user_id: str) -> User | None:
    """The user a session names, if his account, password, epoch, login and post are all
    current."""
    parts = user_id.rsplit(":", 2)
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    person_id, stamp, epoch = parts[0], parts[1], int(parts[2])
    found = services()
    account = account_of(found, person_id)
    if account is None or account.disabled:
        return None
    if not hmac.compare_digest(stamp, _stamp(_key(), account)):
        return None  # the password changed since this login
    if epoch != account.session_epoch:
        return None  # logged out (here or everywhere) since this login
    now = found.now()
    if not _login_is_current(flask_session.get(_LOGIN_AT), now):
        return None
    try:
        return User(caller_for(found.roster, person_id, now), stamp, epoch)
    except ForbiddenError:
        return None  # no longer on the roster, or holds no post now


bp = Blueprint(BLUEPRINT, __name__)


@bp.get("/login")
def login_form() -> ResponseReturnValue:
    return _login_page(next_url=_safe_next(request.args.get("next")))


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    person_id = request.form.get("person_id", "").strip()
    password = request.form.get("password", "")
    next_url = _safe_next(request.form.get("next"))
    found = services()
    now = found.now()
    verdict = check_login(found, person_id, password, address=request.remote_addr or "?")
    # one answer for an unknown person, a disabled account, a wrong password and a throttled
    # attempt (which only adds Retry-After)
    if not verdict.ok:
        page = _login_page(next_url=next_url, person_id=person_id, message=LOGIN_FAILED, status=401)
        if verdict.retry_after is not None:
            page.headers["Retry-After"] = str(math.ceil(verdict.retry_after.total_seconds()))
        return page
    try:
        caller = caller_for(found.roster, person_id, now)
    except ForbiddenError:  # only ever told to someone who knows the password
        return _login_page(next_url=next_url, person_id=person_id, message=NO_POST, status=403)
    account = account_of(found, person_id)
    if account is None:  # pragma: no cover - deleted between the two reads
        return _login_page(next_url=next_url, message=LOGIN_FAILED, status=401)
    _start_session(User(caller, _stamp(_key(), account), account.session_epoch), now)
    return redirect(next_url, code=303)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End this session, and every copy of its cookie (the account's epoch moves on)."""
    return _end_sessions(reason="logout")


@bp.post("/logout/everywhere")
def logout_everywhere() -> ResponseReturnValue:
    """End every session of the logged-in person, on every browser and device."""
    return _end_sessions(reason="everywhere")


@bp.post("/password")
@login_required_json
def change_password() -> ResponseReturnValue:
    """Change the own password (form fields ``current_password``, ``new_password``): every other
    session ends, this one goes on."""
    user = current_session_user()
    assert user is not None
    found = services()
    new_password = request.form.get("new_password", "")
    try:
        check_password_policy(user.person_id, new_password)
    except AccountError as exc:
        return _json_error(400, str(exc))
    verdict = check_login(
        found,
        user.person_id,
        request.form.get("current_password", ""),
        address=request.remote_addr or "?",
    )
    if not verdict.ok:
        return _json_error(403, "the current password is wrong")
    now = found.now()
    account = set_login_password(
        found.store, user.person_id, new_password, now=now, actor=user.person_id
    )
    _start_session(User(user.caller, _stamp(_key(), account), account.session_epoch), now)
    response = jsonify({"person_id": user.person_id, "password_changed": True})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/me")
@login_required_json
def me() -> ResponseReturnValue:
    user = current_session_user()
    assert user is not None
    actor = user.caller.actor
    response = jsonify(
        {
            "person_id": actor.actor_id,
            "name": actor.name,
            "role": actor.role.value,
            "role_zh": actor.role.label_zh,
            "scope": None if user.caller.scope is None else list(user.caller.scope),
            "logout_everywhere": "/logout/everywhere",
            "csrf_token": generate_csrf(),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_page(
    *, next_url: str, person_id: str = "", message: str = "", status: int = 200
) -> Response:
    # Jinja autoescapes every value: a person id typed into the form is text, never HTML
    body = render_template_string(
        _LOGIN_PAGE,
        action="/login",
        csrf_token=generate_csrf(),
        next=next_url,
        person_id=person_id[:64],
        message=message,
    )
    response = Response(body, status=status, mimetype="text/html")
    response.headers.update(_PAGE_HEADERS)
    return response


@bp.get("/logins/failures")
@login_required_json
def failed_logins() -> ResponseReturnValue:
    """The refused logins, newest 500, for city-wide roles (``?person=P&since=ISO-time``)."""
    user = current_session_user()
    assert user is not None
    if user.caller.scope is not None:
        return _json_error(403, "only city-wide roles (operator, leaders) see refused logins")
    since_text = request.args.get("since")
    try:
        since = None if since_text is None else datetime.fromisoformat(since_text)
    except ValueError:
        return _json_error(400, f"since={since_text!r} is no ISO time, e.g. 2026-05-06T09:00+08:00")
    if since is not None and since.tzinfo is None:
        return _json_error(400, "since needs a UTC offset, e.g. 2026-05-06T09:00+08:00")
    found = login_failures(
        services().store, person_id=request.args.get("person"), since=since, limit=500
    )
    response = jsonify(
        {
            "failures": [
                {"at": f.at.isoformat(), "person_id": f.person_id, "address": f.address}
                for f in found
            ]
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _start_session(user: User, now: datetime) -> None:
    flask_session.clear()  # nothing of the earlier session survives the login
    flask_session.permanent = True
    flask_session[_LOGIN_AT] = now.isoformat()
    login_user(user, remember=False, fresh=True)


def _end_sessions(*, reason: str) -> ResponseReturnValue:
    user = current_session_user()
    if user is not None:
        found = services()
        end_sessions(
            found.store, user.person_id, now=found.now(), actor=user.person_id, reason=reason
        )
    logout_user()
    flask_session.clear()
    return redirect("/login", code=303)


def _json_error(status: int, message: str) -> Response:
    response = jsonify({"error": {"status": status, "message": message}})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _not_logged_in() -> Response:
    response = jsonify(
        {"error": {"status": 401, "message": "not logged in: log in at /login (POST /login)"}}
    )
    response.status_code = 401
    response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(target: str | None) -> str:
    """Where to go after the login: a path on this site, never another site.

    >>> _safe_next("/dashboard?tab=map"), _safe_next("//evil.example"), _safe_next(None)
    ('/dashboard?tab=map', '/', '/')
    >>> _safe_next("https://evil.example/"), _safe_next("/\\\\evil.example")
    ('/', '/')
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if any(c == "\\" or c.isspace() or ord(c) < 32 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _key() -> str:
    key = current_app.secret_key
    assert isinstance(key, str), "init_sessions sets the key"
    return key


def _stamp(key: str, account: Account) -> str:
    """A fingerprint of the account's password hash: a new password ends older sessions."""
    return hmac.new(key.encode(), account.password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def _login_is_current(value: object, now: datetime) -> bool:
    if not isinstance(value, str):
        return False
    try:
        login_at = datetime.fromisoformat(value)
    except ValueError:
        return False
    if login_at.tzinfo is None:
        return False
    return now - SESSION_LIFETIME < login_at <= now + _MAX_CLOCK_SKEW


def _checked_key(key: str, *, source: str) -> str:
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise SessionConfigError(
            f"{source} has {len(key)} characters; use at least {MIN_SECRET_KEY_LENGTH} random "
            "ones, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return key


def _demo_key(path: Path) -> str:
    """The demo key in ``path``, made on first use (created exclusively, mode 0600)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data folder
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_demo_key(path)
    except OSError as exc:
        raise SessionConfigError(f"cannot create the demo secret key {path}: {exc}") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
        out.flush()
        os.fsync(out.fileno())
    return key


def _read_demo_key(path: Path) -> str:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise SessionConfigError(
            f"{path} can be read by other users (mode {path.stat().st_mode & 0o777:o}); "
            f"run `chmod 600 {path}`"
        )
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionConfigError(
            f"cannot read the demo secret key {path}: {exc}; delete it to have a new one made"
        ) from None
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise SessionConfigError(
            f"{path} holds no usable key ({len(key)} characters); delete it to have a new one "
            "made (everyone will have to log in again)"
        )
    return key
