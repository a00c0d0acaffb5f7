"""Deferral rules: the assignee requests 延期, the approver the rules picked decides, within caps.

A deferral moves a stage's deadline, so the one who runs late never grants it to himself: the
request (``REQUEST_DEFER``) keeps the deadline and names the approver the use case picked
(:mod:`gridmgr.services.deferrals`); only that approver, or whoever holds his post when deciding,
approves (``APPROVE_DEFER``, the deadline moves) or refuses (``REFUSE_DEFER``). A request may ask
for at most :data:`CAP_FACTOR` times the running stage's SLA beyond the current deadline, and a
stage takes at most :data:`MAX_STAGE_DEFERRALS` approved deferrals. These functions are pure;
:mod:`gridmgr.cases.lifecycle` calls them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gridmgr.cases.model import Action, Actor, Assignee, Case, DeferralRequest, GuardError
from gridmgr.responsibility.sla import Span

if TYPE_CHECKING:
    from gridmgr.responsibility.calendar import WorkCalendar
    from gridmgr.responsibility.catalog import Category

MAX_STAGE_DEFERRALS = 2
"""Approved deferrals a stage may take; a further request is refused."""
CAP_FACTOR = 2
"""A request reaches at most this many times the running stage's SLA past the current deadline."""
DEFERRAL_ACTIONS = frozenset({Action.REQUEST_DEFER, Action.APPROVE_DEFER, Action.REFUSE_DEFER})
DECISIONS = frozenset({Action.APPROVE_DEFER, Action.REFUSE_DEFER})


def deferral_cap(category: Category, case: Case) -> Span:
    """The longest extension a request on ``case``'s running stage may ask for.

    >>> from gridmgr.responsibility.catalog_file import read_catalog
    >>> from gridmgr.responsibility.sla import Stage
    >>> from gridmgr.cases.model import CaseState
    >>> from datetime import UTC
    >>> t = datetime(2026, 10, 1, tzinfo=UTC)
    >>> case = Case(case_id="C1", category="street_vending", state=CaseState.IN_PROGRESS,
    ...             reported_at=t, updated_at=t, reporter="P1", description="x",
    ...             generation_id="g", stage=Stage.HANDLE)
    >>> str(deferral_cap(read_catalog().category("street_vending"), case))
    '2d'
    """
    if case.stage is None:
        raise GuardError(f"case {case.case_id} has no timed stage running", rule="no_stage")
    sla = category.sla[case.stage]
    return Span(sla.value * CAP_FACTOR, sla.unit)


def request_refusal(case: Case) -> tuple[str, str] | None:
    """Why the assignee may not request a deferral now (rule, message), or ``None``."""
    cid = case.case_id
    if case.deferral is not None:
        pending = case.deferral
        return "defer_pending", (
            f"case {cid} already has a deferral request awaiting {pending.approver.person_id} "
            f"(requested {pending.requested_at.isoformat()}); wait for the decision"
        )
    if case.stage_deferrals >= MAX_STAGE_DEFERRALS:
        return "defer_limit", (
            f"the running stage of case {cid} was deferred {case.stage_deferrals} times; "
            f"a stage takes at most {MAX_STAGE_DEFERRALS} deferrals"
        )
    return None


def decision_refusal(case: Case, actor: Actor, acts_for: Collection[str]) -> tuple[str, str] | None:
    """Why ``actor`` may not decide the case's deferral request (rule, message), or ``None``.

    ``acts_for`` holds the post keys the actor holds (or acts for) at decision time.
    """
    request = case.deferral
    if request is None:
        return "no_request", f"case {case.case_id} has no deferral request to decide"
    approver = request.approver
    if actor.actor_id != approver.person_id and approver.post not in acts_for:
        return "approver_only", (
            f"the deferral request on case {case.case_id} is for {approver.person_id} "
            f"({approver.post}) to decide, not {actor.actor_id}"
        )
    return None


def request_changes(
    case: Case,
    *,
    actor: Actor,
    at: datetime,
    reason: str,
    approver: Assignee,
    due: datetime,
    calendar: WorkCalendar,
    category: Category,
) -> tuple[dict[str, Any], dict[str, object]]:
    """The case changes and event details of a request for the new deadline ``due``.

    Raises :class:`GuardError` when ``due`` is not after the deadline, exceeds the cap, or the
    approver is the requester.
    """
    assert case.due_at is not None  # checked by the lifecycle's guards
    if approver.person_id == actor.actor_id:
        raise GuardError(
            f"{actor.actor_id} may not approve his own deferral; the approver is picked by "
            "the post above his",
            rule="approver",
        )
    if due <= case.due_at:
        raise GuardError(
            f"the new deadline {due.isoformat()} is not after the current one "
            f"{case.due_at.isoformat()}; ask for a later deadline",
            rule="defer_to",
        )
    cap = deferral_cap(category, case)
    limit = calendar.deadline(case.due_at, cap, category.clock)
    if due > limit:
        raise GuardError(
            f"the new deadline {due.isoformat()} is beyond the cap {limit.isoformat()}: a "
            f"deferral of {case.category} adds at most {cap} ({CAP_FACTOR}× the "
            f"{case.stage.value if case.stage else ''} SLA) to the deadline",
            rule="defer_cap",
        )
    request = DeferralRequest(
        approver=approver,
        requested_by=actor.actor_id,
        requested_at=at,
        due_before=case.due_at,
        due_at=due,
        reason=reason,
        version=case.version + 1,
    )
    details: dict[str, object] = {"cap": str(cap), "cap_due_at": limit.isoformat()}
    return {"deferral": request}, details


def decision_changes(case: Case, action: Action) -> tuple[dict[str, Any], dict[str, object]]:
    """The case changes and event details of deciding the pending request by ``action``."""
    request = case.deferral
    assert request is not None  # checked by decision_refusal
    details: dict[str, object] = {
        "request_version": request.version,
        "requested_by": request.requested_by,
        "approver": request.approver.person_id,
        "approver_post": request.approver.post,
        "due_before": request.due_before.isoformat(),
        "due_requested": request.due_at.isoformat(),
    }
    changes: dict[str, Any] = {"deferral": None}
    if action is Action.APPROVE_DEFER:
        # an approved deferral is a new commitment: timed (and escalated) afresh
        changes.update(
            due_at=request.due_at,
            deferrals=case.deferrals + 1,
            stage_deferrals=case.stage_deferrals + 1,
            stage_seq=case.stage_seq + 1,
        )
    return changes, details
