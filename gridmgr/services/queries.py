"""Reads the doors show: case lists in a caller's scope, trails, the event stream, Open311's lists.

The scope rules live here and in :mod:`gridmgr.access`, not in the doors: a list asked by a
caller is always cut to his cells (and the cases he reported or is assigned), and only city-wide
callers read the ledger's event stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from gridmgr.access import Caller
from gridmgr.cases import Case
from gridmgr.errors import CaseNotFoundError, ForbiddenError
from gridmgr.ledger import LedgerEvent
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services
from gridmgr.store import CaseFilter, TrailEntry, intakestore

__all__ = [
    "CaseFilter",
    "TrailEntry",
    "case_trail",
    "cases_by_id",
    "find_cases",
    "ledger_events",
    "masters_of",
    "visible_cases",
]


def visible_cases(
    services: Services, caller: Caller, where: CaseFilter, *, limit: int, offset: int = 0
) -> tuple[list[Case], int]:
    """A page of the cases matching ``where`` that the caller may see (newest first), and how
    many such cases there are in all."""
    scoped = replace(where, scope=caller.scope, visible_to=caller.actor.actor_id)
    store = services.store
    return store.cases(scoped, limit=limit, offset=offset), store.count_cases(scoped)


def find_cases(services: Services, where: CaseFilter, *, limit: int) -> list[Case]:
    """Cases matching ``where``, newest first, whoever asks (Open311's public list)."""
    return services.store.cases(where, limit=limit)


def cases_by_id(services: Services, case_ids: Iterable[str]) -> list[Case]:
    """The cases of these ids, in the order given, once each; unknown ids are left out."""
    found = []
    for case_id in dict.fromkeys(case_ids):
        try:
            found.append(services.store.case(case_id))
        except CaseNotFoundError:
            continue
    return found


def masters_of(services: Services, case_ids: Iterable[str]) -> dict[str, Case]:
    """For each of these cases that was merged as a duplicate: the case it was merged into."""
    ids = list(case_ids)
    # the module's one raw-engine read: intake columns have no Store method yet
    with services.store.engine.connect() as conn:
        infos = intakestore.intake_info(conn, ids)
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
