"""What the case page shows: the case, where and whose it is, its photos and verified trail,
what the caller may do now, and its intake, merge and delivery facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboards.reads.names import cell_name, post_label
from gridmgr.access import Caller
from gridmgr.cases import Action, Assignee, Case, Role
from gridmgr.grid.model import Grid
from gridmgr.intake.duplicates import DuplicateMatch
from gridmgr.responsibility.roster import PostKind, Roster
from gridmgr.services import assessments
from gridmgr.services.accesslog import open_case
from gridmgr.services.actions import actions_allowed
from gridmgr.services.assessments import MissedFlag
from gridmgr.services.context import Services
from gridmgr.services.photos import AttachmentRow, case_photos
from gridmgr.services.queries import DeliveryStatus, TrailEntry, case_trail, deliveries_of
from gridmgr.services.triage import find_duplicates, merge_view, suggest_duplicates
from gridmgr.services.units import DispatchChoices, dispatch_choices, transfer_target

PAGE_ACTIONS_HIDDEN = (Action.ESCALATE, Action.REPORT)
"""Actions the system takes (escalation) or that open a case (report): never a button."""
CANDIDATES = 5
"""Probable duplicates shown at most."""


@dataclass(frozen=True)
class TriageView:
    """A case's intake and merge facts for its page."""

    channel: str | None
    source_id: str | None
    address: str | None
    unlocated: bool
    master: Case | None
    duplicates: list[Case]
    candidates: list[DuplicateMatch]
    deliveries: list[DeliveryStatus]
    hidden_candidates: int = 0
    """Probable duplicates outside the caller's cells: counted, never named."""
    movable: bool = False
    """An operator may move this located, open case to another cell."""


@dataclass(frozen=True)
class CaseView:
    """Everything the case page shows."""

    case: Case
    number: int | None
    path: list[tuple[str, str]]
    """(code, name) from the town down to the cell (empty for a cell the grid does not have)."""
    chain: list[dict[str, str]]
    """The owner chain at the time of the report: post, who held it then."""
    trail: list[TrailEntry]
    actions: list[Action]
    photos: list[AttachmentRow]
    overdue: bool
    triage: TriageView | None = None
    missed: MissedFlag | None = None
    """The 漏报 flag of a hotline or citizen case (its worker walked past and reported nothing)."""
    dispatch: DispatchChoices | None = None
    """The 派遣 picker's entries and the last return, when the caller may dispatch."""
    transfer_to: Assignee | None = None
    """The competent unit 移交执法 hands the case to, when the caller may hand it over."""
    transfer_power: dict[str, str] | None = None
    """The power item it is handed over under (``None``: the category names none)."""


MISSABLE = ("hotline", "citizen")
"""The intake channels a case can be a missed report of (the grid did not find it itself)."""


def case_view(services: Services, caller: Caller, case_id: str, now: datetime) -> CaseView:
    """A case the caller may see (else :class:`~gridmgr.errors.CaseNotFoundError`, as for a
    missing one)."""
    case = open_case(services, caller, case_id, door="dashboard")
    trail = case_trail(services, caller, case.case_id)
    number: int | None = None
    chain: list[dict[str, str]] = []
    if trail:
        details = trail[0].details
        number = details.get("number") if isinstance(details.get("number"), int) else None
        keys = details.get("chain", []) or []
        chain = owner_chain(services.grid, services.roster, keys, trail[0].at)
    allowed = actions_allowed(services, caller, case, now)
    actions = [a for a in allowed if a not in PAGE_ACTIONS_HIDDEN]
    overdue = case.state.is_open and case.due_at is not None and case.due_at <= now
    seen = triage(services, caller, case)
    missed = None
    if seen is not None and seen.channel in MISSABLE:
        missed = assessments.missed_flag(services, case.case_id)
    target, power = None, None
    if Action.TRANSFER in actions:  # offered only where a competent unit other than its own is
        target, power = transfer_target(services.context, case, now)
        if target is None or (case.assignee is not None and target.post == case.assignee.post):
            actions.remove(Action.TRANSFER)
    picker = dispatch_choices(services, caller, case) if Action.DISPATCH in actions else None
    return CaseView(
        case,
        number,
        cell_path(services.grid, case.cell),
        chain,
        trail,
        actions,
        case_photos(services, caller, case.case_id)[1],
        overdue,
        seen,
        missed,
        picker,
        target,
        power,
    )


def cell_path(grid: Grid, cell: str | None) -> list[tuple[str, str]]:
    """(code, name) from the town down to ``cell``; empty out of grid, and for a cell of an
    older grid generation (the place line then shows its code)."""
    if cell is None:
        return []
    try:
        return [(code, cell_name(grid, code)) for code in [*grid.cell_to_ancestors(cell), cell]]
    except LookupError:
        return []


def owner_chain(grid: Grid, roster: Roster, keys: list[Any], at: datetime) -> list[dict[str, str]]:
    """The posts of a case's owner chain (as recorded at its report) and who held each then."""
    posts = {p.key: p for p in roster.posts}
    chain = []
    for key in keys:
        post = posts.get(key)
        person = None if post is None else roster.owner(post, at)
        if post is not None and post.kind is PostKind.OPERATOR:
            who = "值班组 duty crew"  # the duty crew of the moment, not one named person
        else:
            who = person.name if person is not None else "空缺 vacant"
        chain.append({"post": str(key), "label": post_label(grid, post, key), "person": who})
    return chain


def triage(services: Services, caller: Caller, case: Case) -> TriageView:
    """Where a case came from, its merge links, probable duplicates (open cases, for the
    command center) and its notices' delivery (city-wide roles)."""
    store = services.store
    merges = merge_view(store, case.case_id)
    info = merges.info
    candidates: list[DuplicateMatch] = []
    hidden = 0
    if caller.city_wide and case.state.is_open and merges.master is None:
        channel = info.channel if info is not None else "grid_worker"
        others = [
            m
            for m in find_duplicates(store, services.context, case, channel=channel)
            if m.case_id != case.case_id
        ]
        shown = suggest_duplicates(store, services.context, caller, case, matches=others)
        candidates, hidden = shown.visible[:CANDIDATES], shown.hidden
    deliveries = deliveries_of(store, case.case_id) if caller.city_wide else []
    return TriageView(
        channel=None if info is None else info.channel,
        source_id=None if info is None else info.source_id,
        address=None if info is None else info.address,
        unlocated=info is not None and info.queue == "unlocated" and case.lon is None,
        master=merges.master,
        duplicates=merges.duplicates,
        candidates=candidates,
        deliveries=deliveries,
        hidden_candidates=hidden,
        movable=caller.actor.role is Role.OPERATOR
        and case.lon is not None
        and case.state.is_open
        and merges.master is None,
    )
