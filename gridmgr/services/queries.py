"""Reading cases, their load and the ledger as a caller: lists, counts, trails and the event
stream limited to what the caller may see, for every door that shows them.

The scope rules live here and in :mod:`gridmgr.access`, not in the doors: a list asked by a
caller is always cut to his cells (and the cases he reported or is assigned, and those in his
units' inbox), and only city-wide
callers read the ledger's event stream.

Each function is one read of the store, through a :class:`~gridmgr.store.Store` method where the
store has one; the types they return are re-exported here, so a door never imports the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gridmgr.access import Caller
from gridmgr.cases import Case
from gridmgr.errors import ForbiddenError
from gridmgr.ledger import LedgerEvent, Verification
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services
from gridmgr.store import WORK_QUEUES, CaseFilter, CaseRow, Store, TrailEntry, WorkQueue
from gridmgr.store.casestore import CaseStats, CellLoad
from gridmgr.store.outboxstore import DeliveryStatus

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "WORK_QUEUES",
    "CaseFilter",
    "CaseRow",
    "CaseStats",
    "CellLoad",
    "DeliveryStatus",
    "LedgerEvent",
    "TrailEntry",
    "Verification",
    "WorkQueue",
    "assigned_cases",
    "carded_cases",
    "case_facts",
    "case_stats",
    "case_trail",
    "cases_by_id",
    "cell_load",
    "deliveries_of",
    "find_cases",
    "late_escalations",
    "ledger_events",
    "ledger_head",
    "ledger_since",
    "masters_of",
    "out_of_grid_cases",
    "overdue_cases",
    "recent_open_cases",
    "search_cases",
    "verify_ledger",
    "visible_cases",
    "visible_cases_by_id",
    "work_queues",
]


# -- cases as a caller ------------------------------------------------------------------------


def overdue_cases(store: Store, caller: Caller, *, now: datetime, limit: int) -> list[Case]:
    """Open cases the caller may see whose running stage was due by ``now``, newest first."""
    where = CaseFilter(
        overdue_at=now, scope=caller.scope, visible_to=caller.actor.actor_id, units=caller.units
    )
    return store.cases(where, limit=limit)


def carded_cases(store: Store, caller: Caller, *, limit: int) -> list[Case]:
    """Open cases the caller may see that are on the 督办 ladder (黄牌 to 红牌), newest first:
    late once, whether or not the rung's own clock has run out yet."""
    where = CaseFilter(on_ladder=True, scope=caller.scope, visible_to=caller.actor.actor_id)
    return store.cases(where, limit=limit)


def recent_open_cases(store: Store, caller: Caller, *, since: datetime, limit: int) -> list[Case]:
    """Open cases the caller may see reported at or after ``since``, newest first."""
    where = CaseFilter(
        open_only=True,
        reported_from=since,
        scope=caller.scope,
        visible_to=caller.actor.actor_id,
        units=caller.units,
    )
    return store.cases(where, limit=limit)


def visible_cases_by_id(store: Store, caller: Caller, case_ids: Sequence[str]) -> list[Case]:
    """Those of ``case_ids`` the caller may see (unknown ids are left out)."""
    wanted = sorted(set(case_ids))
    if not wanted:
        return []
    where = CaseFilter(
        case_ids=wanted, scope=caller.scope, visible_to=caller.actor.actor_id, units=caller.units
    )
    return store.cases(where, limit=len(wanted))


def assigned_cases(store: Store, caller: Caller, *, limit: int) -> list[Case]:
    """The open cases assigned to the caller himself, newest first."""
    where = CaseFilter(open_only=True, assignee_id=caller.actor.actor_id)
    return store.cases(where, limit=limit)


def out_of_grid_cases(store: Store, caller: Caller, *, limit: int) -> list[Case]:
    """The open cases of the out-of-grid queue (city-wide callers only: others get none)."""
    if not caller.city_wide:
        return []
    return store.cases(CaseFilter(open_only=True, queue="out_of_grid"), limit=limit)


def late_escalations(store: Store, caller: Caller, *, due_by: datetime, limit: int) -> list[Case]:
    """Open cases the caller may see whose running stage was due by ``due_by`` and is still
    not escalated (the escalation loop should have climbed them)."""
    return [c for c in store.to_escalate(due_by, limit=limit) if caller.may_see(c)]


def cell_load(store: Store, caller: Caller, *, now: datetime, soon: timedelta) -> list[CellLoad]:
    """Open, overdue, due-soon and escalated cases per tier-3 cell in the caller's scope."""
    return store.cell_load(now, soon=soon, scope=caller.scope)


def case_stats(
    store: Store, caller: Caller, *, now: datetime, since: datetime, window: timedelta
) -> CaseStats:
    """The key figures of the cases in the caller's scope (see :class:`CaseStats`)."""
    return store.case_stats(now, since=since, window=window, scope=caller.scope)


def case_facts(store: Store, caller: Caller, *, since: datetime, until: datetime) -> pd.DataFrame:
    """One row per case reported in ``[since, until)`` in the caller's scope, for
    :mod:`gridmgr.analytics` (columns: :data:`gridmgr.analytics.CASE_FACT_COLUMNS`)."""
    return store.case_facts(since=since, until=until, scope=caller.scope)


def deliveries_of(store: Store, case_id: str) -> list[DeliveryStatus]:
    """Every notice of a case with its delivery status per channel."""
    return store.deliveries_of(case_id)


def _in_scope(caller: Caller) -> CaseFilter:
    """The cases the caller may see: his cells, and the cases he reported or is assigned."""
    return CaseFilter(scope=caller.scope, visible_to=caller.actor.actor_id)


def work_queues(
    store: Store, caller: Caller, *, limit: int
) -> list[tuple[WorkQueue, int, list[CaseRow]]]:
    """The command center's work queues (:data:`WORK_QUEUES`) as far as the caller may see:
    each with how many cases it holds and its first ``limit``, the earliest deadline first."""
    where = _in_scope(caller)
    counts = store.work_queue_counts(where)
    return [(q, counts[q.key], store.work_queue(q, where, limit=limit)) for q in WORK_QUEUES]


def search_cases(store: Store, caller: Caller, text: str, *, limit: int) -> list[CaseRow]:
    """The cases the caller may see found by ``text``: a case number, an id prefix, a cell code
    (prefix), a person's id, or words of the description, address, holder's or assignee's
    name; newest first. Indexed SQL on both backends (:mod:`gridmgr.store.casesearch`)."""
    return store.search_cases(text, _in_scope(caller), limit=limit)


# -- the ledger -------------------------------------------------------------------------------


def ledger_since(store: Store, since: int, *, limit: int) -> list[LedgerEvent]:
    """Ledger events with a sequence number above ``since``, oldest first."""
    return store.ledger_since(since, limit=limit)


def ledger_head(store: Store) -> LedgerEvent | None:
    """The newest ledger event (``None``: the ledger is empty)."""
    return store.ledger_head()


def verify_ledger(store: Store) -> Verification:
    """Verify the ledger end to end."""
    return store.verify_ledger()


# -- for the doors, through the one Services object --------------------------------------------


def visible_cases(
    services: Services, caller: Caller, where: CaseFilter, *, limit: int, offset: int = 0
) -> tuple[list[Case], int]:
    """A page of the cases matching ``where`` that the caller may see (newest first), and how
    many such cases there are in all."""
    scoped = replace(
        where, scope=caller.scope, visible_to=caller.actor.actor_id, units=caller.units
    )
    store = services.store
    return store.cases(scoped, limit=limit, offset=offset), store.count_cases(scoped)


def find_cases(services: Services, where: CaseFilter, *, limit: int) -> list[Case]:
    """Cases matching ``where``, newest first, whoever asks (Open311's public list)."""
    return services.store.cases(where, limit=limit)


def cases_by_id(services: Services, case_ids: Iterable[str]) -> list[Case]:
    """The cases of these ids, in the order given, once each; unknown ids are left out (one
    query, whoever asks: Open311's public reads)."""
    wanted = list(dict.fromkeys(case_ids))
    if not wanted:
        return []
    found = {
        c.case_id: c for c in services.store.cases(CaseFilter(case_ids=wanted), limit=len(wanted))
    }
    return [found[case_id] for case_id in wanted if case_id in found]


def masters_of(services: Services, case_ids: Iterable[str]) -> dict[str, Case]:
    """For each of these cases that was merged as a duplicate: the case it was merged into."""
    ids = list(case_ids)
    infos = services.store.intake_info(ids)
    merged = {i.case_id: i.merged_into for i in infos.values() if i.merged_into is not None}
    masters = {m: services.store.case(m) for m in set(merged.values())}
    return {case_id: masters[master] for case_id, master in merged.items()}


def case_trail(services: Services, caller: Caller, case_id: str) -> list[TrailEntry]:
    """The events of a case the caller may see, in order, each checked against the ledger."""
    visible_case(services.store, caller, case_id)
    return services.store.trail(case_id)


def ledger_events(
    services: Services, caller: Caller, *, since: int, limit: int
) -> list[LedgerEvent]:
    """Ledger events after sequence ``since`` (city-wide callers only): what changed since."""
    if not caller.city_wide:
        raise ForbiddenError("the event stream is for city-wide roles (operators, managers)")
    return services.store.ledger_since(since, limit=limit)
