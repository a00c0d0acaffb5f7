"""The HTTP shell: one Flask application carrying the API, Open311 and the Dash dashboard.

It serves a status page of the current grid and its owners, a health check, and — given a store
— the native API (``/api/v1``) and Open311 (``/open311/v2``); :func:`mount_dashboard` adds the
dashboard (``/dashboard/``) once sessions are set up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, render_template_string
from flask_limiter import Limit, Limiter
from flask_limiter.util import get_remote_address
from flask_openapi3 import Info, OpenAPI, SecurityScheme

from gridmgr.api.errors import register_error_handlers, validation_problem
from gridmgr.api.inspections import inspections_blueprint
from gridmgr.api.open311 import open311_blueprint
from gridmgr.api.patrols import patrols_blueprint
from gridmgr.api.triage import triage_blueprint
from gridmgr.api.v1 import token_key, v1_blueprint
from gridmgr.grid.model import Grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import Roster
from gridmgr.responsibility.staffing import staffing_report
from gridmgr.services.reports import Ingestor
from gridmgr.settings import Settings

if TYPE_CHECKING:
    from gridmgr.responsibility.routing import RoutingContext
    from gridmgr.store import Store

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
<li>{{ f.kind }}: {{ f.message }}</li>{% endfor %}</ul>
{% else %}<p>Every post is held and every field post has a deputy.</p>{% endif %}
{% endif %}<p><a href="/dashboard/">指挥中心 · Command center</a>
· <a href="/api/openapi.json">API</a></p>
</body></html>"""


def create_app(
    settings: Settings,
    grid: Grid,
    roster: Roster | None = None,
    *,
    store: Store | None = None,
    context: RoutingContext | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    """The Flask application for ``settings``, serving ``grid`` (and ``roster``'s staffing).

    With a ``store`` and a routing ``context`` it also serves the native API (``/api/v1``).
    ``clock`` gives "now" (default: the wall clock, Beijing time). Nothing is created at import.
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
        validation_error_status=400,
        validation_error_callback=validation_problem,
    )
    app.config["GRIDMGR_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    now = clock or (lambda: datetime.now(TZ))
    register_error_handlers(app)
    limiter = Limiter(
        key_func=token_key,
        app=app,
        default_limits=[
            Limit(settings.rate_limit_token, key_function=token_key),  # per token (or address)
            Limit(
                settings.rate_limit_ip, key_function=get_remote_address, scope="per-ip", shared=True
            ),  # per address, whatever its tokens
        ],
        storage_uri="memory://",
        headers_enabled=True,
    )
    app.extensions["gridmgr_limiter"] = limiter
    if store is not None and context is not None:
        ingestor = Ingestor(store)
        app.extensions["gridmgr_ingestor"] = ingestor  # closed by whoever runs the app
        v1 = v1_blueprint(
            store,
            context,
            clock=now,
            data_dir=settings.data_dir,
            ingestor=ingestor,
            auto_merge_score=settings.auto_merge_score,
        )
        v1.register_api(patrols_blueprint(store, context, clock=now))  # /api/v1/patrols
        v1.register_api(triage_blueprint(store, context, clock=now))  # place, merge, inbox
        app.register_api(v1)
        app.register_api(open311_blueprint(store, context, clock=now, ingestor=ingestor))
        app.register_api(inspections_blueprint(store, context.roster, clock=now))

    towns = [
        {
            "code": c,
            "name": grid.cell(c)["name"],
            "name_en": grid.cell(c)["name_en"],
            "children": len(grid.cell_to_children(c)),
        }
        for c in grid.codes(1)
    ]

    @app.get("/status", doc_ui=False)
    @app.get("/", doc_ui=False)
    def status() -> str:
        # Jinja autoescapes every value: names are data, never HTML
        staffing = None
        if roster is not None:
            staffing = staffing_report(grid, roster, datetime.now(TZ))
        return render_template_string(_STATUS_PAGE, grid=grid, towns=towns, staffing=staffing)

    @app.get("/healthz", doc_ui=False)
    def healthz() -> Response:
        return jsonify(status="ok", grid=grid.generation_id, cells=grid.counts)

    return app


def mount_dashboard(
    app: Flask,
    grid: Grid,
    *,
    store: Store,
    context: RoutingContext,
    clock: Callable[[], datetime],
    tile_url: str | None = None,
    verify_every: float = 0.0,
) -> None:
    """Serve the Dash dashboard under ``/dashboard/`` on ``app`` (after :func:`init_sessions`):
    :func:`dashboards.mount_dashboard` with these as :class:`~gridmgr.services.context.Services`
    (``grid`` is ``context``'s)."""
    from dashboards import mount_dashboard as mount
    from gridmgr.services.context import Services

    ingestor = app.extensions.get("gridmgr_ingestor")
    services = Services(store, context, app.config["GRIDMGR_SETTINGS"], clock, ingestor)
    mount(app, services, tile_url=tile_url, verify_every=verify_every)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gridmgr")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"
