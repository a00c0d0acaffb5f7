"""The HTTP shell: one Flask application carrying the status page, the API and Open311.

It serves a status page of the current grid and its owners, a health check, and — given the
:class:`~gridmgr.services.context.Services` — the native API (``/api/v1``), the inspections API
and Open311 (``/open311/v2``). Sessions (:func:`gridmgr.web.sessions.init_sessions`) and the
dashboard (:func:`dashboards.mount_dashboard`) are added by the composition root,
:mod:`gridmgr.server`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, jsonify, render_template_string
from flask_limiter import Limit, Limiter
from flask_limiter.util import get_remote_address
from flask_openapi3 import Info, OpenAPI, SecurityScheme

from gridmgr.api import devices, inspections, open311, v1
from gridmgr.api.auth import api_key_key, is_not_open311_write, token_key
from gridmgr.api.errors import VALIDATION_STATUS, register_error_handlers, validation_problem
from gridmgr.grid.model import Grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import Roster
from gridmgr.responsibility.staffing import staffing_report
from gridmgr.services.context import Services
from gridmgr.services.ratelimits import limiter_storage
from gridmgr.settings import Settings
from gridmgr.web import ratelimit  # noqa: F401 - registers the gridmgr-memory:// storage
from gridmgr.web.deps import install_services
from gridmgr.web.headers import allow_tiles, init_security_headers

_STATUS_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>gridmgr</title></head>
<body style="font-family: sans-serif; max-width: 48em; margin: 2em auto">
<h1>gridmgr · 江阴 grid command center</h1>
<p>Grid generation <code>{{ grid.generation_id }}</code>:
{{ grid.counts[1] }} towns, {{ grid.counts[2] }} communities, {{ grid.counts[3] }} unit cells.</p>
<table border="1" cellpadding="4" style="border-collapse: collapse">
<tr><th>code</th><th>town</th><th>pinyin</th><th>communities</th></tr>
{% for row in towns %}<tr><td>{{ row.code }}</td><td>{{ row.name }}</td><td>{{ row.name_en }}</td>
<td>{{ row.children }}</td></tr>{% endfor %}
</table>
{% if staffing %}<h2>Owners now ({{ staffing.at.strftime("%Y-%m-%d %H:%M") }})</h2>
<p>{% for tier, (owned, cells) in staffing.owned_cells.items() %}
tier {{ tier }}: {{ owned }}/{{ cells }} cells with an owner{% if not loop.last %} · {% endif %}
{% endfor %}</p>
{% if staffing.findings %}<ul>{% for f in staffing.findings[:50] %}
<li>{{ f.kind }}: {{ f.subject }}</li>{% endfor %}</ul>
{% else %}<p>Every post is held and every field post has a deputy.</p>{% endif %}
{% endif %}<p><a href="/dashboard/">指挥中心 · Command center</a>
· <a href="/api/openapi.json">API</a></p>
</body></html>"""


def create_app(
    settings: Settings,
    grid: Grid,
    roster: Roster | None = None,
    *,
    services: Services | None = None,
) -> Flask:
    """The Flask application for ``settings``, serving ``grid`` (and ``roster``'s staffing).

    With ``services`` it also serves the native API (``/api/v1``, inspections) and Open311;
    every controller reads them from the app (:func:`gridmgr.web.deps.services`). Whoever built
    the services closes them. Nothing is created at import.
    """
    app = OpenAPI(
        "gridmgr",
        info=Info(title="gridmgr API", version=_version()),
        security_schemes={
            "bearer": SecurityScheme(type="http", scheme="bearer", bearerFormat="gm_<id>_<secret>")
        },
        doc_prefix="/api",
        doc_url="/openapi.json",
        doc_ui=True,  # serves /api/openapi.json (no UI plugin is installed)
        validation_error_status=VALIDATION_STATUS,
        validation_error_callback=validation_problem,
    )
    app.config["GRIDMGR_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    register_error_handlers(app)
    init_security_headers(app, hsts=settings.secure_cookies)
    allow_tiles(app, settings.tile_url)
    storage_uri, storage_options = limiter_storage(
        settings, None if services is None else services.store
    )
    app.extensions["gridmgr_limiter"] = Limiter(
        key_func=token_key,
        app=app,
        default_limits=[
            Limit(settings.rate_limit_token, key_function=token_key),  # per token (or address)
            Limit(
                settings.rate_limit_ip, key_function=get_remote_address, scope="per-ip", shared=True
            ),  # per address, whatever its tokens
            Limit(
                settings.rate_limit_api_key,
                key_function=api_key_key,
                scope="per-api-key",
                shared=True,
                exempt_when=is_not_open311_write,
            ),  # Open311 reports per partner api_key, whatever its addresses
        ],
        storage_uri=storage_uri,  # shared by every node, or this process's memory
        storage_options=storage_options,  # type: ignore[arg-type]  # the store, for the database
        headers_enabled=True,
    )
    if services is not None:
        install_services(app, services)
        app.register_api(v1.bp)  # with patrols, triage and notifications nested
        app.register_api(devices.bp)  # the field app's tokens: login or session, not a token
        app.register_api(open311.bp)
        app.register_api(inspections.bp)
    if services is None:
        _add_status_pages(app, lambda: (grid, roster))
    else:  # the grid and roster served now (another node may have changed them)
        _add_status_pages(app, lambda: (services.grid, services.roster))
    return app


def _add_status_pages(app: Flask, served: Callable[[], tuple[Grid, Roster | None]]) -> None:
    @app.get("/status", doc_ui=False)
    @app.get("/", doc_ui=False)
    def status() -> str:
        # Jinja autoescapes every value; the page is public, so a finding shows its post, never
        # the message that names the person (gridmgr.privacy: no names for the anonymous)
        grid, roster = served()
        towns = [
            {
                "code": c,
                "name": grid.cell(c)["name"],
                "name_en": grid.cell(c)["name_en"],
                "children": len(grid.cell_to_children(c)),
            }
            for c in grid.codes(1)
        ]
        staffing = None
        if roster is not None:
            staffing = staffing_report(grid, roster, datetime.now(TZ))
        return render_template_string(_STATUS_PAGE, grid=grid, towns=towns, staffing=staffing)

    @app.get("/healthz", doc_ui=False)
    def healthz() -> Response:
        grid, _ = served()
        return jsonify(status="ok", grid=grid.generation_id, cells=grid.counts)

    # the load balancer's probe: counting it would cost a database write a probe with shared limits
    app.extensions["gridmgr_limiter"].exempt(healthz)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gridmgr")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"
