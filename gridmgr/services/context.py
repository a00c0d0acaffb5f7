"""The one object every door holds: the store, the routing context, the settings and the clock.

The API's blueprints, the dashboard's pages and the CLI's commands take what they need from a
:class:`Services`; none of them opens the store, reads the environment or the wall clock itself.
``gridmgr serve`` prepares once and forks; each worker then opens its services with
:func:`open_services` (never before the fork: connections and threads do not survive one) and
closes them with :func:`close_services` on exit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gridmgr.responsibility.calendar import TZ
from gridmgr.services.reports import Ingestor
from gridmgr.store import Store, open_store

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.calendar import WorkCalendar
    from gridmgr.responsibility.catalog import Catalog
    from gridmgr.responsibility.roster import Roster
    from gridmgr.responsibility.routing import RoutingContext
    from gridmgr.settings import Settings

__all__ = ["Services", "Store", "close_services", "open_services", "wall_clock"]


def wall_clock() -> datetime:
    """Now, in Beijing time: the clock of a real deployment."""
    return datetime.now(TZ)


@dataclass(frozen=True)
class Services:
    """What the use cases run on, built once at the entry point and shared by every door.

    ``ingestor`` (a group-commit writer) is optional: without it every report is its own
    transaction.
    """

    store: Store
    context: RoutingContext
    settings: Settings
    clock: Callable[[], datetime] = wall_clock
    ingestor: Ingestor | None = None

    def now(self) -> datetime:
        """The current time by this deployment's clock."""
        return self.clock()

    def adopt(self, context: RoutingContext) -> None:
        """Serve ``context`` from now on: the reference data another node changed, reloaded
        (:class:`gridmgr.services.reference.ReferenceWatch`).

        The one field that changes. ``context`` is built whole before it comes here and the swap
        is one attribute store, so a reader sees the old context or the new one, never a mix; a
        use case that reads it once (``context = services.context``) keeps one throughout.
        """
        object.__setattr__(self, "context", context)  # frozen against every other change

    @property
    def grid(self) -> Grid:
        """The current grid generation."""
        return self.context.grid

    @property
    def roster(self) -> Roster:
        """Who holds which post."""
        return self.context.roster

    @property
    def catalog(self) -> Catalog:
        """The matter catalog."""
        return self.context.catalog

    @property
    def calendar(self) -> WorkCalendar:
        """The working calendar deadlines are counted in."""
        return self.context.calendar

    @property
    def data_dir(self) -> Path:
        """The data folder (photos, keys, imported generations)."""
        return self.settings.data_dir


def open_services(
    url: str,
    context: RoutingContext,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = wall_clock,
) -> Services:
    """The services of one worker: the database at ``url`` (which must exist and be current)
    and a group-commit writer for reports. Close them with :func:`close_services`."""
    store = open_store(url)
    return Services(store, context, settings, clock, Ingestor(store))


def close_services(services: Services) -> None:
    """Write the reports still queued, then close the store's connections."""
    if services.ingestor is not None:
        services.ingestor.close()
    services.store.close()
