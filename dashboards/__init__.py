"""The command-center dashboard (Dash), served by ``gridmgr serve`` on the API's server.

:func:`mount_dashboard` mounts it under ``/dashboard/`` (``create_dash_app(server, data)`` does
the work); pages live in :mod:`dashboards.pages`, pure figures in :mod:`dashboards.figures`, and
everything shown comes through :mod:`dashboards.data`.
"""

from __future__ import annotations

from flask import Flask, redirect

from dashboards.app import PREFIX, create_dash_app
from dashboards.data import DashData
from dashboards.geo import MapGeometry
from gridmgr.services.context import Services

__all__ = ["PREFIX", "DashData", "MapGeometry", "create_dash_app", "mount_dashboard"]


def mount_dashboard(
    app: Flask, services: Services, *, tile_url: str | None = None, verify_every: float = 0.0
) -> None:
    """Serve the Dash dashboard under ``/dashboard/`` on ``app`` (after
    :func:`gridmgr.web.sessions.init_sessions`); ``/`` then leads there (the status page stays
    at ``/status``). ``verify_every`` > 0 runs the ledger verification the invariant panel shows
    (at once, then every so many seconds)."""
    # interim body (the API's branch): the dashboards branch owns this function
    data = DashData(
        store=services.store,
        context=services.context,
        clock=services.clock,
        data_dir=services.data_dir,
        geometry=MapGeometry(services.grid),
        ingestor=services.ingestor,
    )
    create_dash_app(app, data, tile_url=tile_url, verify_every=verify_every)
    app.view_functions["status"] = lambda: redirect("/dashboard/", code=302)
