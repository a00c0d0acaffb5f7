"""What the grid worker's page shows: his open cases (a unit member's: his unit's inbox too) and
his cells."""

from __future__ import annotations

from datetime import datetime

from dashboards.reads.names import cell_name
from gridmgr.access import Caller
from gridmgr.cases import Case
from gridmgr.responsibility.calendar import TZ
from gridmgr.services import queries
from gridmgr.services.context import Services
from gridmgr.services.devices import Device, list_devices
from gridmgr.services.units import unit_cases

MY_CASES = 100
MY_CELLS = 200


def my_cases(services: Services, caller: Caller, *, limit: int = MY_CASES) -> list[Case]:
    """The caller's open cases (assigned to him, and those in his units' inbox, which he may
    sign for), soonest deadline first."""
    found = queries.assigned_cases(services.store, caller, limit=limit)
    for unit_id in caller.units:
        mine = {c.case_id for c in found}
        found += [
            c for c in unit_cases(services, caller, unit_id, limit=limit) if c.case_id not in mine
        ]
    far = datetime.max.replace(tzinfo=TZ)
    return sorted(found, key=lambda c: c.due_at or far)


def my_cells(services: Services, caller: Caller) -> list[tuple[str, str]]:
    """(code, name) of the tier-3 cells the caller acts in (workers: his own cells)."""
    if caller.scope is None:
        return []
    grid = services.grid
    out = []
    for prefix in caller.scope:
        for code in grid.cell_to_descendants(prefix, 3) or [prefix]:
            out.append((code, cell_name(grid, code)))
    return out[:MY_CELLS]


def my_devices(services: Services, caller: Caller) -> list[Device]:
    """The caller's field-app devices (live device tokens), oldest first."""
    return list_devices(services, caller)
