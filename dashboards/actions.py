"""Everything the dashboard changes, as the caller: each write is one use case of
:mod:`gridmgr.services`, applied to a case the caller may see (its ledger event is written
with it, in the store)."""

from __future__ import annotations

from datetime import datetime

from dashboards.permissions import require_operator
from gridmgr.access import Caller
from gridmgr.cases import Action, Case
from gridmgr.grid.datum import Datum
from gridmgr.intake.photos import Photo, PhotoError
from gridmgr.services import actions as case_actions
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services
from gridmgr.services.devices import revoke_device
from gridmgr.services.notices import mark_notifications_read
from gridmgr.services.submissions import submit_report
from gridmgr.services.triage import merge_cases, move_case, place_case


def act(
    services: Services,
    caller: Caller,
    case_id: str,
    action: Action,
    comment: str,
    *,
    defer_to: datetime | None = None,
    rating: int | None = None,
    photo: Photo | None = None,
    assignee_id: str | None = None,
    unit_id: str | None = None,
) -> Case:
    """Apply ``action`` to a case as the caller (the state machine's guards decide); a
    deferral request takes the new deadline ``defer_to``, its approver is picked by the rules;
    评价 takes a ``rating``; 反馈 an after-photo (required where the category says so); 派遣 a
    person (``assignee_id``) or a unit (``unit_id``) from the picker."""
    return case_actions.act_as(
        services,
        caller,
        case_id,
        action,
        comment=comment,
        defer_to=defer_to,
        rating=rating,
        photo=photo,
        assignee_id=assignee_id,
        unit_id=unit_id,
    )


def place(
    services: Services, caller: Caller, case_id: str, *, lon: float, lat: float, comment: str
) -> Case:
    """Place an unlocated case, or move a located one to another cell (operators only; one
    ledger event re-routes it; a moved case's previous owner is told)."""
    require_operator(caller)
    case = visible_case(services.store, caller, case_id)
    locate = place_case if case.lon is None else move_case
    return locate(
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
    report use case, routed once. A category whose ``photo_required`` is set is refused
    without one."""
    if photo is None and photo_required(services, category):
        raise PhotoError(f"a report of {category} needs a photo; add one and send it again")
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


def photo_required(services: Services, category: str) -> bool:
    """Whether reports and 反馈 of ``category`` (a code or Chinese name) need a photo."""
    try:
        return services.catalog.category(category).photo_required
    except LookupError:
        return False


def mark_read(services: Services, caller: Caller, ids: list[int]) -> int:
    """Mark the caller's notices read; how many were unread."""
    return mark_notifications_read(services.store, caller.actor, ids, at=services.now())


def revoke_my_device(services: Services, caller: Caller, token_id: str) -> None:
    """Revoke one of the caller's own field-app devices (another's id: refused as unknown)."""
    revoke_device(services, caller, token_id)
