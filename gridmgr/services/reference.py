"""Reference data into the database: the grid, the roster and the catalog the data folder holds.

The database is the one source of truth for them once several app servers share it, so every
door that starts work (``serve``, ``db init``/``db sync``, ``simulate``) copies the current ones
in first; each one that changed is one ledger event.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gridmgr.store import Store
from gridmgr.store.reference import SyncResult

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.routing import RoutingContext

__all__ = ["SyncResult", "sync_reference"]


def sync_reference(
    store: Store, *, grid: Grid, context: RoutingContext, at: datetime, actor: str
) -> SyncResult:
    """Bring the database's grid, roster and catalog up to date with ``grid`` and ``context``'s
    roster and catalog (a ledger event for each that changed; nothing when all are current)."""
    return store.sync_reference(
        grid=grid, roster=context.roster, catalog=context.catalog, at=at, actor=actor
    )
