"""The Dash app factory: the shell (navbar, page container), access rules, static geometry.

Mounted on the API's Flask server under ``/dashboard/`` (one process, one port). Every page
and every callback is for a logged-in person (the session of :mod:`gridmgr.web.sessions`);
callbacks read who is asking on the server and pass that caller to the data module, which
limits everything to his scope. Dash's POSTs carry the session's CSRF token: the dash renderer
copies the ``_csrf_token`` cookie into the ``X-CSRFToken`` header, which the CSRF guard checks.
"""

from __future__ import annotations

import json
import re
from typing import Any

import dash
from dash import Dash, Input, Output, dcc, html
from dash.exceptions import PreventUpdate
from flask import Flask, Response, current_app, redirect, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf, validate_csrf  # type: ignore[import-untyped]
from wtforms import ValidationError  # type: ignore[import-untyped]

from dashboards import pages
from dashboards.data import DashData
from dashboards.i18n import DEFAULT_LANG, LANGS, lang_of, t
from gridmgr.access import Caller
from gridmgr.errors import GridMgrError
from gridmgr.services.loops import PeriodicLoop
from gridmgr.web.sessions import current_session_user

PREFIX = "/dashboard/"
LANG_COOKIE = "gridmgr_lang"
CSRF_COOKIE = "_csrf_token"
_GEO = re.compile(r"^tier([123])\.json$")
_DASH_API = ("_dash-update-component", "_dash-layout", "_dash-dependencies")


def current_caller() -> Caller | None:
    """The logged-in person making this request, as a caller (``None``: nobody)."""
    user = current_session_user()
    return None if user is None else user.caller


def require_caller() -> Caller:
    """The caller of a callback; nobody logged in stops the callback (nothing is sent)."""
    caller = current_caller()
    if caller is None:
        raise PreventUpdate
    return caller


def current_lang() -> str:
    """The UI language of this request (cookie; Chinese by default)."""
    return lang_of(request.cookies.get(LANG_COOKIE, DEFAULT_LANG))


def create_dash_app(
    server: Flask, data: DashData, *, tile_url: str | None = None, verify_every: float = 0.0
) -> Dash:
    """Mount the dashboard on ``server`` (which already has sessions and the API).

    ``verify_every`` > 0 verifies the ledger end to end in a background thread at once and then
    every that many seconds, for the invariant panel's "ledger verified at HH:MM".
    """
    app = Dash(
        "gridmgr",
        server=server,  # type: ignore[arg-type]  # Dash accepts a Flask app here
        url_base_pathname=PREFIX,
        title="gridmgr",
        update_title="",
        suppress_callback_exceptions=True,  # pages add their components after the first paint
        compress=True,  # flask-compress: assets and callback answers are gzipped
        serve_locally=True,  # every asset from this server: works with no internet
        assets_folder=str(_assets_folder()),
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    server.extensions["gridmgr_dash_data"] = data
    app.layout = shell
    pages.register(app, data, tile_url=tile_url)

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def render(pathname: str | None) -> Any:
        caller = require_caller()
        return pages.render(pathname or PREFIX, caller, data, current_lang(), tile_url=tile_url)

    _guard(server, data)
    _check_callback_requests(server, app)
    if verify_every > 0:
        # at once, then every so often; a failed pass keeps the last result and retries
        PeriodicLoop(data.verify_ledger, every=verify_every, name="gridmgr-ledger-watch").start()
    return app


def shell() -> Any:
    """The page frame: navbar, language switch, and the page container (filled by ``render``)."""
    lang = current_lang() if request else DEFAULT_LANG
    caller = current_caller()
    other = "en" if lang == "zh" else "zh"
    links = [("nav.command", PREFIX), ("nav.wall", PREFIX + "wall")]
    if caller is not None and caller.city_wide:  # the pages only city-wide roles may open
        links += [
            ("nav.coverage", PREFIX + "coverage"),
            ("nav.inspections", PREFIX + "inspections"),
        ]
    if caller is None or not caller.city_wide:
        links.append(("nav.worker", PREFIX + "worker"))
    data: DashData | None = current_app.extensions.get("gridmgr_dash_data") if caller else None
    unread = 0 if data is None or caller is None else data.unread(caller)
    notices = t("nav.notifications", lang) + (f" · {unread}" if unread else "")
    role = None if caller is None else caller.actor.role
    label = "" if role is None else (role.label_zh if lang == "zh" else role.value)
    who = "" if caller is None else f"{caller.actor.name} · {label}"
    return html.Div(
        [
            dcc.Location(id="url"),
            html.Header(
                [
                    html.Span(t("app", lang), className="brand"),
                    html.Nav(
                        [dcc.Link(t(k, lang), href=h, className="nav") for k, h in links]
                        + [dcc.Link(notices, href=PREFIX + "notifications", className="nav")]
                    ),
                    html.Span(who, className="who", id="who"),
                    html.A(t("lang", lang), href=f"{PREFIX}lang/{other}", className="nav lang"),
                    html.Form(
                        [
                            dcc.Input(type="hidden", name="csrf_token", value=_csrf()),
                            html.Button(t("nav.logout", lang), type="submit", className="nav"),
                        ],
                        method="post",
                        action="/logout",
                        className="logout",
                    ),
                ],
                className="topbar",
            ),
            html.Main(id="page", className="page"),
        ],
        lang="zh-CN" if lang == "zh" else "en",
    )


def _check_callback_requests(server: Flask, app: Dash) -> None:
    """Answer a malformed callback request with 400 and what is wrong (Dash would fail with
    a 500): the body must be the JSON object dash-renderer sends, for a callback that exists."""
    endpoint = f"{PREFIX}_dash-update-component"

    def check() -> ResponseReturnValue | None:
        if request.path != endpoint or request.method != "POST":
            return None
        body = request.get_json(silent=True)
        problem = _callback_problem(body, app.callback_map)
        if problem is None:
            return None
        return Response(
            json.dumps({"error": {"status": 400, "message": problem}}),
            status=400,
            mimetype="application/json",
        )

    server.before_request(check)


def _callback_problem(body: object, callbacks: dict[str, Any]) -> str | None:
    """What is wrong with a callback request body (``None``: nothing).

    >>> _callback_problem([], {})
    'send a JSON object: {"output": ..., "outputs": ..., "inputs": [...], "state": [...]}'
    >>> _callback_problem({"output": "x.children", "inputs": []}, {})
    'no callback has the output x.children'
    """
    if not isinstance(body, dict):
        return (
            'send a JSON object: {"output": ..., "outputs": ..., "inputs": [...], "state": [...]}'
        )
    output = body.get("output")
    if not isinstance(output, str):
        return '"output" must be a string naming the callback\'s outputs'
    if output not in callbacks:
        return f"no callback has the output {output[:200]}"
    for key in ("inputs", "state", "changedPropIds"):
        if key in body and not isinstance(body[key], list):
            return f'"{key}" must be a list'
    if not isinstance(body.get("outputs"), dict | list):
        return '"outputs" must be an object or a list of objects'
    return None


def _valid_csrf(token: str | None) -> bool:
    """Whether the browser's CSRF cookie still holds a valid token for this session (then it
    is kept: cookies that do not change let the browser cache what varies by cookie)."""
    if not token:
        return False
    try:
        validate_csrf(token)
    except ValidationError:
        return False
    return True


def _csrf() -> str:
    try:
        return str(generate_csrf())
    except (RuntimeError, KeyError):  # outside a request (layout validation)
        return ""


def _guard(server: Flask, data: DashData) -> None:
    """Logins for the dashboard's pages and callbacks; the grid geometry; the language switch."""

    def dashboard_login() -> ResponseReturnValue | None:
        path = request.path
        if not path.startswith(PREFIX):
            return None
        rest = path[len(PREFIX) :]
        if rest.startswith(("_dash-component-suites/", "assets/", "_favicon", "geo/")):
            return None  # code, styles and the (public) grid geometry
        if current_session_user() is not None:
            return None
        if rest.startswith(_DASH_API) or request.method != "GET":
            response = Response(
                '{"error": {"status": 401, "message": "not logged in: log in at /login"}}',
                status=401,
                mimetype="application/json",
            )
            return response
        return redirect(f"/login?next={request.full_path.rstrip('?')}", code=303)

    # before the CSRF guard: a visitor is told to log in, not that a token is missing
    server.before_request_funcs.setdefault(None, []).insert(0, dashboard_login)

    @server.after_request
    def csrf_cookie(response: Response) -> Response:
        # the dash renderer sends this cookie back as X-CSRFToken on every callback; it is set
        # with the page, and only when missing or stale: unchanging cookies let the browser
        # cache what varies by cookie (the geometry, the scripts)
        path = request.path
        if path.startswith(f"{PREFIX}_dash-component-suites/") and response.status_code in (
            200,
            304,
        ):
            # dash fingerprints these URLs (".v<version>m<mtime>."): a new file, a new URL
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        page = path.startswith(PREFIX) and response.mimetype == "text/html"
        if page and not _valid_csrf(request.cookies.get(CSRF_COOKIE)) and current_session_user():
            response.set_cookie(
                CSRF_COOKIE,
                str(generate_csrf()),
                samesite="Strict",
                secure=bool(server.config.get("SESSION_COOKIE_SECURE")),
                httponly=False,
            )
        return response

    def geometry(generation: str, name: str) -> Response:
        match = _GEO.match(name)
        if match is None or generation != data.geometry.generation:
            return Response("no such geometry (the grid changed: reload the page)", status=404)
        tier = data.geometry.tier(int(match.group(1)))
        gzip_ok = "gzip" in request.headers.get("Accept-Encoding", "")
        response = Response(
            tier.gzipped if gzip_ok else tier.geojson, mimetype="application/geo+json"
        )
        if gzip_ok:
            response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response

    def switch_language(lang: str) -> Response:
        back = request.referrer or PREFIX
        if not back.startswith(request.host_url):
            back = PREFIX  # only ever back to a page of this site
        response = Response(status=303, headers={"Location": back})
        if lang in LANGS:
            response.set_cookie(LANG_COOKIE, lang, samesite="Lax", max_age=365 * 86400)
        return response

    def photo(attachment_id: str) -> Response:
        caller = current_caller()
        if caller is None:
            return Response(status=401)
        try:
            body = data.photo(caller, attachment_id)
        except GridMgrError:
            return Response("no such photo, or not yours to see", status=404)
        return Response(
            body,
            mimetype="image/jpeg",
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
        )

    # plain Flask rules: not part of the API's OpenAPI document
    server.add_url_rule(f"{PREFIX}geo/<generation>/<name>", "dash_geometry", geometry)
    server.add_url_rule(f"{PREFIX}lang/<lang>", "dash_language", switch_language)
    server.add_url_rule(f"{PREFIX}photo/<attachment_id>", "dash_photo", photo)


def _assets_folder() -> Any:
    from pathlib import Path

    return Path(__file__).with_name("assets")


__all__ = ["PREFIX", "create_dash_app", "current_caller", "dash", "require_caller"]
