"""What the grid worker's page shows: his open cases (a unit member's: his unit's inbox too) and
his cells."""

from __future__ import annotations

from dashboards.reads.names import cell_name
from gridmgr.access import Caller
from gridmgr.cases import Case
from gridmgr.services.context import Services
from gridmgr.services.devices import Device, list_devices
from gridmgr.services.fieldbundle import open_cases_of

MY_CASES = 100
MY_CELLS = 200


def my_cases(services: Services, caller: Caller, *, limit: int = MY_CASES) -> list[Case]:
    """The caller's open cases (assigned to him, and those in his units' inbox, which he may
    sign for), soonest deadline first: the field app's list too."""
    return open_cases_of(services, caller, limit=limit)


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
