"""Builders for test objects: the domain builders are kept under their old import path (they live
in :mod:`gridmgr.testing`, where doctests, notebooks and users' own tests find them too); the whole
app over a store, as ``gridmgr serve`` composes it, is built here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from gridmgr.testing import (
    COUNTY,
    SIZE,
    TOWN,
    UNITS_CSV,
    X0,
    Y0,
    replace_geometry,
    roster_from_csv,
    rows,
    tiny_cells,
    tiny_context,
    tiny_grid,
    tiny_roster,
)

if TYPE_CHECKING:
    from flask import Flask

    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.roster import Roster
    from gridmgr.responsibility.routing import RoutingContext
    from gridmgr.services.context import Services
    from gridmgr.settings import Settings
    from gridmgr.store import Store

__all__ = [
    "COUNTY",
    "SIZE",
    "TOWN",
    "UNITS_CSV",
    "X0",
    "Y0",
    "api_app",
    "app_services",
    "close_app",
    "replace_geometry",
    "roster_from_csv",
    "rows",
    "tiny_cells",
    "tiny_context",
    "tiny_grid",
    "tiny_roster",
]


def app_services(
    store: Store,
    settings: Settings,
    context: RoutingContext | None = None,
    *,
    clock: Callable[[], datetime],
) -> Services:
    """The services a worker of ``gridmgr serve`` builds, over ``store`` and ``context`` (default:
    :func:`tiny_context`), with a group-commit ingestor: close it (``services.ingestor.close()``,
    or :func:`close_app`)."""
    from gridmgr.services.context import Services
    from gridmgr.services.reports import Ingestor

    return Services(
        store,
        context if context is not None else tiny_context(),
        settings,
        clock,
        Ingestor(store),
    )


def api_app(
    store: Store,
    settings: Settings,
    context: RoutingContext | None = None,
    *,
    clock: Callable[[], datetime],
    grid: Grid | None = None,
    roster: Roster | None = None,
) -> Flask:
    """The app with the API over :func:`app_services` (the status page shows ``grid``, default
    the context's, and ``roster``'s staffing, default the tiny roster's). Close it with
    :func:`close_app`."""
    from gridmgr.api import create_app

    services = app_services(store, settings, context, clock=clock)
    return create_app(
        settings,
        grid if grid is not None else services.grid,
        roster if roster is not None else tiny_roster(),
        services=services,
    )


def close_app(app: Flask) -> None:
    """Write what the app's ingestor holds and stop its thread (the store stays open)."""
    from gridmgr.web.deps import services_of

    ingestor = services_of(app).ingestor
    assert ingestor is not None
    ingestor.close()
