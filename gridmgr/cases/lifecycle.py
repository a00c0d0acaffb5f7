"""The case state machine of the closed loop, from 上报 reported to 结案 closed and 评价 evaluated.

:func:`apply_action` is pure: from a :class:`~gridmgr.cases.model.Case`, an
:class:`~gridmgr.cases.model.Action`, who acts and when, it checks every rule of the loop and
returns the next case and the one :class:`~gridmgr.cases.model.CaseEvent` the store writes to the
ledger in the same transaction. :func:`allowed_actions` answers "which buttons may this person
press now" with the same checks, so the two never disagree; both read the one table
:data:`TRANSITIONS`. Each timed stage (签收 sign, 处置 handle, 核查 verify) runs on its category's
SLA clock, counted on the official working calendar by
:class:`gridmgr.responsibility.calendar.WorkCalendar`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gridmgr.cases.deferral import (
    DECISIONS,
    DEFERRAL_ACTIONS,
    decision_changes,
    decision_refusal,
    request_changes,
    request_refusal,
)
from gridmgr.cases.model import (
    MAX_COMMENT,
    Action,
    Actor,
    Assignee,
    Case,
    CaseError,
    CaseEvent,
    CaseState,
    GuardError,
    IllegalTransitionError,
    Role,
    to_json_value,
)
from gridmgr.cases.stages import rung_changes, stage_changes, stage_of
from gridmgr.cases.units import unit_inbox, unit_of
from gridmgr.errors import TimeError
from gridmgr.responsibility.sla import Span, Stage

if TYPE_CHECKING:
    from gridmgr.responsibility.calendar import WorkCalendar
    from gridmgr.responsibility.catalog import Category
    from gridmgr.responsibility.routing import RoutingDecision


def _transitions() -> Mapping[CaseState, Mapping[Action, CaseState]]:
    s, a = CaseState, Action
    flow: dict[CaseState, dict[Action, CaseState]] = {
        s.REPORTED: {a.REGISTER: s.REGISTERED, a.REJECT: s.REJECTED},
        s.REGISTERED: {a.DISPATCH: s.DISPATCHED},
        s.DISPATCHED: {a.ACCEPT: s.ACCEPTED, a.RETURN: s.RETURNED},
        s.ACCEPTED: {a.START: s.IN_PROGRESS},
        s.IN_PROGRESS: {a.HANDLE: s.HANDLED},
        s.HANDLED: {a.VERIFY: s.VERIFIED, a.REOPEN: s.IN_PROGRESS},
        s.VERIFIED: {a.CLOSE: s.CLOSED},
        s.CLOSED: {a.EVALUATE: s.EVALUATED},
        s.EVALUATED: {},
        s.REJECTED: {},
        s.RETURNED: {a.DISPATCH: s.DISPATCHED},
    }
    for state, actions in flow.items():
        if state.is_open:  # every open state runs a timed stage: it can be supervised and escalated
            actions[a.SUPERVISE] = state
            actions[a.ESCALATE] = state
        if state in (s.ACCEPTED, s.IN_PROGRESS):  # the handle stage can be deferred
            actions.update(dict.fromkeys(DEFERRAL_ACTIONS, state))
        if state in (s.DISPATCHED, s.ACCEPTED, s.IN_PROGRESS):  # 移交执法: signed for anew
            actions[a.TRANSFER] = s.DISPATCHED
    ordered = {state: {x: acts[x] for x in Action if x in acts} for state, acts in flow.items()}
    return MappingProxyType({state: MappingProxyType(acts) for state, acts in ordered.items()})


TRANSITIONS: Mapping[CaseState, Mapping[Action, CaseState]] = _transitions()
"""State → {action → next state}, actions in :class:`Action` order: the one table of the loop.

>>> [a.value for a in TRANSITIONS[CaseState.DISPATCHED]]
['accept', 'return', 'transfer', 'supervise', 'escalate']
"""

_OWNER_ONLY = frozenset(
    {Action.ACCEPT, Action.RETURN, Action.START, Action.REQUEST_DEFER, Action.HANDLE}
)
# The inspection (双随机检查) acts by the rules of 整改, never for a door: a finding with issues
# opens and dispatches its case; its re-inspection verifies and closes it, or reopens it under 督办.
_CHECKERS = frozenset({Role.OPERATOR, Role.HEAD, Role.LEADER, Role.INSPECTION})
_DESK = frozenset({Role.OPERATOR, Role.INSPECTION})
_ROLES: Mapping[Action, frozenset[Role]] = {
    **dict.fromkeys((Action.REGISTER, Action.CLOSE, Action.SUPERVISE), _DESK),
    Action.REJECT: frozenset({Role.OPERATOR}),
    Action.DISPATCH: frozenset({Role.OPERATOR, Role.LEADER, Role.INSPECTION}),
    Action.VERIFY: _CHECKERS,
    Action.REOPEN: _CHECKERS,
    Action.EVALUATE: frozenset({Role.OPERATOR, Role.MANAGER, Role.CITIZEN}),
    Action.ESCALATE: frozenset({Role.SYSTEM}),
}
_REQUIRED = {Action.DISPATCH: ("assignee",), Action.REQUEST_DEFER: ("approver",)}
_REQUIRED.update({Action.EVALUATE: ("rating",), Action.TRANSFER: ("assignee",)})
_OPTIONAL = {
    Action.ESCALATE: ("escalate_to", "rung_span", "last_rung"),
    Action.REQUEST_DEFER: ("extend", "defer_to"),
    Action.TRANSFER: ("power",),
}
_INPUTS = (
    "assignee",
    "approver",
    "extend",
    "defer_to",
    "rating",
    "escalate_to",
    "rung_span",
    "last_rung",
    "power",
)

_DEFERRABLE = (*DEFERRAL_ACTIONS, Action.ESCALATE)


def decision_to_assignee(decision: RoutingDecision) -> Assignee | None:
    """Who routing says should sign for the matter, as an :class:`Assignee` (``None`` if nobody)."""
    link = decision.responsible
    if link.person is None:
        return None
    return Assignee(link.person.person_id, link.post.key, link.person.name)


def open_case(
    *,
    case_id: str,
    decision: RoutingDecision,
    reporter: Actor,
    description: str,
    at: datetime,
    calendar: WorkCalendar | None = None,
    holder: Assignee | None = None,
) -> tuple[Case, CaseEvent]:
    """A new case in the REPORTED state from a routing decision, and its ``REPORT`` event.

    With a ``calendar``, the report's stage (立案, 网格外 or 定位: :func:`stage_of`) starts at
    once, with ``holder`` (the operator the use case named) and its deadline.

    >>> from gridmgr.responsibility.routing import route_incident
    >>> from gridmgr.responsibility.calendar import TZ
    >>> from gridmgr.testing import tiny_context
    >>> at = datetime(2026, 9, 30, 16, 0, tzinfo=TZ)
    >>> decision = route_incident(tiny_context(), category="street_vending", at=at,
    ...                           lon=120.0625, lat=31.5625)
    >>> case, event = open_case(case_id="C1", decision=decision, description="摊贩占道",
    ...                         reporter=Actor("P00011", Role.WORKER), at=at)
    >>> case.state.label_zh, case.cell, case.version, event.action.value, event.details["queue"]
    ('上报', '320281001003003', 1, 'report', 'cell')
    """
    at = _aware(at, decision.at.tzinfo)
    text = _text(description, "description")
    if not case_id.strip():
        raise CaseError("a case needs a non-empty case_id")
    cell = None if decision.cell_path is None else decision.cell_path.tier3
    case = Case(
        case_id=case_id,
        category=decision.category.code,
        state=CaseState.REPORTED,
        reported_at=at,
        updated_at=at,
        reporter=reporter.actor_id,
        description=text,
        lon=decision.lon,
        lat=decision.lat,
        cell=cell,
        generation_id=decision.generation_id,
        version=1,
    )
    if calendar is not None:
        stage = stage_of(case)
        assert stage is not None
        started = stage_changes(
            case, stage, at=at, calendar=calendar, category=decision.category, holder=holder
        )
        case = replace(case, **started)
    details = {k: getattr(case, k) for k in ("category", "cell", "generation_id", "lon", "lat")}
    if calendar is not None:
        details.update({k: to_json_value(getattr(case, k)) for k in _STAGE_FIELDS})
    suggested = to_json_value(decision_to_assignee(decision)) or {
        "post": decision.responsible.post.key
    }
    chain = [link.post.key for link in decision.chain]
    details.update(queue=decision.queue.value, responsible=suggested, chain=chain)
    event = CaseEvent(case_id, Action.REPORT, reporter, at, None, case.state, text, details, 1)
    return case, event


_STAGE_FIELDS = ("stage", "stage_started_at", "due_at", "stage_seq", "holder")


def allowed_actions(
    case: Case, actor: Actor, *, at: datetime, acts_for: Collection[str] = ()
) -> list[Action]:
    """The actions ``actor`` may take on ``case`` at ``at``, in :class:`Action` order.

    :func:`apply_action` succeeds for exactly these, given a comment and each action's inputs.
    ``acts_for`` holds the post keys the actor holds or acts for at ``at`` (a deferral request
    is decided by its approver or whoever holds the approver's post).

    >>> from gridmgr.responsibility.calendar import TZ
    >>> t = datetime(2026, 9, 30, 16, 0, tzinfo=TZ)
    >>> case = Case(case_id="C1", category="street_vending", state=CaseState.REPORTED,
    ...             reported_at=t, updated_at=t, reporter="P00011", description="摊贩占道",
    ...             generation_id="g")
    >>> [a.value for a in allowed_actions(case, Actor("P00024", Role.OPERATOR), at=t)]
    ['register', 'reject', 'supervise']
    >>> allowed_actions(case, Actor("P00011", Role.WORKER), at=t)
    []
    """
    at = _aware(at, None)
    return [a for a in TRANSITIONS[case.state] if _refusal(case, a, actor, at, acts_for) is None]


def apply_action(
    case: Case,
    action: Action,
    *,
    actor: Actor,
    at: datetime,
    comment: str,
    calendar: WorkCalendar,
    category: Category,
    assignee: Assignee | None = None,
    approver: Assignee | None = None,
    extend: Span | None = None,
    defer_to: datetime | None = None,
    rating: int | None = None,
    escalate_to: Assignee | None = None,
    rung_span: Span | None = None,
    last_rung: bool | None = None,
    holder: Assignee | None = None,
    acts_for: Collection[str] = (),
    power: Mapping[str, str] | None = None,
    note: Mapping[str, object] | None = None,
) -> tuple[Case, CaseEvent]:
    """Apply ``action`` by ``actor`` at ``at``: the next case (version + 1) and its one event.

    When the action starts a stage the field assignee does not run (立案, 派遣, 核查, 结案 …),
    ``holder`` is the person the use case named for it; ``ESCALATE`` takes the rung's person
    (``escalate_to``), its span (``rung_span``, default :data:`RUNG_SPAN`) and whether nobody
    is above him (``last_rung``: the 红牌; also when there is no ``escalate_to``).

    Raises :class:`IllegalTransitionError` when the state does not admit the action, and
    :class:`GuardError` when a rule is broken (role, owner, verifier, comment, time order, inputs).
    A deferral request (``REQUEST_DEFER``) takes the ``approver`` the use case picked and either
    ``extend`` (a span added to the deadline) or ``defer_to`` (the new deadline); ``acts_for`` is
    as in :func:`allowed_actions`. ``TRANSFER`` (移交执法) takes the unit (``assignee``, a unit
    inbox: :func:`~gridmgr.cases.units.unit_assignee`) and the ``power`` item it is handed over
    under; the 签收 stage starts again, held by the unit's leader. ``note`` adds facts to the
    event's details (e.g. the inspection a 整改 case's step answers to).

    >>> from gridmgr.responsibility.catalog_file import read_catalog
    >>> from gridmgr.responsibility.calendar import TZ, WorkCalendar
    >>> t = datetime(2026, 10, 1, 10, 0, tzinfo=TZ)
    >>> case = Case(case_id="C1", category="street_vending", state=CaseState.REGISTERED,
    ...             reported_at=t, updated_at=t, reporter="P00011", description="摊贩占道",
    ...             generation_id="g")
    >>> worker = Assignee("P00011", "grid_worker:320281001003003")
    >>> case, event = apply_action(case, Action.DISPATCH, actor=Actor("P00024", Role.OPERATOR),
    ...     at=t, comment="请签收", calendar=WorkCalendar(),
    ...     category=read_catalog().category("street_vending"), assignee=worker)
    >>> case.state.value, case.stage.value, event.details["due_at"]
    ('dispatched', 'sign', '2026-10-08T10:30:00+08:00')
    """
    at = _aware(at, calendar.tz)
    refusal = _refusal(case, action, actor, at, acts_for)
    if refusal is not None:
        raise refusal
    text = _text(comment, "comment")
    if category.code != case.category:
        message = f"case {case.case_id} is {case.category}; pass that category, not {category.code}"
        raise GuardError(message, rule="category")
    inputs = (
        *(assignee, approver, extend, defer_to, rating, escalate_to, rung_span, last_rung),
        power,
    )
    given = dict(zip(_INPUTS, inputs, strict=True))
    _check_inputs(action, actor, given)
    if action is Action.TRANSFER and unit_of(assignee) == unit_of(case.assignee):
        message = f"case {case.case_id} is already with unit {unit_of(assignee)}"
        raise GuardError(message, rule="same_unit")

    to_state = TRANSITIONS[case.state][action]
    changes, details = _action_changes(case, action, actor, at, text, calendar, category, given)
    after = replace(case, **changes)
    stage = stage_of(after, to_state)
    if stage is None:  # finished: no stage, nobody answers for it any more
        changes.update(stage=None, stage_started_at=None, due_at=None, deferral=None)
        changes.update(holder=None, rung=0, card=None)
    elif stage is not case.stage or action is Action.TRANSFER:
        who = after.assignee if stage in (Stage.SIGN, Stage.HANDLE) else holder
        changes.update(
            stage_changes(case, stage, at=at, calendar=calendar, category=category, holder=who)
        )
    changes = {k: v for k, v in changes.items() if getattr(case, k) != v}
    details.update({k: to_json_value(v) for k, v in changes.items()})
    details.update(note or {})
    new = replace(case, **changes, state=to_state, updated_at=at, version=case.version + 1)
    event = CaseEvent(
        case.case_id, action, actor, at, case.state, to_state, text, details, new.version
    )
    return new, event


def _action_changes(
    case: Case,
    action: Action,
    actor: Actor,
    at: datetime,
    text: str,
    calendar: WorkCalendar,
    category: Category,
    given: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, object]]:
    """What ``action`` itself changes and records (the stage it starts is added by the caller)."""
    changes: dict[str, Any] = {}
    details: dict[str, object] = {}
    if action is Action.DISPATCH:
        changes["assignee"] = given["assignee"]
    elif action is Action.TRANSFER:
        changes["assignee"] = given["assignee"]
        details.update(transferred_from=to_json_value(case.assignee), power=given["power"])
    elif action is Action.ACCEPT and case.assignee and actor.actor_id != case.assignee.person_id:
        # a member signs for his unit: he becomes the assignee, the case stays in its inbox
        changes["assignee"] = Assignee(actor.actor_id, case.assignee.post, actor.name)
        details.update(signed_for=unit_of(case.assignee), unit_leader=to_json_value(case.assignee))
    elif action is Action.REOPEN:
        changes["reopen_count"] = case.reopen_count + 1
    elif action is Action.HANDLE:
        changes["handler"] = actor.actor_id
    elif action is Action.RETURN:
        details["returned_by"] = to_json_value(case.assignee)
        changes.update(assignee=None, return_count=case.return_count + 1)
    elif action is Action.REQUEST_DEFER and case.due_at is not None:
        extend, defer_to = given["extend"], given["defer_to"]
        due = defer_to or calendar.deadline(case.due_at, extend or Span(1, "d"), category.clock)
        changes, details = request_changes(
            case,
            actor=actor,
            at=at,
            reason=text,
            approver=given["approver"],
            due=_aware(due, calendar.tz),
            calendar=calendar,
            category=category,
        )
        details.update(extend=None if extend is None else str(extend))
    elif action in DECISIONS:
        changes, details = decision_changes(case, action)
        if action is Action.APPROVE_DEFER:  # a new deadline for the stage: a fresh ladder
            changes.update(rung=0, card=None, holder=case.assignee)
    elif action is Action.ESCALATE and case.due_at is not None:  # checked by _refusal
        changes, details = rung_changes(case, at, calendar, given)
    elif action is Action.SUPERVISE:
        details["assignee"] = to_json_value(case.assignee)
    elif action is Action.EVALUATE:
        changes["rating"] = given["rating"]
    return changes, details


def is_overdue(case: Case, at: datetime) -> bool:
    """Whether the case's running stage has fallen due at ``at`` (``at >= due_at``).

    >>> from gridmgr.responsibility.calendar import TZ
    >>> t = datetime(2026, 10, 8, 10, 30, tzinfo=TZ)
    >>> case = Case(case_id="C1", category="street_vending", state=CaseState.DISPATCHED,
    ...             reported_at=t, updated_at=t, reporter="P00011", description="摊贩占道",
    ...             generation_id="g", stage=Stage.SIGN, stage_started_at=t, due_at=t)
    >>> is_overdue(case, t), is_overdue(replace(case, state=CaseState.CLOSED), t)
    (True, False)
    """
    at = _aware(at, None)
    return case.state.is_open and case.due_at is not None and at >= case.due_at


SIDE_ACTIONS = frozenset(
    {Action.PLACE, Action.MERGE, Action.UNMERGE, Action.ABSORB, Action.RELEASE}
)
"""Events beside the closed loop: an operator places an unlocated case on the map, merges a
duplicate into its master case (MERGE on the duplicate, ABSORB on the master) or splits it off
again (UNMERGE, RELEASE). They keep the state; they are not in :data:`TRANSITIONS`."""


def record_side_event(
    case: Case,
    action: Action,
    *,
    actor: Actor,
    at: datetime,
    comment: str,
    changes: Mapping[str, Any] | None = None,
    details: Mapping[str, object] | None = None,
) -> tuple[Case, CaseEvent]:
    """A side event (:data:`SIDE_ACTIONS`) by an operator: the case with ``changes`` (version
    + 1, state kept) and its event, whose details hold ``details`` and the changed fields.

    >>> from gridmgr.responsibility.calendar import TZ
    >>> t = datetime(2026, 9, 30, 16, 0, tzinfo=TZ)
    >>> case = Case(case_id="C1", category="street_vending", state=CaseState.REPORTED,
    ...             reported_at=t, updated_at=t, reporter="hotline", description="摊贩",
    ...             generation_id="g")
    >>> new, event = record_side_event(case, Action.PLACE, actor=Actor("P1", Role.OPERATOR),
    ...     at=t, comment="按地址定位", changes={"lon": 120.1, "lat": 31.6, "cell": "320281001"})
    >>> new.state.value, new.version, event.details["cell"]
    ('reported', 1, '320281001')
    """
    at = _aware(at, None)
    if action not in SIDE_ACTIONS:
        raise GuardError(f"{action.value} is a lifecycle action; use apply_action", rule="side")
    if actor.role not in (Role.OPERATOR, Role.SYSTEM):
        raise GuardError(
            f"a {actor.role.value} ({actor.actor_id}) may not {action.value} a case; "
            "only an operator",
            rule="role",
        )
    if at < case.updated_at:
        raise GuardError(
            f"at={at.isoformat()} is before case {case.case_id}'s last transition at "
            f"{case.updated_at.isoformat()}; actions are applied in time order",
            rule="time_order",
        )
    if action in (Action.PLACE, Action.MERGE, Action.ABSORB) and not case.state.is_open:
        raise GuardError(
            f"case {case.case_id} is {case.state.value}; only an open case can {action.value}",
            rule="finished",
        )
    text = _text(comment, "comment")
    changed = {k: v for k, v in (changes or {}).items() if getattr(case, k) != v}
    new = replace(case, **changed, updated_at=at, version=case.version + 1)
    body = {**(details or {}), **{k: to_json_value(v) for k, v in changed.items()}}
    event = CaseEvent(
        case.case_id, action, actor, at, case.state, case.state, text, body, new.version
    )
    return new, event


# -- guards ---------------------------------------------------------------------------------


def _refusal(
    case: Case, action: Action, actor: Actor, at: datetime, acts_for: Collection[str] = ()
) -> CaseError | None:
    """Why ``actor`` may not take ``action`` on ``case`` at ``at``; ``None`` if they may."""
    admitted = TRANSITIONS[case.state]
    if action not in admitted:
        allowed = ", ".join(a.value for a in admitted) or "nothing (the case is finished)"
        return IllegalTransitionError(
            f"case {case.case_id} is {case.state.value} ({case.state.label_zh}); "
            f"{action.value} ({action.label_zh}) is not possible; allowed now: {allowed}",
            state=case.state,
            action=action,
        )
    broken = _broken_rule(case, action, actor, at, acts_for)
    if broken is None and action in DEFERRAL_ACTIONS:
        broken = (
            request_refusal(case)
            if action is Action.REQUEST_DEFER
            else decision_refusal(case, actor, acts_for)
        )
    return None if broken is None else GuardError(broken[1], rule=broken[0])


def _broken_rule(
    case: Case, action: Action, actor: Actor, at: datetime, acts_for: Collection[str] = ()
) -> tuple[str, str] | None:
    """The rule (slug, message) an admitted action would break, or ``None``."""
    who, cid = actor.actor_id, case.case_id
    if at < case.updated_at:
        return "time_order", (
            f"at={at.isoformat()} is before case {cid}'s last transition at "
            f"{case.updated_at.isoformat()}; actions are applied in time order"
        )
    if action in _DEFERRABLE and (case.stage is None or case.due_at is None):
        return "no_stage", f"case {cid} has no timed stage running; {action.value} needs one"
    if action is Action.TRANSFER:
        return _transfer_rule(case, actor)
    if action in _OWNER_ONLY:
        unit = unit_of(case.assignee)
        if action is Action.ACCEPT and unit is not None and unit_inbox(unit) in acts_for:
            return None  # a member signs for his unit (签收) on its behalf
        if case.assignee is None or who != case.assignee.person_id:
            owner = "nobody" if case.assignee is None else case.assignee.person_id
            return "owner_only", f"only the assignee ({owner}) may {action.value} {cid}, not {who}"
        return None
    if action in DECISIONS:
        return None  # who decides is the request's approver: see deferral.decision_refusal
    if actor.role not in _ROLES[action]:
        names = ", ".join(r.value for r in Role if r in _ROLES[action])
        return "role", f"a {actor.role.value} ({who}) may not {action.value} a case; only: {names}"
    if action is Action.EVALUATE and actor.role is Role.CITIZEN and who != case.reporter:
        return "reporter_only", (
            f"citizen {who} did not report case {cid}; only its reporter ({case.reporter}) may"
        )
    if action in (Action.VERIFY, Action.REOPEN) and who == case.handler:
        return "verifier_is_handler", (
            f"{who} handled case {cid} and may not {action.value} it; "
            "the verifier is never the handler"
        )
    if action is Action.ESCALATE and case.stage is not None and case.due_at is not None:
        stage = f"the {case.stage.value} stage of case {cid}"
        if case.card == "red":
            return "top_rung", (
                f"{stage} is at the top of the ladder (红牌, {case.rung} rung(s)); "
                "there is nobody above to escalate to"
            )
        if at < case.due_at:
            return "not_due", (
                f"{stage} is due {case.due_at.isoformat()}, after {at.isoformat()}; "
                "escalate overdue stages only"
            )
    return None


def _transfer_rule(case: Case, actor: Actor) -> tuple[str, str] | None:
    """Who may hand a case to the competent unit (移交执法): an operator, or its assignee in the
    field (a unit that is not competent returns the case, 退回; it does not pass it on)."""
    who, owner = actor.actor_id, case.assignee
    if actor.role is Role.OPERATOR:
        return None
    if owner is None or who != owner.person_id or unit_of(owner) is not None:
        held = "nobody" if owner is None else owner.person_id
        return "owner_only", (
            f"only an operator or the assignee in the field ({held}) may hand case "
            f"{case.case_id} to the competent unit, not {who}; a unit returns a case (退回)"
        )
    return None


def _check_inputs(action: Action, actor: Actor, given: Mapping[str, object]) -> None:
    """Refuse a missing or bad input of ``action``, and any input it does not take."""
    required = _REQUIRED.get(action, ())
    takes = required + _OPTIONAL.get(action, ())
    for name, value in given.items():
        if value is not None and name not in takes:
            raise GuardError(
                f"{name}={value!r} is not an input of {action.value}; "
                f"{action.value} takes {', '.join(takes) or 'none'}",
                rule="stray_input",
            )
        if value is None and name in required:
            raise GuardError(f"{action.value} needs {name}; none was given", rule=f"{name}_missing")
    if action is Action.REQUEST_DEFER and (given["extend"] is None) == (given["defer_to"] is None):
        raise GuardError(
            "a deferral request takes either extend (e.g. 1d) or defer_to (the new deadline), "
            "exactly one of them",
            rule="defer_to",
        )
    target = given["assignee"]
    if action is Action.TRANSFER and (not isinstance(target, Assignee) or unit_of(target) is None):
        raise GuardError(
            f"移交执法 hands a case to a unit; {target!r} is not a unit's inbox (unit:<unit_id>)",
            rule="not_a_unit",
        )
    rating = given["rating"]
    valid = isinstance(rating, int) and not isinstance(rating, bool) and 1 <= rating <= 5
    if action is Action.EVALUATE and not valid:
        raise GuardError(f"rating={rating!r} is not allowed; give an integer 1..5", rule="rating")


def _text(text: str, what: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise GuardError(f"a {what} is required; got {text!r}", rule=f"{what}_required")
    if len(stripped) > MAX_COMMENT:
        raise GuardError(
            f"the {what} has {len(stripped)} characters; keep it to {MAX_COMMENT}",
            rule=f"{what}_too_long",
        )
    return stripped


def _aware(at: datetime, tz: tzinfo | None) -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise TimeError(
            f"at={at!r} has no time zone; pass an aware datetime, "
            "e.g. tzinfo=gridmgr.responsibility.calendar.TZ"
        )
    return at if tz is None else at.astimezone(tz)
