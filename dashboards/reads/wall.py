"""What the overdue wall shows: overdue and escalated cases by town, and the command center's
two queues (unlocated reports, reports outside the grid)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from dashboards.reads.names import town_of
from gridmgr.access import Caller
from gridmgr.cases import Case
from gridmgr.grid.model import Grid
from gridmgr.services import queries
from gridmgr.services.context import Services
from gridmgr.services.triage import Unlocated, unlocated_queue

__all__ = ["Unlocated", "by_town", "out_of_grid", "overdue", "unlocated"]

WALL_LIMIT = 300
QUEUE_LIMIT = 100


def overdue(
    services: Services, caller: Caller, now: datetime, *, limit: int = WALL_LIMIT
) -> list[Case]:
    """Overdue open cases in scope, and those on the 督办 ladder (a card) whose rung's clock
    still runs, the earliest deadline first."""
    late = queries.overdue_cases(services.store, caller, now=now, limit=limit)
    carded = queries.carded_cases(services.store, caller, limit=limit)
    found = {c.case_id: c for c in [*late, *carded]}.values()
    return sorted(found, key=lambda c: c.due_at or now)


def by_town(grid: Grid, cases: list[Case]) -> list[tuple[str, list[Case]]]:
    """Cases (each with a deadline) by town name, the town with the longest-missed deadline
    first; a case of a cell the grid does not have (an older generation) goes under its code."""
    towns: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        towns[town_of(grid, case.cell)].append(case)
    first = {town: min(c.due_at for c in rows if c.due_at) for town, rows in towns.items()}
    return sorted(towns.items(), key=lambda kv: first[kv[0]])


def out_of_grid(services: Services, caller: Caller, *, limit: int = QUEUE_LIMIT) -> list[Case]:
    """The out-of-grid queue (city-wide roles; others get none)."""
    return queries.out_of_grid_cases(services.store, caller, limit=limit)


def unlocated(services: Services, caller: Caller) -> list[Unlocated]:
    """The unlocated queue (city-wide roles; others get none)."""
    return unlocated_queue(services.store) if caller.city_wide else []
