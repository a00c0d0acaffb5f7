"""The dashboard's plain Flask side: who may reach its pages and callbacks, the CSRF cookie the
callbacks send back, malformed callback requests, and the rules that are not Dash pages (the
grid geometry, the language switch, case photos, case dossiers).

Every page and every callback is for a logged-in person (the session of
:mod:`gridmgr.web.sessions`). Dash's POSTs carry the session's CSRF token: the dash renderer
copies the ``_csrf_token`` cookie into the ``X-CSRFToken`` header, which the CSRF guard checks.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dash import Dash
from flask import Flask, Response, current_app, redirect, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf, validate_csrf  # type: ignore[import-untyped]
from wtforms import ValidationError  # type: ignore[import-untyped]

from dashboards.context import LANG_COOKIE, PREFIX, current_caller, dashboard
from dashboards.i18n import LANGS
from dashboards.plotlyjs import add_plotly_route
from dashboards.screen import add_screen_routes
from gridmgr.errors import GridMgrError
from gridmgr.services.dossier import export_dossier
from gridmgr.services.photos import read_photo
from gridmgr.services.treeheads import SigningKeyError, signing_key
from gridmgr.web.sessions import current_session_user

CSRF_COOKIE = "_csrf_token"
_GEO = re.compile(r"^tier([123])\.json$")
_FINGERPRINTED = re.compile(rf"^{PREFIX}_dash-component-suites/.*\.v[0-9_]+m[0-9]+\.")
_DASH_API = ("_dash-update-component", "_dash-layout", "_dash-dependencies")
MAX_DEPTH = 100
"""How deep a callback body may nest lists and objects (dash-renderer sends a few levels)."""
_TEXT_PROPS = frozenset({"pathname", "href", "search", "hash"})
"""Properties whose values are text or null (a dict there made Dash fail)."""
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def check_callback_requests(server: Flask, app: Dash) -> None:
    """Answer a malformed callback request with 400 and what is wrong (Dash would fail with
    a 500): the body must be the JSON object dash-renderer sends, nested at most
    :data:`MAX_DEPTH` deep, for a callback that exists, with the inputs and state it declares."""
    endpoint = f"{PREFIX}_dash-update-component"

    def check() -> ResponseReturnValue | None:
        if request.path != endpoint or request.method != "POST":
            return None
        # the depth is checked on the raw bytes: parsing 50,000 nested lists would overflow
        # Python's stack before any check on the parsed value could run
        if is_nested_deeper(request.get_data(cache=True), MAX_DEPTH):
            problem: str | None = f"the JSON is nested more than {MAX_DEPTH} deep"
        else:
            problem = _callback_problem(request.get_json(silent=True), app.callback_map)
        if problem is None:
            return None
        return Response(
            json.dumps({"error": {"status": 400, "message": problem}}),
            status=400,
            mimetype="application/json",
        )

    server.before_request(check)


def is_nested_deeper(data: bytes, limit: int) -> bool:
    """Whether the JSON text ``data`` nests lists and objects more than ``limit`` deep (brackets
    inside strings do not count). Cheap: only bodies with that many brackets are scanned.

    >>> is_nested_deeper(b"[[[]]]", 2), is_nested_deeper(b'[["]]]]"]]', 2)
    (True, False)
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b'""', data)):
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


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
    problem = _outputs_problem(body.get("outputs"), output)
    if problem is not None:
        return problem
    if not all(isinstance(c, str) for c in body.get("changedPropIds", [])):
        return '"changedPropIds" must be a list of strings "<id>.<property>"'
    declared = callbacks[output]
    for key, noun in (("inputs", "input"), ("state", "state")):
        problem = _values_problem(body.get(key, []), declared.get(key, []), noun)
        if problem is not None:
            return problem
    return None


def _outputs_problem(outputs: object, key: str) -> str | None:
    """What is wrong with the ``outputs`` of a callback body, against the callback's ``key``
    (``"id.prop"``, or ``"..id.prop...id.prop.."`` for several, each maybe ``@<hash>``)."""
    named = key.strip(".").split("...") if key.startswith("..") else [key]
    declared = [d.split("@")[0] for d in named]
    items = outputs if isinstance(outputs, list) else [outputs]
    shape = '"outputs" must be an object or a list of objects {"id": ..., "property": ...}'
    if not all(isinstance(o, dict) and _dependency_problem(o) is None for o in items):
        return shape
    if len(items) != len(declared):
        return f"this callback has {len(declared)} output(s), the request names {len(items)}"
    for item, want in zip(items, declared, strict=True):
        assert isinstance(item, dict)
        named_here = f"{item['id']}.{str(item['property']).split('@')[0]}"
        if not want.startswith("{") and named_here != want:
            return f'"outputs" must name {want[:200]}'
    return None


def _values_problem(given: list[Any], declared: list[dict[str, Any]], noun: str) -> str | None:
    """What is wrong with the ``inputs`` (or ``state``) of a callback body, against what the
    callback ``declared``."""
    if len(given) != len(declared):
        return f"this callback takes {len(declared)} {noun}(s), the request sent {len(given)}"
    for n, (item, want) in enumerate(zip(given, declared, strict=True)):
        many = any(f'["{w}"]' in str(want["id"]) for w in ("ALL", "ALLSMALLER"))
        values = item if many and isinstance(item, list) else [item]
        if many != isinstance(item, list):
            shape = "a list of objects" if many else "an object"
            return f"{noun} {n} ({want['id']}.{want['property']}) must be {shape}"
        for value in values:
            problem = _dependency_problem(value) if isinstance(value, dict) else "an object"
            pattern = str(want["id"]).startswith("{")
            if problem is None and (pattern != isinstance(value["id"], dict)):
                problem = '"id" must be ' + ("an object" if pattern else f"{want['id']!r}")
            if problem is not None:
                return f"{noun} {n} ({want['id']}.{want['property']}): {problem}"
            if want["property"] in _TEXT_PROPS and not isinstance(value.get("value"), str | None):
                return f"{noun} {n} {want['id']}.{want['property']} must be a string or null"
    return None


def _dependency_problem(item: dict[str, Any]) -> str | None:
    """What is wrong with one ``{"id": ..., "property": ...}`` of a callback body."""
    found = item.get("id")
    flat = isinstance(found, dict) and all(
        isinstance(v, str | int | float | bool) for v in found.values()
    )
    if not (isinstance(found, str) or flat):
        return '"id" must be a string or an object of strings and numbers'
    if not isinstance(item.get("property"), str):
        return '"property" must be a string'
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


def csrf_token() -> str:
    """This session's CSRF token, for a form (empty outside a request)."""
    try:
        return str(generate_csrf())
    except (RuntimeError, KeyError):  # outside a request (layout validation)
        return ""


def add_routes(server: Flask) -> None:
    """Logins for the dashboard's pages and callbacks, the CSRF cookie, and the plain Flask
    rules (not part of the API's OpenAPI document): the grid geometry, the language switch,
    case photos."""
    # before the CSRF guard: a visitor is told to log in, not that a token is missing
    server.before_request_funcs.setdefault(None, []).insert(0, dashboard_login)
    server.after_request(csrf_cookie)
    server.add_url_rule(f"{PREFIX}geo/<generation>/<name>", "dash_geometry", geometry)
    server.add_url_rule(f"{PREFIX}lang/<lang>", "dash_language", switch_language)
    server.add_url_rule(f"{PREFIX}photo/<attachment_id>", "dash_photo", photo)
    server.add_url_rule(f"{PREFIX}dossier/<case_id>", "dash_dossier", dossier)
    add_screen_routes(server)  # the wall display: its own token, no session
    add_plotly_route(server)  # the plotly.js for this app's maps


def dashboard_login() -> ResponseReturnValue | None:
    """Send a visitor of a page to the login; answer a callback without a login with 401."""
    path = request.path
    if not path.startswith(PREFIX):
        return None
    rest = path[len(PREFIX) :]
    if rest.startswith(("_dash-component-suites/", "assets/", "_favicon", "geo/")):
        return None  # code, styles and the (public) grid geometry
    if rest == "screen" or rest.startswith("screen/"):
        return None  # the big screen checks its display token itself (dashboards.screen)
    if current_session_user() is not None:
        return None
    if rest.startswith(_DASH_API) or request.method != "GET":
        return Response(
            '{"error": {"status": 401, "message": "not logged in: log in at /login"}}',
            status=401,
            mimetype="application/json",
        )
    return redirect(f"/login?next={request.full_path.rstrip('?')}", code=303)


def csrf_cookie(response: Response) -> Response:
    """Set the CSRF cookie with a page, and cache Dash's fingerprinted scripts for good.

    The dash renderer sends this cookie back as X-CSRFToken on every callback; it is set only
    when missing or stale: unchanging cookies let the browser cache what varies by cookie (the
    geometry, the scripts).
    """
    path = request.path
    if _FINGERPRINTED.search(path) and response.status_code in (200, 304):
        # dash fingerprints these URLs (".v<version>m<mtime>."): a new file, a new URL; not
        # plotly.js, which dcc.Graph loads from one fixed URL (dashboards.plotlyjs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    page = path.startswith(PREFIX) and response.mimetype == "text/html"
    if page and not _valid_csrf(request.cookies.get(CSRF_COOKIE)) and current_session_user():
        response.set_cookie(
            CSRF_COOKIE,
            str(generate_csrf()),
            samesite="Strict",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            httponly=False,
        )
    return response


def geometry(generation: str, name: str) -> Response:
    """A tier's GeoJSON of the current grid generation (gzipped when the browser accepts it);
    cacheable for good, since a new generation has new URLs."""
    shapes = dashboard().geometry
    match = _GEO.match(name)
    if match is None or generation != shapes.generation:
        return Response("no such geometry (the grid changed: reload the page)", status=404)
    tier = shapes.tier(int(match.group(1)))
    gzip_ok = "gzip" in request.headers.get("Accept-Encoding", "")
    response = Response(tier.gzipped if gzip_ok else tier.geojson, mimetype="application/geo+json")
    if gzip_ok:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def switch_language(lang: str) -> Response:
    """Set the language cookie and go back to the page (of this site only)."""
    back = request.referrer or PREFIX
    if not back.startswith(request.host_url):
        back = PREFIX  # only ever back to a page of this site
    response = Response(status=303, headers={"Location": back})
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, samesite="Lax", max_age=365 * 86400)
    return response


def photo(attachment_id: str) -> Response:
    """A photo of a case the logged-in caller may see."""
    caller = current_caller()
    if caller is None:
        return Response(status=401)
    services = dashboard().services
    try:
        _, body = read_photo(services, caller, attachment_id)
    except GridMgrError:
        return Response("no such photo, or not yours to see", status=404)
    return Response(
        body,
        mimetype="image/jpeg",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )


def dossier(case_id: str) -> Response:
    """The dossier (案卷) zip of a case the logged-in caller may see: the PDF, the raw events,
    the photos and each event's inclusion proof against a signed tree head."""
    caller = current_caller()
    if caller is None:
        return Response(status=401)
    services = dashboard().services
    try:
        key = signing_key(services.settings)
    except SigningKeyError:
        return Response("the ledger signing key is not set up (GRIDMGR_SIGNING_KEY)", status=503)
    try:
        name, body = export_dossier(services, caller, case_id, key, now=services.now())
    except GridMgrError:
        return Response("no such case, or not yours to see", status=404)
    return Response(
        body,
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
