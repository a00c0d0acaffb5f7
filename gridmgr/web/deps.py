"""The services of a Flask app: installed once by the app factory, read by every view.

The composition root (:mod:`gridmgr.server`, or a test) builds the services and
:func:`gridmgr.api.create_app` installs them; every controller, the login pages and the
dashboard then read them with :func:`services` during a request, so no view is a closure over
its dependencies.
"""

from __future__ import annotations

from flask import Flask, current_app
from flask.sansio.app import App

from gridmgr.services.context import Services
from gridmgr.services.invariants import LedgerWatch

EXTENSION = "gridmgr"
"""The key of the services in ``app.extensions``."""


def install_services(app: Flask, services: Services) -> None:
    """Give ``app`` its services (once: a second, different set is a mistake)."""
    found = app.extensions.get(EXTENSION)
    if found is not None and found is not services:
        raise RuntimeError("this app already has its services; build one app per Services")
    app.extensions[EXTENSION] = services


def services_of(app: App) -> Services:
    """The services installed on ``app``."""
    found = app.extensions.get(EXTENSION)
    if not isinstance(found, Services):
        raise RuntimeError(
            "this app has no services: build it with create_app(..., services=Services(...))"
        )
    return found


def services() -> Services:
    """The services of the app handling the current request."""
    return services_of(current_app)


WATCH = "gridmgr_ledger_watch"
"""The key of the app's ledger watch in ``app.extensions``."""


def ledger_watch_of(app: App) -> LedgerWatch:
    """The app's ledger watch (its latest end-to-end verification), made on first use: one per
    server, shared by the invariant panel and ``GET /api/v1/invariants``."""
    found = app.extensions.get(WATCH)
    if not isinstance(found, LedgerWatch):
        found = app.extensions[WATCH] = LedgerWatch(services_of(app))
    return found
