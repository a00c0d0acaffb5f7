"""The Dash app factory: :func:`mount_dashboard` builds the dashboard on the API's Flask server.

Mounted under ``/dashboard/`` (one process, one port): the shell (navbar, page container), the
pages and their callbacks, the plain Flask rules of :mod:`dashboards.routes`, and the background
ledger watch. Callbacks read who is asking on the server and pass that caller to the reads and
actions, which limit everything to his scope.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, dcc, html
from flask import Flask, redirect, request

from dashboards import pages
from dashboards.context import (
    PREFIX,
    Dashboard,
    current_caller,
    current_lang,
    dashboard,
    install,
    require_caller,
)
from dashboards.geo import MapGeometry
from dashboards.i18n import DEFAULT_LANG, t
from dashboards.reads.analysis import may_file
from dashboards.reads.notifications import unread
from dashboards.routes import add_routes, check_callback_requests, csrf_token
from gridmgr.services.context import Services
from gridmgr.services.loops import PeriodicLoop
from gridmgr.web.deps import ledger_watch_of
from gridmgr.web.headers import allow_inline_scripts, allow_tiles


def mount_dashboard(
    app: Flask, services: Services, *, tile_url: str | None = None, verify_every: float = 0.0
) -> None:
    """Serve the dashboard under ``/dashboard/`` on ``app`` (after
    :func:`~gridmgr.web.sessions.init_sessions`); ``/`` then leads there (the status page stays
    at ``/status``).

    The grid's map geometry is built here, once for the grid generation of ``services``.
    ``tile_url`` is a raster basemap (``None``: our own layers only, no internet needed).
    ``verify_every`` > 0 verifies the ledger end to end in a background thread at once and then
    every that many seconds, for the invariant panel's "ledger verified at HH:MM".
    """
    watch = ledger_watch_of(app)
    board = Dashboard(services, MapGeometry(services.grid), tile_url=tile_url, ledger=watch)
    create_dash_app(app, board)
    if verify_every > 0:
        # at once, then every so often; a failed pass keeps the last result and retries
        PeriodicLoop(watch.verify, every=verify_every, name="gridmgr-ledger-watch").start()
    app.view_functions["status"] = lambda: redirect(PREFIX, code=302)


POLYFILL_TAG = re.compile(r'<script src="[^"]*/deps/polyfill@[^"]*"></script>\s*')
"""dash-renderer's first dependency, ``@babel/polyfill`` 7.12.1 (core-js 2 and regenerator)."""
PLOTLY_EARLY_TAG = re.compile(r'<script src="[^"]*/assets/plotly_early\.js[^"]*"></script>\s*')
"""The asset that loads plotly.js while the page's content is asked for."""


class ShellDash(Dash):
    """Dash without the babel polyfill on its page, and plotly.js loaded early only on the
    pages that draw a graph.

    Dash puts ``@babel/polyfill`` first on every page for old browsers. Chromium, Firefox and
    Safari of the last years have every standard feature it adds natively, yet its core-js
    replaced some of them and cost each page ≈ 0.15–0.25 s of the browser's main thread
    (Chromium's profiler, issue #21). The one thing Dash's bundles need from it is the global
    ``regeneratorRuntime`` (their async code is compiled to generators), which
    ``assets/regenerator-runtime.js`` (vendored: ``dashboards/vendor/README.md``) defines before
    the renderer runs. If a Dash upgrade renames the tag, the page keeps the polyfill (slower,
    still correct) and ``tests/test_plotlyjs.py`` fails.

    ``assets/plotly_early.js`` evaluates plotly.js while a page asks for its content; a page
    that draws no graph (:func:`dashboards.pages.draws_graphs`, by the page's path) is spared
    it (≈ 0.1 s of the browser's main thread).
    """

    def interpolate_index(  # the signature of Dash's, which Dash calls with keywords
        self,
        metas: str = "",
        title: str = "",
        css: str = "",
        config: str = "",
        scripts: str = "",
        app_entry: str = "",
        favicon: str = "",
        renderer: str = "",
    ) -> str:
        return str(
            super().interpolate_index(  # type: ignore[no-untyped-call]  # Dash's is untyped
                metas=metas,
                title=title,
                css=css,
                config=config,
                scripts=_scripts_for(request.path, scripts),
                app_entry=app_entry,
                favicon=favicon,
                renderer=renderer,
            )
        )


def _scripts_for(path: str, scripts: str) -> str:
    """The page's script tags for ``path``: no polyfill; plotly.js early where it draws."""
    scripts = POLYFILL_TAG.sub("", scripts, count=1)
    if not pages.draws_graphs(path):
        scripts = PLOTLY_EARLY_TAG.sub("", scripts, count=1)
    return scripts


def create_dash_app(server: Flask, board: Dashboard) -> Dash:
    """The Dash app of ``board`` on ``server`` (which already has sessions and the API)."""
    app = ShellDash(
        "gridmgr",
        server=server,  # type: ignore[arg-type]  # Dash accepts a Flask app here
        url_base_pathname=PREFIX,
        title="gridmgr",
        update_title="",
        suppress_callback_exceptions=True,  # pages add their components after the first paint
        compress=True,  # flask-compress: assets and callback answers are gzipped
        serve_locally=True,  # every asset from this server: works with no internet
        assets_folder=str(Path(__file__).with_name("assets")),
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    install(server, board)
    app.layout = shell
    pages.register(app)
    app.callback(Output("page", "children"), Input("url", "pathname"))(render)
    add_routes(server)
    check_callback_requests(server, app)
    # the page's one inline script (the renderer's start-up) runs by its hash, no other
    allow_inline_scripts(server, app.csp_hashes())
    allow_tiles(server, board.tile_url)
    return app


def render(pathname: str | None) -> Any:
    """The page at the browser's path, for the caller."""
    caller = require_caller()
    return pages.render(pathname or PREFIX, dashboard(), caller, current_lang())


def shell() -> Any:
    """The page frame: navbar, language switch, and the page container (filled by ``render``)."""
    lang = current_lang() if request else DEFAULT_LANG
    caller = current_caller()
    other = "en" if lang == "zh" else "zh"
    links = [("nav.command", PREFIX), ("nav.wall", PREFIX + "wall")]
    if caller is not None and caller.city_wide:  # the pages only city-wide roles may open
        links += [
            ("nav.queue", PREFIX + "queue"),
            ("nav.coverage", PREFIX + "coverage"),
            ("nav.duty", PREFIX + "duty"),
            ("nav.analysis", PREFIX + "analysis"),
            ("nav.inspections", PREFIX + "inspections"),
        ]
    elif caller is not None and may_file(caller):  # a leader's or head's area, and appeals
        links.append(("nav.analysis", PREFIX + "analysis"))
    if caller is None or not caller.city_wide:
        links.append(("nav.worker", PREFIX + "worker"))
    count = 0 if caller is None else unread(dashboard().services, caller)
    notices = t("nav.notifications", lang) + (f" · {count}" if count else "")
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
                            dcc.Input(type="hidden", name="csrf_token", value=csrf_token()),
                            html.Button(t("nav.logout", lang), type="submit", className="nav"),
                        ],
                        method="post",
                        action="/logout",
                        className="logout",
                    ),
                    html.Form(
                        [
                            dcc.Input(type="hidden", name="csrf_token", value=csrf_token()),
                            html.Button(
                                t("nav.logout_everywhere", lang), type="submit", className="nav"
                            ),
                        ],
                        method="post",
                        action="/logout/everywhere",
                        className="logout",
                    ),
                ],
                className="topbar",
            ),
            html.Main(id="page", className="page"),
        ],
        lang="zh-CN" if lang == "zh" else "en",
    )
