"""Reads leave a trail (访问留痕): opening a restricted or confidential case is recorded, and
managers list the records of a case or of a person within their own cells.

Every door that opens one case for a person calls :func:`open_case`; Open311's partner reads
call :func:`record_reads`. The records are append-only (:mod:`gridmgr.store.accesslog`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from gridmgr.access import Caller
from gridmgr.cases import Actor, Case, Role
from gridmgr.errors import CaseFilterError, ForbiddenError, UnknownCategoryError
from gridmgr.responsibility.catalog import PublicationTier
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services
from gridmgr.store import CaseRead, Store

__all__ = ["CaseRead", "access_log", "all_reads", "open_case", "record_reads", "tier_of"]

OVERSIGHT_ROLES = frozenset({Role.OPERATOR, Role.MANAGER, Role.LEADER, Role.HEAD})
"""Who may list the access log (each within his own cells)."""


def tier_of(services: Services, case: Case) -> PublicationTier:
    """The publication tier of the case's category; a category no longer in the catalog is
    ``confidential`` (what nobody checked is not published)."""
    try:
        return services.catalog.category(case.category).tier
    except UnknownCategoryError:
        return PublicationTier.CONFIDENTIAL


def record_reads(
    services: Services,
    reader: Actor,
    cases: Iterable[Case],
    *,
    door: str,
    everything: bool = False,
) -> None:
    """Record that ``reader`` read these cases now (public ones are not recorded, unless
    ``everything``: a reporter's contact is personal whatever the category)."""
    now = services.now()
    reads = []
    for case in cases:
        tier = tier_of(services, case)
        if tier is PublicationTier.PUBLIC and not everything:
            continue
        reads.append(
            CaseRead(
                now,
                reader.actor_id,
                reader.name,
                reader.role.value,
                door,
                case.case_id,
                case.cell,
                tier.value,
            )
        )
    services.store.record_reads(reads)


def open_case(services: Services, caller: Caller, case_id: str, *, door: str) -> Case:
    """The case ``case_id`` if the caller may see it (else
    :class:`~gridmgr.errors.CaseNotFoundError`), its read recorded when it is not public."""
    case = visible_case(services.store, caller, case_id)
    record_reads(services, caller.actor, [case], door=door)
    return case


def access_log(
    services: Services,
    caller: Caller,
    *,
    case_id: str | None = None,
    person: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[CaseRead]:
    """The recorded reads of a case, or by a person, oldest first, within the caller's cells.

    Only operators, managers, town leaders and grid heads may ask
    (:class:`~gridmgr.errors.ForbiddenError` otherwise); exactly one of ``case_id`` and
    ``person`` is given (:class:`~gridmgr.errors.CaseFilterError` otherwise); a case out of the
    caller's scope is not found, and a person's reads are cut to the caller's cells.
    """
    if caller.actor.role not in OVERSIGHT_ROLES:
        raise ForbiddenError("the access log is for operators, managers and leaders")
    if (case_id is None) == (person is None):
        raise CaseFilterError("ask for the reads of one case (case=…) or of one person (person=…)")
    if case_id is not None:
        case = visible_case(services.store, caller, case_id)
        return services.store.case_reads(case_id=case.case_id, since=since, limit=limit)
    return services.store.case_reads(reader=person, scope=caller.scope, since=since, limit=limit)


def all_reads(
    store: Store,
    *,
    case_id: str | None = None,
    person: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[CaseRead]:
    """The recorded reads (of a case, by a person, since a time), oldest first, city-wide: for
    the administrator's command line, which holds the database itself."""
    return store.case_reads(case_id=case_id, reader=person, since=since, limit=limit)
