"""Reference data and the database: the grid, the roster and the catalog.

The database is their one source of truth once it has them, so several app servers sharing it
agree: a node's data folder only seeds a new database (:func:`adopt_reference`), and
``gridmgr roster import`` / ``catalog import`` write the database
(:func:`import_roster`, :func:`import_catalog`); each change is one ledger event. A grid
generation a node imported that the database has never seen becomes current when that node
starts; a node whose current grid the database has already replaced is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gridmgr.errors import StaleReferenceError
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.store import Store
from gridmgr.store.reference import SyncResult

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.catalog import Catalog
    from gridmgr.responsibility.roster import Roster

__all__ = ["SyncResult", "adopt_reference", "import_catalog", "import_roster", "sync_reference"]


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
        context.calendar,
        border_m=context.border_m,
        powers=context.powers,
    ).warm()


def import_roster(store: Store, roster: Roster, *, at: datetime, actor: str) -> bool:
    """Make ``roster`` the database's roster (a ledger event); False when it already was."""
    return store.sync_roster(roster, at=at, actor=actor)


def import_catalog(store: Store, catalog: Catalog, *, at: datetime, actor: str) -> bool:
    """Make ``catalog`` the database's catalog (a ledger event); False when it already was."""
    return store.sync_catalog(catalog, at=at, actor=actor)
