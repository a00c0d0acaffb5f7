"""What a page's code asks about the request it serves: who is asking, in which language, and
the :class:`Dashboard` of this server (its services, map geometry and background state).

Pages import this module, never the app factory: the app puts its :class:`Dashboard` on the
Flask server (:func:`install`) and every callback takes it back from there (:func:`dashboard`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dash.exceptions import PreventUpdate
from flask import Flask, current_app, request

from dashboards.geo import MapGeometry
from dashboards.i18n import DEFAULT_LANG, lang_of
from dashboards.reads.coverage import MinuteCache
from dashboards.reads.live import HeadCache
from gridmgr.access import Caller
from gridmgr.services.context import Services
from gridmgr.services.invariants import LedgerWatch
from gridmgr.web.sessions import current_session_user

PREFIX = "/dashboard/"
"""Where the dashboard is mounted."""
LANG_COOKIE = "gridmgr_lang"
_EXTENSION = "gridmgr_dashboard"


@dataclass(frozen=True)
class Dashboard:
    """One mounted dashboard: the deployment's services, the grid's map geometry (built once
    per generation), the basemap, and the state kept between requests on the server (the
    latest ledger verification, the review figures of this minute). Nothing here is per user."""

    services: Services
    first_geometry: MapGeometry
    """The map geometry of the grid served at start (:attr:`geometry` follows a new one)."""
    tile_url: str | None = None
    ledger: LedgerWatch | None = None
    """The server's ledger watch (:func:`gridmgr.web.deps.ledger_watch_of`); one of its own
    when none is given."""
    reviews: MinuteCache = field(default_factory=MinuteCache)
    live: HeadCache = field(default_factory=HeadCache)
    """The command center's reads, per ledger head and minute."""
    _later_geometry: list[MapGeometry] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.ledger is None:
            object.__setattr__(self, "ledger", LedgerWatch(self.services))

    @property
    def geometry(self) -> MapGeometry:
        """The map geometry of the grid served now: built once per generation, again when
        another node made a new generation current (the URLs carry the generation)."""
        later = self._later_geometry
        geometry = later[-1] if later else self.first_geometry
        grid = self.services.grid
        if geometry.generation != grid.generation_id:
            geometry = MapGeometry(grid)  # two threads may both build it: the same, harmless
            later[:] = [geometry]
        return geometry

    @property
    def watch(self) -> LedgerWatch:
        """The ledger watch."""
        assert self.ledger is not None
        return self.ledger


def install(server: Flask, board: Dashboard) -> None:
    """Make ``board`` the dashboard of ``server`` (what :func:`dashboard` answers)."""
    server.extensions[_EXTENSION] = board


def dashboard_of(server: Flask) -> Dashboard:
    """The dashboard mounted on ``server``."""
    board = server.extensions[_EXTENSION]
    assert isinstance(board, Dashboard)
    return board


def dashboard() -> Dashboard:
    """The dashboard of the server handling this request."""
    return dashboard_of(current_app)


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
    if not request:
        return DEFAULT_LANG  # outside a request (layout validation)
    return lang_of(request.cookies.get(LANG_COOKIE, DEFAULT_LANG))
