"""Reference data and the database: the grid, the roster, the catalog and the calendar.

The database is their one source of truth once it has them, so several app servers sharing it
agree: a node's data folder only seeds a new database (:func:`adopt_reference`), and
``gridmgr roster import`` / ``catalog import`` / ``calendar import`` write the database
(:func:`import_roster`, :func:`import_catalog`, :func:`import_calendar`); each change is one
ledger event. A grid
generation a node imported that the database has never seen becomes current when that node
starts; a node whose current grid the database has already replaced is refused.

A running node follows the database: every serving process runs a :class:`ReferenceWatch`,
which reads the ``reference_versions`` counters (one small SELECT) every
:data:`REFERENCE_POLL_EVERY` seconds and, when one moved, reloads that kind and swaps a new
routing context into the process's :class:`~gridmgr.services.context.Services` whole.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING

from gridmgr.errors import GridFileError, StaleReferenceError
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.services.loops import PeriodicLoop
from gridmgr.store import Store
from gridmgr.store.reference import SyncResult, calendar_checksum, roster_checksum

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.calendar import DayOverride, WorkCalendar
    from gridmgr.responsibility.catalog import Catalog
    from gridmgr.responsibility.roster import Roster
    from gridmgr.services.context import Services

__all__ = [
    "REFERENCE_POLL_EVERY",
    "ReferenceWatch",
    "SyncResult",
    "adopt_reference",
    "import_calendar",
    "import_catalog",
    "import_roster",
    "sync_reference",
]

log = logging.getLogger(__name__)

REFERENCE_POLL_EVERY = 5.0
"""Seconds between a serving process's reads of the reference counters: a change made on one
node is served by every other within this (plus the reload, well under a second for the roster
and the catalog)."""


def sync_reference(
    store: Store, *, grid: Grid, context: RoutingContext, at: datetime, actor: str
) -> SyncResult:
    """Bring the database's grid, roster and catalog up to date with ``grid`` and ``context``'s
    roster and catalog (a ledger event for each that changed; nothing when all are current)."""
    return store.sync_reference(
        grid=grid, roster=context.roster, catalog=context.catalog, at=at, actor=actor
    )


def adopt_reference(
    store: Store, *, grid: Grid, context: RoutingContext, at: datetime, actor: str
) -> RoutingContext:
    """The routing context a starting node serves with: its own data seeds a new database;
    otherwise the database's roster and catalog win over the data folder's.

    The grid: this node's current generation becomes the database's when the database has
    never seen it (it was just imported here); a generation the database knows but has
    replaced means this node's data folder is stale, and it is refused with
    :class:`StaleReferenceError`.
    """
    stored = store.stored_reference()
    if stored.generation_id is None:
        sync_reference(store, grid=grid, context=context, at=at, actor=actor)
        store.sync_calendar(context.calendar.overrides, at=at, actor=actor)
        return context
    if stored.generation_id != grid.generation_id:
        if store.has_generation(grid.generation_id):
            raise StaleReferenceError(
                f"this node's current grid is {grid.generation_id}, but the database has since "
                f"made {stored.generation_id} current; import that generation here "
                "(`gridmgr grid import`) or point this node at its own database"
            )
        store.sync_grid(grid, at=at, actor=actor)
    roster, catalog = store.stored_roster(), store.stored_catalog()
    if roster is None:
        store.sync_roster(context.roster, at=at, actor=actor)
    if catalog is None:
        store.sync_catalog(context.catalog, at=at, actor=actor)
    return RoutingContext(
        grid,
        roster or context.roster,
        catalog or context.catalog,
        _adopt_calendar(store, context.calendar, at=at, actor=actor),
        border_m=context.border_m,
        powers=context.powers,
    ).warm()


def _adopt_calendar(
    store: Store, calendar: WorkCalendar, *, at: datetime, actor: str
) -> WorkCalendar:
    """The database's calendar overrides on this node's working hours; this node's overrides
    seed a database that has none yet."""
    stored = store.stored_calendar()
    if stored is None:
        store.sync_calendar(calendar.overrides, at=at, actor=actor)
        return calendar
    return with_overrides(calendar, stored)


def with_overrides(calendar: WorkCalendar, overrides: Mapping[date, DayOverride]) -> WorkCalendar:
    """``calendar``'s working hours and zone with ``overrides``."""
    from gridmgr.responsibility.calendar import WorkCalendar

    return WorkCalendar(calendar.hours, overrides, tz=calendar.tz)


def import_roster(store: Store, roster: Roster, *, at: datetime, actor: str) -> bool:
    """Make ``roster`` the database's roster (a ledger event); False when it already was."""
    return store.sync_roster(roster, at=at, actor=actor)


def import_catalog(store: Store, catalog: Catalog, *, at: datetime, actor: str) -> bool:
    """Make ``catalog`` the database's catalog (a ledger event); False when it already was."""
    return store.sync_catalog(catalog, at=at, actor=actor)


def import_calendar(
    store: Store, overrides: Mapping[date, DayOverride], *, at: datetime, actor: str
) -> bool:
    """Make ``overrides`` (the shipped ones and the city's, merged) the database's calendar
    overrides (a ledger event); False when they already were."""
    return store.sync_calendar(overrides, at=at, actor=actor)


def served_checksums(context: RoutingContext, kinds: set[str]) -> dict[str, str]:
    """The checksums of what ``context`` serves, for ``kinds`` (roster, catalog, calendar): what the
    database's ``reference_versions`` checksums are compared with. (A grid is told by its
    generation id: two generations may share cells and so a checksum.)"""
    found: dict[str, str] = {}
    if "roster" in kinds:
        found["roster"] = roster_checksum(context.roster)
    if "catalog" in kinds:
        found["catalog"] = context.catalog.checksum
    if "calendar" in kinds:
        found["calendar"] = calendar_checksum(context.calendar.overrides)
    return found


class ReferenceWatch:
    """Keeps one serving process's reference data the database's, without a restart.

    :meth:`poll` reads the counters; a kind whose counter moved since the last poll and whose
    checksum differs from what this process serves is reloaded from the database (the grid:
    from this node's data folder, by the generation the database made current), a new routing
    context is built whole — the grid's graphs shared when the grid did not change — and then
    swapped in (:meth:`Services.adopt`). Requests meanwhile run on the old context. The first
    poll compares every kind, so a change made while this process started is not missed.
    :meth:`start` polls every :data:`REFERENCE_POLL_EVERY` seconds in a daemon thread.
    """

    def __init__(self, services: Services, *, every: float = REFERENCE_POLL_EVERY) -> None:
        self._services = services
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()  # one reload at a time (the thread and a direct call)
        self._loop = PeriodicLoop(self._step, every=every, name="gridmgr-reference-watch")

    def start(self) -> None:
        """Poll now and then every few seconds, in a daemon thread."""
        self._loop.start()

    def stop(self) -> None:
        """Stop polling (after a running reload)."""
        self._loop.stop()

    def _step(self) -> None:
        self.poll()

    def poll(self) -> frozenset[str]:
        """Read the counters; reload and swap in what changed. The kinds reloaded."""
        with self._lock:
            state = self._services.store.reference_state()
            versions = {kind: version for kind, (version, _) in state.items()}
            if versions == self._seen:
                return frozenset()
            moved = {kind for kind, version in versions.items() if self._seen.get(kind) != version}
            context = self._services.context
            served = served_checksums(context, moved)
            stale = {kind for kind, checksum in served.items() if checksum != state[kind][1]}
            if "grid" in moved and self._services.store.current_generation() not in (
                None,
                context.grid.generation_id,
            ):
                stale.add("grid")
            reloaded = self._reload(stale) if stale else frozenset()
            self._seen = versions
            return reloaded

    def _reload(self, stale: set[str]) -> frozenset[str]:
        services = self._services
        store, old = services.store, services.context
        roster = store.stored_roster() if "roster" in stale else None
        catalog = store.stored_catalog() if "catalog" in stale else None
        overrides = store.stored_calendar() if "calendar" in stale else None
        calendar = None if overrides is None else with_overrides(old.calendar, overrides)
        context = old.with_reference(roster=roster, catalog=catalog, calendar=calendar)
        loaded = (("roster", roster), ("catalog", catalog), ("calendar", calendar))
        done = {kind for kind, new in loaded if new is not None}
        if "grid" in stale:
            grid = self._current_grid()
            if grid is not None:
                context = RoutingContext(
                    grid,
                    context.roster,
                    context.catalog,
                    context.calendar,
                    border_m=context.border_m,
                    powers=context.powers,
                ).warm()
                done.add("grid")
        if done:
            services.adopt(context)
            log.info("reference data reloaded from the database: %s", ", ".join(sorted(done)))
        return frozenset(done)

    def _current_grid(self) -> Grid | None:
        """The database's current generation, from this node's data folder (``None``, logged,
        when this node does not hold it: ``gridmgr grid import`` it here)."""
        from gridmgr.grid.generations import generation_path
        from gridmgr.grid.io import default_grid_path, read_grid

        services = self._services
        generation = services.store.current_generation()
        if generation is None:
            return None
        try:
            path = generation_path(services.settings, generation)
        except GridFileError:
            path = default_grid_path()  # the shipped grid is stored under no id of its own
        grid = read_grid(path)
        if grid.generation_id != generation:
            log.error(
                "the database made grid generation %s current, which this node's data folder "
                "lacks: it keeps serving %s; import that generation here (`gridmgr grid "
                "import`) and restart",
                generation,
                services.grid.generation_id,
            )
            return None
        return grid
