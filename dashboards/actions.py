"""Everything the dashboard changes, as the caller: each write is one use case of
:mod:`gridmgr.services`, applied to a case the caller may see (its ledger event is written
with it, in the store)."""

from __future__ import annotations

from datetime import datetime

from dashboards.permissions import require_operator
from gridmgr.access import Caller
from gridmgr.cases import Action, Case
from gridmgr.grid.datum import Datum
from gridmgr.intake.photos import Photo
from gridmgr.services import actions as case_actions
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services
from gridmgr.services.notices import mark_notifications_read
from gridmgr.services.submissions import submit_report
from gridmgr.services.triage import merge_cases, place_case


def act(
    services: Services,
    caller: Caller,
    case_id: str,
    action: Action,
    comment: str,
    *,
    defer_to: datetime | None = None,
) -> Case:
    """Apply ``action`` to a case as the caller (the state machine's guards decide); a
    deferral request takes the new deadline ``defer_to``, its approver is picked by the rules."""
    return case_actions.act_as(
        services, caller, case_id, action, comment=comment, defer_to=defer_to
    )


def place(
    services: Services, caller: Caller, case_id: str, *, lon: float, lat: float, comment: str
) -> Case:
    """Place an unlocated case (operators only; a ledger event routes it)."""
    require_operator(caller)
    case = visible_case(services.store, caller, case_id)
    return place_case(
        services.store,
        services.context,
        case.case_id,
        lon=lon,
        lat=lat,
        actor=caller.actor,
        at=services.now(),
        comment=comment,
    )


def merge(
    services: Services, caller: Caller, duplicate_id: str, master_id: str, comment: str
) -> None:
    """Merge a duplicate into its master (operators only; both trails record it)."""
    require_operator(caller)
    duplicate = visible_case(services.store, caller, duplicate_id)
    master = visible_case(services.store, caller, master_id)
    merge_cases(
        services.store,
        duplicate.case_id,
        master.case_id,
        actor=caller.actor,
        at=services.now(),
        comment=comment,
    )


def report(
    services: Services,
    caller: Caller,
    *,
    lon: float,
    lat: float,
    category: str,
    description: str,
    photo: Photo | None,
    datum: Datum = Datum.WGS84,
) -> Case:
    """Report an incident as the caller (in his cells unless city-wide), with a photo: the one
    report use case, routed once."""
    return submit_report(
        services,
        caller,
        category=category,
        description=description,
        lon=lon,
        lat=lat,
        datum=datum,
        photo=photo,
    ).case


def mark_read(services: Services, caller: Caller, ids: list[int]) -> int:
    """Mark the caller's notices read; how many were unread."""
    return mark_notifications_read(services.store, caller.actor, ids, at=services.now())
