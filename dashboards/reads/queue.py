"""What the work-queue page shows: the command center's six work queues, earliest deadline
first, and the cases a search finds, each as far as the caller may see (city-wide roles)."""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.permissions import require_city_wide
from gridmgr.access import Caller
from gridmgr.services import queries
from gridmgr.services.context import Services
from gridmgr.services.queries import CaseRow, WorkQueue

__all__ = ["QUEUE_LIMIT", "SEARCH_LIMIT", "CaseRow", "Queue", "search", "work_queues"]

QUEUE_LIMIT = 50
"""Cases listed per queue (the count says how many there are in all)."""
SEARCH_LIMIT = 50
"""Cases a search lists at most."""


@dataclass(frozen=True)
class Queue:
    """One work queue: which, how many cases it holds, and the first of them."""

    queue: WorkQueue
    count: int
    rows: list[CaseRow]

    @property
    def key(self) -> str:
        return self.queue.key


def work_queues(services: Services, caller: Caller, *, limit: int = QUEUE_LIMIT) -> list[Queue]:
    """The six work queues (command center and managers only)."""
    require_city_wide(caller)
    found = queries.work_queues(services.store, caller, limit=limit)
    return [Queue(q, n, rows) for q, n, rows in found]


def search(
    services: Services, caller: Caller, text: str | None, *, limit: int = SEARCH_LIMIT
) -> list[CaseRow]:
    """The cases the caller may see found by ``text`` (number, id, cell code, words, person)."""
    require_city_wide(caller)
    if not text or not text.strip():
        return []
    return queries.search_cases(services.store, caller, text, limit=limit)
