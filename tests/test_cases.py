"""Tests for gridmgr.cases: the closed-loop case state machine, its guards and its stage clocks."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from gridmgr.cases import (
    MAX_COMMENT,
    TRANSITIONS,
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
    allowed_actions,
    apply_action,
    decision_to_assignee,
    is_overdue,
    open_case,
    stage_of,
)
from gridmgr.errors import GridMgrError, TimeError
from gridmgr.responsibility.calendar import TZ, WorkCalendar
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.routing import RoutingDecision, route_incident
from gridmgr.responsibility.sla import Clock, Span, Stage
from tests.builders import tiny_context

CAL = WorkCalendar()
VENDING = read_catalog().category("street_vending")  # sign 2h / handle 1d / verify 1d, working
CELL = "320281001003003"  # where (120.0625, 31.5625) lies in the tiny grid

OPERATOR = Actor("P00024", Role.OPERATOR, "廖彬")
WORKER = Actor("P00011", Role.WORKER, "黄想")
OTHER_WORKER = Actor("P00012", Role.WORKER)
HEAD = Actor("P00019", Role.HEAD)
LEADER = Actor("P00021", Role.LEADER)
MANAGER = Actor("M00001", Role.MANAGER)
SYSTEM = Actor("system:escalator", Role.SYSTEM)
CITIZEN = Actor("citizen:13900000001", Role.CITIZEN)
OTHER_CITIZEN = Actor("citizen:13900000002", Role.CITIZEN)
PARTNER = Actor("apikey:12345", Role.PARTNER)
EVERYONE: tuple[Actor, ...] = (OPERATOR, WORKER, OTHER_WORKER, HEAD, LEADER, MANAGER, SYSTEM)
EVERYONE += (CITIZEN, OTHER_CITIZEN, PARTNER)
TO_WORKER = Assignee(WORKER.actor_id, f"grid_worker:{CELL}", WORKER.name)
TO_OTHER = Assignee(OTHER_WORKER.actor_id, "grid_worker:320281001003004")
TO_HEAD = Assignee(HEAD.actor_id, "grid_head:320281001003")
TO_LEADER = Assignee(LEADER.actor_id, "town_leader:320281001")
TO_OPERATOR = Assignee(OPERATOR.actor_id, "operator:", OPERATOR.name)
TO_TEAM = Assignee("P00030", "unit:town-team-320281001", "队长")
TO_DEPT = Assignee("P00031", "unit:cgj", "局长")


def at(mo: int, d: int, h: int, mi: int = 0) -> datetime:
    """A Beijing-time moment in 2026."""
    return datetime(2026, mo, d, h, mi, tzinfo=TZ)


REPORTED_AT = at(9, 30, 16)  # Wednesday, the eve of the National Day holiday


@functools.cache
def decision() -> RoutingDecision:
    return route_incident(
        tiny_context(), category="street_vending", at=REPORTED_AT, lon=120.0625, lat=31.5625
    )


def reported() -> Case:
    """The test case, just reported by a citizen."""
    return report()[0]


def report() -> tuple[Case, CaseEvent]:
    return open_case(
        case_id="C-1",
        decision=decision(),
        reporter=CITIZEN,
        description="人行道上有流动摊贩占道经营",
        at=REPORTED_AT,
        calendar=CAL,
        holder=TO_OPERATOR,
    )


def act(
    case: Case, action: Action, actor: Actor, when: datetime, comment: str = "处理意见", **kw: Any
) -> Case:
    """Apply one action with the real calendar and category; return the new case."""
    new, _ = event_of(case, action, actor, when, comment, **kw)
    return new


def event_of(
    case: Case, action: Action, actor: Actor, when: datetime, comment: str = "处理意见", **kw: Any
) -> tuple[Case, CaseEvent]:
    return apply_action(
        case, action, actor=actor, at=when, comment=comment, calendar=CAL, category=VENDING, **kw
    )


HAPPY_PATH: list[tuple[Action, Actor, datetime, dict[str, Any]]] = [
    (Action.REGISTER, OPERATOR, at(9, 30, 16, 10), {}),
    (Action.DISPATCH, OPERATOR, at(10, 1, 10), {"assignee": TO_WORKER}),  # a holiday
    (Action.ACCEPT, WORKER, at(10, 8, 10), {}),
    (Action.START, WORKER, at(10, 8, 10, 30), {}),
    (Action.HANDLE, WORKER, at(10, 9, 9, 30), {}),
    (Action.VERIFY, HEAD, at(10, 10, 9), {}),  # Saturday, an adjusted working day
    (Action.CLOSE, OPERATOR, at(10, 10, 9, 20), {}),
    (Action.EVALUATE, CITIZEN, at(10, 12, 10), {"rating": 5}),
]


ON_THE_HAPPY_PATH = [s for s in CaseState if s not in (CaseState.REJECTED, CaseState.RETURNED)]


def case_in(state: CaseState) -> Case:
    """The test case walked along the happy path until it reaches ``state``."""
    return walk_to(state)[0]


def walk_to(state: CaseState) -> tuple[Case, list[CaseEvent]]:
    """The test case walked along the happy path until it reaches ``state``, and its trail."""
    case, event = report()
    trail = [event]
    for action, actor, when, kw in HAPPY_PATH:
        if case.state is state:
            break
        case, event = event_of(case, action, actor, when, **kw)
        trail.append(event)
    assert case.state is state
    return case, trail


def refusal(case: Case, action: Action, actor: Actor, when: datetime, **kw: Any) -> GuardError:
    with pytest.raises(GuardError) as info:
        event_of(case, action, actor, when, **kw)
    return info.value


# -- vocabulary and table -------------------------------------------------------------------


def test_states_and_actions_have_their_chinese_names() -> None:
    assert [s.label_zh for s in CaseState] == [
        *("上报", "立案", "派遣", "签收", "处置中", "已反馈", "已核查", "结案", "已评价"),
        *("不予立案", "退回"),
    ]
    assert (Action.DEFER.label_zh, Action.SUPERVISE.label_zh, Action.VERIFY.label_zh) == (
        "延期",
        "督办",
        "核查通过",
    )
    assert CaseState.IN_PROGRESS.value == "in_progress"
    assert Role.HEAD.label_zh == "网格长"


def test_open311_sees_only_open_and_closed() -> None:
    closed = {s for s in CaseState if s.open311_status == "closed"}
    assert closed == {CaseState.CLOSED, CaseState.EVALUATED, CaseState.REJECTED}
    assert all(s.is_open == (s.open311_status == "open") for s in CaseState)


def test_the_transition_table_is_the_closed_loop() -> None:
    s, a = CaseState, Action
    main = [s.REPORTED, s.REGISTERED, s.DISPATCHED, s.ACCEPTED, s.IN_PROGRESS, s.HANDLED]
    main += [s.VERIFIED, s.CLOSED, s.EVALUATED]
    forward = [a.REGISTER, a.DISPATCH, a.ACCEPT, a.START, a.HANDLE, a.VERIFY, a.CLOSE, a.EVALUATE]
    for state, action, nxt in zip(main[:-1], forward, main[1:], strict=True):
        assert TRANSITIONS[state][action] is nxt
    assert TRANSITIONS[s.REPORTED][a.REJECT] is s.REJECTED
    assert TRANSITIONS[s.DISPATCHED][a.RETURN] is s.RETURNED
    assert TRANSITIONS[s.RETURNED][a.DISPATCH] is s.DISPATCHED
    assert TRANSITIONS[s.HANDLED][a.REOPEN] is s.IN_PROGRESS
    assert {st for st in s if a.SUPERVISE in TRANSITIONS[st]} == {st for st in s if st.is_open}
    timed = {st for st in s if st.is_open}  # every open state runs a stage with a clock
    assert {st for st in s if a.ESCALATE in TRANSITIONS[st]} == timed
    deferrals = (a.REQUEST_DEFER, a.APPROVE_DEFER, a.REFUSE_DEFER)
    for action in deferrals:
        assert {st for st in s if action in TRANSITIONS[st]} == {s.ACCEPTED, s.IN_PROGRESS}
    assert not any(a.DEFER in actions for actions in TRANSITIONS.values())  # history only
    assert not any(a.REPORT in actions for actions in TRANSITIONS.values())
    assert TRANSITIONS[s.EVALUATED] == TRANSITIONS[s.REJECTED] == {}
    for state, actions in TRANSITIONS.items():  # self-loops never change the state
        for action in (a.SUPERVISE, a.ESCALATE, *deferrals):
            assert actions.get(action, state) is state


# -- opening --------------------------------------------------------------------------------


def test_a_report_opens_a_case_in_its_cell_with_no_owner_and_no_clock_yet() -> None:
    case, event = open_case(
        case_id="C-1", decision=decision(), reporter=CITIZEN, description="  摊贩  ", at=REPORTED_AT
    )
    assert (case.state, case.cell, case.category, case.reporter) == (
        CaseState.REPORTED,
        CELL,
        "street_vending",
        CITIZEN.actor_id,
    )
    assert (case.assignee, case.stage, case.due_at, case.version) == (None, None, None, 1)
    assert case.description == "摊贩"
    assert case.generation_id == decision().generation_id
    assert (event.action, event.from_state, event.to_state) == (
        Action.REPORT,
        None,
        CaseState.REPORTED,
    )
    assert event.details["queue"] == "cell"
    responsible = decision_to_assignee(decision())
    assert responsible is not None
    assert event.details["responsible"] == {
        "person_id": responsible.person_id,
        "post": f"grid_worker:{CELL}",
        "name": responsible.name,
    }
    assert event.details["chain"][-1] == "operator:"  # type: ignore[index]


def test_a_report_outside_the_grid_opens_a_case_without_a_cell() -> None:
    outside = route_incident(
        tiny_context(), category="street_vending", at=REPORTED_AT, lon=121.0, lat=31.0
    )
    case, event = open_case(
        case_id="C-2", decision=outside, reporter=WORKER, description="越界", at=REPORTED_AT
    )
    assert case.cell is None
    assert event.details["queue"] == "out_of_grid"


def test_a_report_needs_a_description_and_an_aware_time() -> None:
    kw: dict[str, Any] = {"case_id": "C-3", "decision": decision(), "reporter": CITIZEN}
    with pytest.raises(GuardError, match="description is required"):
        open_case(description=" ", at=REPORTED_AT, **kw)
    with pytest.raises(TimeError, match="no time zone"):
        open_case(description="摊贩", at=REPORTED_AT.replace(tzinfo=None), **kw)


# -- the loop -------------------------------------------------------------------------------


def test_the_happy_path_runs_from_report_to_evaluation_on_the_official_calendar() -> None:
    case, trail = reported(), []
    for action, actor, when, kw in HAPPY_PATH:
        new, event = event_of(case, action, actor, when, **kw)
        assert (event.from_state, event.to_state, event.version) == (
            case.state,
            new.state,
            case.version + 1,
        )
        trail.append(event)
        case = new
    by_action = {e.action: e for e in trail}
    # dispatched on the National Day holiday: the 2 h sign-for clock starts on 10-08 at 08:30
    assert by_action[Action.DISPATCH].details["due_at"] == "2026-10-08T10:30:00+08:00"
    # accepted 10-08 10:00: 6 h that day, 1.5 h more on Friday 10-09
    assert by_action[Action.ACCEPT].details["due_at"] == "2026-10-09T10:00:00+08:00"
    # handled Friday 09:30: 6.5 h that day, 1 h on Saturday 10-10, an adjusted working day
    assert by_action[Action.HANDLE].details["due_at"] == "2026-10-10T09:30:00+08:00"
    assert by_action[Action.HANDLE].details["handler"] == WORKER.actor_id
    # verified: the command center's 结案 stage runs, 30 working minutes
    assert by_action[Action.VERIFY].details["stage"] == "close"
    assert by_action[Action.VERIFY].details["stage_started_at"] == "2026-10-10T09:00:00+08:00"
    assert by_action[Action.CLOSE].details == dict.fromkeys(["stage", "stage_started_at", "due_at"])
    assert case.state is CaseState.EVALUATED
    assert (case.rating, case.handler, case.stage, case.due_at) == (5, WORKER.actor_id, None, None)
    assert (case.version, case.stage_seq, case.escalation_level) == (9, 6, 0)
    assert case.assignee == TO_WORKER
    assert not case.state.is_open


def test_a_returned_case_goes_back_to_dispatch_without_an_owner() -> None:
    dispatched = case_in(CaseState.DISPATCHED)
    returned, event = event_of(dispatched, Action.RETURN, WORKER, at(10, 8, 9), "不属于本网格")
    assert returned.state is CaseState.RETURNED
    assert (returned.assignee, returned.stage) == (None, Stage.DISPATCH)  # 派遣 again, timed
    assert returned.due_at == at(10, 8, 9, 30)
    assert returned.return_count == 1
    assert event.details["returned_by"] == {
        "person_id": WORKER.actor_id,
        "post": f"grid_worker:{CELL}",
        "name": WORKER.name,
    }
    assert allowed_actions(returned, OPERATOR, at=at(10, 8, 9)) == [
        Action.DISPATCH,
        Action.SUPERVISE,
    ]
    again = act(returned, Action.DISPATCH, OPERATOR, at(10, 8, 9, 30), assignee=TO_OTHER)
    assert (again.assignee, again.stage, again.stage_seq) == (TO_OTHER, Stage.SIGN, 5)
    assert again.holder == TO_OTHER
    assert again.due_at == at(10, 8, 11, 30)
    assert refusal(again, Action.ACCEPT, WORKER, at(10, 8, 10)).rule == "owner_only"
    assert act(again, Action.ACCEPT, OTHER_WORKER, at(10, 8, 10)).state is CaseState.ACCEPTED


def test_a_failed_verification_reopens_the_case_and_restarts_the_handle_clock() -> None:
    handled = case_in(CaseState.HANDLED)
    reopened, event = event_of(handled, Action.REOPEN, HEAD, at(10, 9, 14), "摊贩仍在")
    assert reopened.state is CaseState.IN_PROGRESS
    assert (reopened.stage, reopened.reopen_count, reopened.stage_seq) == (Stage.HANDLE, 1, 6)
    # 14:00 Friday: 3.5 h that day, 4 h on Saturday 10-10 (an adjusted working day)
    assert reopened.due_at == at(10, 10, 14)
    assert event.details["reopen_count"] == 1
    again = act(reopened, Action.HANDLE, WORKER, at(10, 10, 9))
    assert again.state is CaseState.HANDLED
    assert act(again, Action.VERIFY, OPERATOR, at(10, 10, 10)).state is CaseState.VERIFIED


def test_a_rejected_report_is_closed_and_accepts_nothing() -> None:
    rejected = act(reported(), Action.REJECT, OPERATOR, at(9, 30, 17), "非城管事项")
    assert rejected.state.open311_status == "closed"
    assert all(allowed_actions(rejected, actor, at=at(10, 9, 9)) == [] for actor in EVERYONE)


# -- guards ---------------------------------------------------------------------------------


def test_only_the_assignee_signs_for_a_case() -> None:
    dispatched = case_in(CaseState.DISPATCHED)
    for actor in (OTHER_WORKER, OPERATOR, HEAD, Actor(WORKER.actor_id + "x", Role.WORKER)):
        error = refusal(dispatched, Action.ACCEPT, actor, at(10, 8, 9))
        assert error.rule == "owner_only"
        assert WORKER.actor_id in str(error)
        assert actor.actor_id in str(error)
    assert Action.ACCEPT not in allowed_actions(dispatched, OPERATOR, at=at(10, 8, 9))
    assert allowed_actions(dispatched, WORKER, at=at(10, 8, 9)) == [
        Action.ACCEPT,
        Action.RETURN,
        Action.TRANSFER,
    ]


def test_the_verifier_is_never_the_handler() -> None:
    handled = case_in(CaseState.HANDLED)
    as_head = act(
        replace(case_in(CaseState.IN_PROGRESS), assignee=TO_HEAD),
        Action.HANDLE,
        HEAD,
        at(10, 9, 9, 30),
    )
    for action in (Action.VERIFY, Action.REOPEN):
        error = refusal(as_head, action, HEAD, at(10, 9, 10))
        assert error.rule == "verifier_is_handler"
        assert "the verifier is never the handler" in str(error)
    assert allowed_actions(as_head, HEAD, at=at(10, 9, 10)) == []
    assert allowed_actions(handled, HEAD, at=at(10, 9, 10)) == [Action.VERIFY, Action.REOPEN]
    assert refusal(handled, Action.VERIFY, WORKER, at(10, 9, 10)).rule == "role"


@pytest.mark.parametrize("comment", ["", "   ", "\n\t", "字" * (MAX_COMMENT + 1)])
@pytest.mark.parametrize(
    ("state", "action", "actor", "kw"),
    [
        (CaseState.REPORTED, Action.REGISTER, OPERATOR, {}),
        (CaseState.REGISTERED, Action.DISPATCH, OPERATOR, {"assignee": TO_WORKER}),
        (CaseState.DISPATCHED, Action.ACCEPT, WORKER, {}),
        (CaseState.HANDLED, Action.VERIFY, HEAD, {}),
        (CaseState.CLOSED, Action.EVALUATE, CITIZEN, {"rating": 4}),
    ],
)
def test_a_comment_is_required_on_every_transition(
    comment: str, state: CaseState, action: Action, actor: Actor, kw: dict[str, Any]
) -> None:
    case = case_in(state)
    when = at(10, 12, 11)
    error = refusal(case, action, actor, when, comment=comment, **kw)
    assert error.rule in ("comment_required", "comment_too_long")
    assert (
        act(case, action, actor, when, "  " + "字" * MAX_COMMENT, **kw).version == case.version + 1
    )


def test_a_deferral_request_needs_an_approver_and_keeps_the_deadline() -> None:
    accepted = case_in(CaseState.ACCEPTED)
    assert accepted.due_at == at(10, 9, 10)
    when, one_day = at(10, 8, 11), Span(1, "d")
    ask = Action.REQUEST_DEFER
    assert refusal(accepted, ask, WORKER, when, extend=one_day).rule == "approver_missing"
    assert refusal(accepted, ask, WORKER, when, approver=TO_HEAD).rule == "defer_to"
    error = refusal(accepted, ask, WORKER, when, approver=TO_WORKER, extend=one_day)
    assert error.rule == "approver"
    assert refusal(accepted, ask, HEAD, when, approver=TO_HEAD, extend=one_day).rule == (
        "owner_only"
    )
    requested, event = event_of(
        accepted, ask, WORKER, when, "需协调市场监管", approver=TO_HEAD, extend=one_day
    )
    assert requested.due_at == accepted.due_at  # nothing moves until the approver decides
    assert (requested.state, requested.deferrals, requested.stage_seq) == (CaseState.ACCEPTED, 0, 4)
    assert requested.deferral is not None
    assert requested.deferral.approver == TO_HEAD
    assert requested.deferral.due_at == at(10, 10, 10)
    assert event.details["deferral"]["approver"]["person_id"] == HEAD.actor_id  # type: ignore[index]
    assert event.details["extend"] == "1d"


def test_the_picked_approver_moves_the_deadline() -> None:
    accepted = case_in(CaseState.ACCEPTED)
    when, one_day = at(10, 8, 11), Span(1, "d")
    requested = act(accepted, Action.REQUEST_DEFER, WORKER, when, approver=TO_HEAD, extend=one_day)
    later = at(10, 8, 14)
    for someone in (WORKER, OPERATOR, LEADER, OTHER_WORKER):
        assert Action.APPROVE_DEFER not in allowed_actions(requested, someone, at=later)
        assert refusal(requested, Action.APPROVE_DEFER, someone, later).rule == "approver_only"
    assert allowed_actions(requested, HEAD, at=later) == [
        Action.APPROVE_DEFER,
        Action.REFUSE_DEFER,
    ]
    deferred, event = event_of(requested, Action.APPROVE_DEFER, HEAD, later, "同意")
    # 10-09 10:00 + 7.5 working hours: 6 h on Friday, 1.5 h on the adjusted Saturday
    assert deferred.due_at == at(10, 10, 10) == CAL.deadline(at(10, 9, 10), one_day, VENDING.clock)
    assert (deferred.deferrals, deferred.stage_deferrals, deferred.stage_seq) == (1, 1, 5)
    assert deferred.deferral is None
    assert event.actor == HEAD
    assert event.details["request_version"] == requested.version
    assert event.details["due_before"] == "2026-10-09T10:00:00+08:00"
    assert event.details["due_at"] == "2026-10-10T10:00:00+08:00"


def test_an_illegal_transition_names_state_action_and_what_is_allowed() -> None:
    case = reported()
    with pytest.raises(IllegalTransitionError) as info:
        event_of(case, Action.DISPATCH, OPERATOR, at(9, 30, 17), assignee=TO_WORKER)
    message = str(info.value)
    positions = [message.find(w) for w in ("reported", "dispatch", "register, reject, supervise")]
    assert -1 not in positions, message
    assert positions == sorted(positions), message
    assert (info.value.state, info.value.action) == (CaseState.REPORTED, Action.DISPATCH)
    with pytest.raises(IllegalTransitionError, match="allowed now: nothing"):
        event_of(case_in(CaseState.EVALUATED), Action.EVALUATE, CITIZEN, at(10, 13, 9), rating=1)
    with pytest.raises(IllegalTransitionError, match="report"):
        event_of(case, Action.REPORT, OPERATOR, at(9, 30, 17))


def test_an_overdue_stage_climbs_the_ladder_rung_by_rung_to_the_top() -> None:
    dispatched = case_in(CaseState.DISPATCHED)  # sign due 10-08 10:30
    assert dispatched.holder == TO_WORKER
    assert refusal(dispatched, Action.ESCALATE, SYSTEM, at(10, 8, 10, 29)).rule == "not_due"
    assert refusal(dispatched, Action.ESCALATE, OPERATOR, at(10, 8, 11)).rule == "role"
    once, event = event_of(
        dispatched, Action.ESCALATE, SYSTEM, at(10, 8, 10, 30), "签收超时", escalate_to=TO_HEAD
    )
    assert (once.escalation_level, once.escalated_stage_seq, once.state) == (
        1,
        3,
        CaseState.DISPATCHED,
    )
    # the first rung: 黄牌, the grid head holds it with a clock of his own (2 working hours)
    assert (once.rung, once.card, once.holder, once.assignee) == (1, "yellow", TO_HEAD, TO_WORKER)
    assert once.due_at == CAL.deadline(at(10, 8, 10, 30), Span(2, "h"), Clock.WORKING)
    assert (event.details["stage"], event.details["overdue_seconds"]) == ("sign", 0)
    assert event.details["escalate_to"] == {
        "person_id": HEAD.actor_id,
        "post": TO_HEAD.post,
        "name": "",
    }
    assert event.details["previous_holder"]["person_id"] == WORKER.actor_id  # type: ignore[index]
    rung_due = once.due_at
    assert refusal(once, Action.ESCALATE, SYSTEM, rung_due - timedelta(minutes=1)).rule == "not_due"
    up = {"escalate_to": TO_LEADER, "rung_span": Span(4, "h"), "last_rung": True}
    top = act(once, Action.ESCALATE, SYSTEM, rung_due, **up)
    assert (top.rung, top.card, top.holder, top.escalation_level) == (2, "red", TO_LEADER, 2)
    assert top.due_at == CAL.deadline(rung_due, Span(4, "h"), Clock.WORKING)
    assert refusal(top, Action.ESCALATE, SYSTEM, at(10, 20, 9)).rule == "top_rung"
    assert Action.ESCALATE not in allowed_actions(top, SYSTEM, at=at(10, 20, 9))
    accepted = act(top, Action.ACCEPT, WORKER, at(10, 8, 17, 5))  # a new stage: a fresh ladder
    assert (accepted.rung, accepted.card, accepted.holder) == (0, None, TO_WORKER)
    assert accepted.due_at == at(10, 9, 17, 5)
    assert allowed_actions(accepted, SYSTEM, at=at(10, 9, 17, 4)) == []
    twice, event = event_of(accepted, Action.ESCALATE, SYSTEM, at(10, 9, 18), "处置超时")
    assert (twice.escalation_level, twice.escalated_stage_seq) == (3, 4)
    assert (twice.card, twice.holder) == ("red", TO_WORKER)  # nobody above: the top at once
    assert event.details["overdue_seconds"] == 55 * 60
    assert event.details["escalate_to"] is None


@pytest.mark.parametrize(
    ("state", "action", "actor", "kw", "rule"),
    [
        (CaseState.REPORTED, Action.REGISTER, WORKER, {}, "role"),
        (CaseState.REPORTED, Action.SUPERVISE, LEADER, {}, "role"),
        (CaseState.REGISTERED, Action.DISPATCH, HEAD, {"assignee": TO_WORKER}, "role"),
        (CaseState.REGISTERED, Action.DISPATCH, OPERATOR, {}, "assignee_missing"),
        (CaseState.VERIFIED, Action.CLOSE, LEADER, {}, "role"),
        (CaseState.CLOSED, Action.EVALUATE, OTHER_CITIZEN, {"rating": 5}, "reporter_only"),
        (CaseState.CLOSED, Action.EVALUATE, WORKER, {"rating": 5}, "role"),
        (CaseState.CLOSED, Action.EVALUATE, MANAGER, {}, "rating_missing"),
        (CaseState.CLOSED, Action.EVALUATE, MANAGER, {"rating": 0}, "rating"),
        (CaseState.CLOSED, Action.EVALUATE, MANAGER, {"rating": 6}, "rating"),
        (CaseState.CLOSED, Action.EVALUATE, MANAGER, {"rating": True}, "rating"),
        (CaseState.CLOSED, Action.EVALUATE, MANAGER, {"rating": 4.0}, "rating"),
        (CaseState.VERIFIED, Action.CLOSE, OPERATOR, {"rating": 5}, "stray_input"),
        (CaseState.DISPATCHED, Action.ACCEPT, WORKER, {"assignee": TO_OTHER}, "stray_input"),
        (CaseState.ACCEPTED, Action.ESCALATE, PARTNER, {}, "role"),
        (CaseState.ACCEPTED, Action.SUPERVISE, SYSTEM, {}, "role"),
    ],
)
def test_roles_and_inputs_decide_who_may_act(
    state: CaseState, action: Action, actor: Actor, kw: dict[str, Any], rule: str
) -> None:
    case = case_in(state)
    error = refusal(case, action, actor, at(10, 20, 9), **kw)
    assert error.rule == rule
    assert isinstance(error, GridMgrError)
    assert isinstance(error, ValueError)


def test_a_town_leader_dispatches_and_a_manager_or_operator_evaluates() -> None:
    registered = case_in(CaseState.REGISTERED)
    dispatched = act(registered, Action.DISPATCH, LEADER, at(9, 30, 16, 30), assignee=TO_WORKER)
    assert dispatched.due_at == at(10, 8, 9, 30)  # 1 h on 09-30 (16:30-17:30), 1 h on 10-08
    closed = case_in(CaseState.CLOSED)
    assert act(closed, Action.EVALUATE, MANAGER, at(10, 12, 9), rating=1).rating == 1
    assert act(closed, Action.EVALUATE, OPERATOR, at(10, 12, 9), rating=3).rating == 3


def test_time_only_runs_forward_and_is_timezone_aware() -> None:
    registered = case_in(CaseState.REGISTERED)  # registered 09-30 16:10
    error = refusal(registered, Action.DISPATCH, OPERATOR, at(9, 30, 16, 9), assignee=TO_WORKER)
    assert error.rule == "time_order"
    assert "16:10" in str(error)
    assert allowed_actions(registered, OPERATOR, at=at(9, 30, 16, 9)) == []
    naive = at(10, 1, 10).replace(tzinfo=None)
    with pytest.raises(TimeError, match="no time zone"):
        event_of(registered, Action.DISPATCH, OPERATOR, naive, assignee=TO_WORKER)
    with pytest.raises(TimeError):
        allowed_actions(registered, OPERATOR, at=naive)
    utc = at(10, 1, 2).astimezone(UTC)
    dispatched = act(registered, Action.DISPATCH, OPERATOR, utc, assignee=TO_WORKER)
    assert dispatched.updated_at == utc
    assert dispatched.updated_at.utcoffset() == timedelta(hours=8)


def test_the_category_must_be_the_cases_own() -> None:
    other = read_catalog().category(read_catalog().codes[1])
    with pytest.raises(GuardError, match="street_vending") as info:
        apply_action(
            reported(),
            Action.REGISTER,
            actor=OPERATOR,
            at=at(9, 30, 17),
            comment="立案",
            calendar=CAL,
            category=other,
        )
    assert info.value.rule == "category"


def test_an_event_payload_is_plain_json_with_iso_times_and_enum_values() -> None:
    case = case_in(CaseState.DISPATCHED)
    _, event = event_of(
        case,
        Action.ESCALATE,
        SYSTEM,
        at(10, 8, 11),
        "签收超时",
        escalate_to=TO_HEAD,
    )
    payload = event.to_payload()
    assert json.loads(json.dumps(payload, ensure_ascii=False)) == payload
    assert payload["at"] == "2026-10-08T11:00:00+08:00"
    assert (payload["action"], payload["from_state"], payload["to_state"]) == (
        "escalate",
        "dispatched",
        "dispatched",
    )
    assert payload["actor"] == {"actor_id": SYSTEM.actor_id, "role": "system", "name": ""}
    assert payload["version"] == case.version + 1
    with pytest.raises(TypeError):
        event.details["stage"] = "changed"  # type: ignore[index]
    with pytest.raises(CaseError, match="not a JSON value"):
        replace(event, details={"when": object()})


def test_a_running_stage_is_overdue_from_its_deadline_on() -> None:
    dispatched = case_in(CaseState.DISPATCHED)
    assert not is_overdue(dispatched, at(10, 8, 10, 29))
    assert is_overdue(dispatched, at(10, 8, 10, 30))
    registered = case_in(CaseState.REGISTERED)  # 派遣 due 30 working minutes after 立案
    assert registered.stage is Stage.DISPATCH
    assert not is_overdue(registered, at(9, 30, 16, 39))
    assert is_overdue(registered, at(9, 30, 16, 40))
    assert not is_overdue(case_in(CaseState.CLOSED), at(12, 31, 9))


def test_actors_and_assignees_need_ids() -> None:
    with pytest.raises(CaseError):
        Actor(" ", Role.OPERATOR)
    with pytest.raises(CaseError, match="post key"):
        Assignee("P00011", "")


# -- the state machine, by Hypothesis ------------------------------------------------------

_OWNED = {CaseState.DISPATCHED, CaseState.ACCEPTED, CaseState.IN_PROGRESS, CaseState.HANDLED}
_OWNED |= {CaseState.VERIFIED, CaseState.CLOSED, CaseState.EVALUATED}
_STEPS = [timedelta(minutes=m) for m in (0, 1, 50, 120, 60 * 24, 60 * 24 * 3, 60 * 24 * 9)]


class CaseLifecycle(RuleBasedStateMachine):
    """Random actions by random actors at increasing times never break the closed loop."""

    def __init__(self) -> None:
        super().__init__()
        self.case, self.trail = walk_to(CaseState.REPORTED)

    @initialize(state=st.sampled_from(ON_THE_HAPPY_PATH))
    def start_somewhere_on_the_happy_path(self, state: CaseState) -> None:
        self.case, self.trail = walk_to(state)

    def inputs(self, action: Action, data: st.DataObject) -> dict[str, Any]:
        """Valid inputs for ``action`` (the approver never defers, so never approves himself)."""
        if action is Action.DISPATCH:
            return {"assignee": data.draw(st.sampled_from([TO_WORKER, TO_OTHER, TO_HEAD]))}
        if action is Action.TRANSFER:
            units = [
                u for u in (TO_TEAM, TO_DEPT) if u.post != getattr(self.case.assignee, "post", "")
            ]
            return {"assignee": data.draw(st.sampled_from(units)), "power": {"code": "CF0001"}}
        if action is Action.REQUEST_DEFER:
            owner = None if self.case.assignee is None else self.case.assignee.person_id
            above = TO_LEADER if owner == HEAD.actor_id else TO_HEAD
            return {"approver": above, "extend": Span(2, "h")}
        if action is Action.EVALUATE:
            return {"rating": data.draw(st.integers(1, 5))}
        if action is Action.ESCALATE:
            return {"escalate_to": data.draw(st.sampled_from([None, TO_HEAD]))}
        return {}

    def draw_allowed(self, data: st.DataObject, when: datetime) -> tuple[Action, Actor] | None:
        """An allowed action (each equally likely: 督办 must not crowd out the loop), its actor."""
        who = {actor: allowed_actions(self.case, actor, at=when) for actor in EVERYONE}
        actions = [a for a in Action if any(a in allowed for allowed in who.values())]
        if not actions:
            return None
        action = data.draw(st.sampled_from(actions))
        return action, data.draw(
            st.sampled_from([x for x, allowed in who.items() if action in allowed])
        )

    def attempt(self, action: Action, actor: Actor, when: datetime, data: st.DataObject) -> None:
        before = self.case
        predicted = action in allowed_actions(before, actor, at=when)
        try:
            new, event = event_of(before, action, actor, when, "意见", **self.inputs(action, data))
        except CaseError as error:
            refused: CaseError | None = error
        else:
            refused = None
        if refused is not None:
            assert not predicted, f"{action} by {actor} refused: {refused}"
            assert self.case == before
            illegal = action not in TRANSITIONS[before.state]
            assert isinstance(refused, IllegalTransitionError) == illegal
            assert isinstance(refused, IllegalTransitionError | GuardError)
            return
        assert predicted, f"{action} by {actor} at {when} succeeded though not allowed"
        assert TRANSITIONS[before.state][action] is new.state
        assert (event.from_state, event.to_state, event.action) == (before.state, new.state, action)
        assert (new.version, event.version) == (before.version + 1, before.version + 1)
        assert new.updated_at == event.at == when
        self.case = new
        self.trail.append(event)

    @rule(data=st.data(), step=st.sampled_from(_STEPS))
    def take_an_allowed_action(self, data: st.DataObject, step: timedelta) -> None:
        when = self.case.updated_at + step
        choice = self.draw_allowed(data, when)
        if choice is not None:
            self.attempt(*choice, when, data)

    @rule(
        data=st.data(),
        action=st.sampled_from(Action),
        actor=st.sampled_from(EVERYONE),
        step=st.sampled_from([timedelta(minutes=-5), *_STEPS]),
    )
    def try_any_action(
        self, data: st.DataObject, action: Action, actor: Actor, step: timedelta
    ) -> None:
        self.attempt(action, actor, self.case.updated_at + step, data)

    @rule(data=st.data(), comment=st.sampled_from(["", " \n ", "x" * (MAX_COMMENT + 1)]))
    def a_bad_comment_is_always_refused(self, data: st.DataObject, comment: str) -> None:
        when = self.case.updated_at + timedelta(days=30)
        choice = self.draw_allowed(data, when)
        if choice is not None:
            action, actor = choice
            with pytest.raises(GuardError, match="comment"):
                event_of(self.case, action, actor, when, comment, **self.inputs(action, data))

    @invariant()
    def the_trail_is_one_event_per_version(self) -> None:
        assert self.case.version == len(self.trail)
        for earlier, later in zip(self.trail, self.trail[1:], strict=False):
            assert earlier.to_state is later.from_state
            assert earlier.at <= later.at
        assert self.trail[-1].to_state is self.case.state
        json.dumps(self.trail[-1].to_payload())

    @invariant()
    def each_state_has_its_clock_and_owner(self) -> None:
        case = self.case
        assert case.stage is stage_of(case)
        assert (case.due_at is None) == (case.stage is None) == (case.stage_started_at is None)
        assert (case.assignee is not None) == (case.state in _OWNED)
        assert (case.rating is not None) == (case.state is CaseState.EVALUATED)
        if case.state in (CaseState.HANDLED, CaseState.VERIFIED, CaseState.CLOSED):
            assert case.handler is not None
        assert case.rung <= case.escalation_level
        assert (case.card is None) == (case.rung == 0)
        if case.stage in (Stage.SIGN, Stage.HANDLE) and case.rung == 0:
            assert case.holder == case.assignee  # the field stages are the assignee's
        assert case.escalated_stage_seq is None or case.escalated_stage_seq <= case.stage_seq

    @invariant()
    def closed_cases_accept_nothing_but_evaluate(self) -> None:
        if not self.case.state.is_open:
            later = self.case.updated_at + timedelta(days=1)
            for actor in EVERYONE:
                assert set(allowed_actions(self.case, actor, at=later)) <= {Action.EVALUATE}


CaseLifecycle.TestCase.settings = settings(max_examples=120, stateful_step_count=40, deadline=None)
TestCaseLifecycle = CaseLifecycle.TestCase


def test_a_missed_deferred_deadline_escalates_again() -> None:
    accepted = case_in(CaseState.ACCEPTED)
    due = accepted.due_at
    assert due is not None
    escalated = act(
        accepted, Action.ESCALATE, SYSTEM, due + timedelta(minutes=1), escalate_to=TO_HEAD
    )
    assert (escalated.card, escalated.holder) == ("yellow", TO_HEAD)
    requested = act(
        escalated,
        Action.REQUEST_DEFER,
        WORKER,
        due + timedelta(minutes=2),
        approver=TO_HEAD,
        extend=Span(1, "d"),
    )
    deferred = act(requested, Action.APPROVE_DEFER, HEAD, due + timedelta(minutes=3))
    assert deferred.due_at is not None

    assert (deferred.rung, deferred.card, deferred.holder) == (0, None, TO_WORKER)  # fresh
    again, event = event_of(deferred, Action.ESCALATE, SYSTEM, deferred.due_at)

    assert (escalated.escalation_level, again.escalation_level) == (1, 2)
    assert event.details["overdue_seconds"] == 0
