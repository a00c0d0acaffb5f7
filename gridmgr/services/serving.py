"""A serving process's services: its own store connections and group-commit writer.

``gridmgr serve`` prepares once and forks; each worker then opens its :class:`Services` here
(never before the fork: connections and threads do not survive one) and closes them on exit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from gridmgr.services.context import Services, wall_clock
from gridmgr.services.reports import Ingestor
from gridmgr.store import Store, open_store

if TYPE_CHECKING:
    from gridmgr.responsibility.routing import RoutingContext
    from gridmgr.settings import Settings

__all__ = ["Store", "close_services", "is_new_database", "open_services"]


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


def is_new_database(url: str) -> bool:
    """Whether the database at ``url`` has no schema yet (``serve`` is about to create it)."""
    from gridmgr.store.engine import make_engine
    from gridmgr.store.migrate import current_revision

    try:
        engine = make_engine(url, pool=False)
    except Exception:  # open_store reports the problem properly right after
        return False
    try:
        return current_revision(engine) is None
    except Exception:
        return False
    finally:
        engine.dispose()
