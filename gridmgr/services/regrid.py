"""Adopting a new grid generation: where open cases stand in it, and its activation's ledger event.

Open cases keep the cell they were reported in (a case records its generation); this module
only says which of them the new grid would put elsewhere, and which were reported in a cell the
new grid no longer has (flagged, with the new covering cell suggested). Making a generation
current is one ledger event (``grid.current``), written when the database takes the new cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gridmgr.grid.diff import rehome_points
from gridmgr.services.database import database_url, open_database
from gridmgr.store.casestore import CaseFilter

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.settings import Settings
    from gridmgr.store import Store

_PAGE = 5000


@dataclass(frozen=True)
class CaseRehoming:
    """An open case and the new grid's cell at its location."""

    case_id: str
    state: str
    cell: str
    new_cell: str | None
    cell_gone: bool


def open_cases_against(store: Store, new: Grid) -> list[CaseRehoming]:
    """Open cases the new grid would locate in another cell than the one they were reported in."""
    out: list[CaseRehoming] = []
    offset = 0
    while True:
        page = store.cases(CaseFilter(open_only=True), limit=_PAGE, offset=offset)
        located = [c for c in page if c.cell and c.lon is not None and c.lat is not None]
        moves = rehome_points(
            new,
            [str(c.cell) for c in located],
            [float(c.lon) for c in located if c.lon is not None],
            [float(c.lat) for c in located if c.lat is not None],
        )
        out += [
            CaseRehoming(c.case_id, str(c.state), str(c.cell), m.new_code, m.cell_gone)
            for c, m in zip(located, moves, strict=True)
            if m.changes_cell
        ]
        if len(page) < _PAGE:
            return out
        offset += _PAGE


def has_database(settings: Settings, db: str | None) -> bool:
    """Whether a database is named (``--db``, ``GRIDMGR_DB``) or the default SQLite file exists."""
    if db or settings.db:
        return True
    url = database_url(settings, None)
    return not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).exists()


def record_activation(
    settings: Settings, grid: Grid, *, db: str | None, at: datetime, actor: str
) -> bool:
    """Load the newly current ``grid`` into the database with its ``grid.current`` ledger event.

    The roster and catalog are synced too (they are checked against the new grid). Returns
    whether the grid was new to the database.
    """
    from gridmgr.datafiles import routing_context
    from gridmgr.services.reference import sync_reference

    context = routing_context(settings, grid)
    store = open_database(settings, db=db)
    try:
        return sync_reference(store, grid=grid, context=context, at=at, actor=actor).grid
    finally:
        store.close()


def cases_in_database(settings: Settings, new: Grid, *, db: str | None) -> list[CaseRehoming]:
    """:func:`open_cases_against` over the configured database."""
    store = open_database(settings, db=db)
    try:
        return open_cases_against(store, new)
    finally:
        store.close()
