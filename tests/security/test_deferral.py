"""Finding 1 of issue #24: a deferral's approval could be forged.

A worker named his own approver in the action body and moved his deadline from 2026-12-04 to
2040-11-30; the named approver was never asked. Now the worker only requests; the approver is
picked by the rules (the post above his), notified, and decides with his own login, within caps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from dashboards import dashboard_of
from gridmgr import Grid
from gridmgr.access import caller_for
from gridmgr.cases import Action, Actor, Case, GuardError, Role, allowed_actions
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.responsibility.sla import Span
from gridmgr.services.actions import act, act_as
from gridmgr.services.context import Services
from gridmgr.services.escalation import escalate_overdue
from gridmgr.services.reports import report_incident
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import api_app, app_services, close_app, tiny_context

START = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)  # a Wednesday, a working day
CELL = "320281001001001"
NEAR = (120.0625, 31.9375)  # in CELL


class Clock:
    """A clock the test moves."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def person(post_cell: str) -> str:
    owner = tiny_context().roster.owner(field_post(post_cell), START)
    assert owner is not None
    return owner.person_id


WORKER, HEAD, LEADER = person(CELL), person(CELL[:12]), person(CELL[:9])
OPERATOR = sorted(p.person_id for p in tiny_context().roster.on_duty(START))[0]


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[tuple[Services, Clock, str]]:
    """A street-vending case in CELL, dispatched to its worker, accepted and in progress."""
    clock = Clock(START)
    services = app_services(store, Settings(data_dir=tmp_path), clock=clock)
    context, operator = services.context, Actor(OPERATOR, Role.OPERATOR)
    case_id = report_incident(
        store,
        context,
        reporter=operator,
        category="street_vending",
        at=START,
        description="占道经营",
        lon=NEAR[0],
        lat=NEAR[1],
    ).case.case_id
    act(store, context, case_id, Action.REGISTER, actor=operator, at=START, comment="立案")
    act(store, context, case_id, Action.DISPATCH, actor=operator, at=START, comment="派遣")
    for action in (Action.ACCEPT, Action.START):
        as_(services, WORKER, case_id, action)
    yield services, clock, case_id
    assert services.ingestor is not None
    services.ingestor.close()


def as_(services: Services, who: str, case_id: str, action: Action, **kw: object) -> Case:
    caller = caller_for(services.roster, who, services.now())
    return act_as(services, caller, case_id, action, comment="意见", **kw)  # type: ignore[arg-type]


def test_a_worker_cannot_name_his_approver_or_move_his_deadline_alone(
    store: Store, tmp_path: Path
) -> None:
    app = api_app(store, Settings(data_dir=tmp_path), clock=lambda: START)
    client: FlaskClient = app.test_client()
    try:
        auth = {
            who: "Bearer " + store.create_credential(kind="person", subject=who, now=START, days=9)
            for who in (WORKER, OPERATOR)
        }
        report = {"lon": NEAR[0], "lat": NEAR[1], "category": "street_vending", "description": "x"}
        as_operator = {"Authorization": auth[OPERATOR]}
        reply = client.post("/api/v1/reports", headers=as_operator, json=report)
        url = f"/api/v1/cases/{reply.get_json()['case_id']}/actions"

        def post(who: str, body: dict[str, str]) -> int:
            return client.post(url, headers={"Authorization": auth[who]}, json=body).status_code

        steps = [(OPERATOR, "register"), (OPERATOR, "dispatch"), (WORKER, "accept")]
        for who, action in [*steps, (WORKER, "start")]:
            assert post(who, {"action": action, "comment": "c"}) == 200
        case_id = reply.get_json()["case_id"]
        due = store.case(case_id).due_at
        forged = [  # the old self-approved deferral, a named approver, a self-approval, 2040
            {"action": "defer", "comment": "延期", "approver": OPERATOR, "extend": "3650d"},
            {"action": "request_defer", "comment": "延期", "approver": OPERATOR, "extend": "1d"},
            {"action": "approve_defer", "comment": "同意"},
            {"action": "request_defer", "comment": "延期", "defer_to": "2040-11-30T17:00:00+08:00"},
        ]
        assert [post(WORKER, body) for body in forged] == [400, 400, 409, 422]
        case = store.case(case_id)
        assert case.due_at == due
        assert case.deferral is None
        assert case.deferrals == 0
    finally:
        close_app(app)


def test_the_forged_2040_deferral_is_refused_by_the_cap(world: tuple[Services, Clock, str]) -> None:
    services, _, case_id = world
    due = services.store.case(case_id).due_at
    far = datetime(2040, 11, 30, tzinfo=TZ)
    with pytest.raises(GuardError, match="cap") as info:
        as_(services, WORKER, case_id, Action.REQUEST_DEFER, defer_to=far)
    assert info.value.rule == "defer_cap"
    assert services.store.case(case_id).due_at == due


def test_a_request_goes_to_the_grid_head_who_is_notified_and_the_deadline_stays(
    world: tuple[Services, Clock, str],
) -> None:
    services, _, case_id = world
    due = services.store.case(case_id).due_at

    requested = as_(services, WORKER, case_id, Action.REQUEST_DEFER, extend="1d")

    assert requested.due_at == due
    assert requested.deferral is not None
    assert requested.deferral.approver.person_id == HEAD
    assert requested.deferral.approver.post == field_post(CELL[:12]).key
    inbox = services.store.notifications([HEAD])
    assert [n.trigger for n in inbox] == ["defer_requested"]
    assert inbox[0].case_id == case_id
    assert services.store.trail(case_id)[-1].action == "request_defer"


def test_a_heads_request_goes_to_the_town_leader(world: tuple[Services, Clock, str]) -> None:
    services = world[0]
    operator = Actor(OPERATOR, Role.OPERATOR)
    # a second case, dispatched to the grid head himself
    store, context = services.store, services.context
    case_id2 = report_incident(
        store,
        context,
        reporter=operator,
        category="street_vending",
        at=START,
        description="占道",
        lon=NEAR[0],
        lat=NEAR[1],
    ).case.case_id
    act(store, context, case_id2, Action.REGISTER, actor=operator, at=START, comment="立案")
    as_(services, OPERATOR, case_id2, Action.DISPATCH, assignee_id=HEAD)
    as_(services, HEAD, case_id2, Action.ACCEPT)

    requested = as_(services, HEAD, case_id2, Action.REQUEST_DEFER, extend="4h")

    assert requested.deferral is not None
    assert requested.deferral.approver.person_id == LEADER
    assert services.store.notifications([LEADER])[0].trigger == "defer_requested"


def test_nobody_but_the_picked_approver_may_decide(world: tuple[Services, Clock, str]) -> None:
    services, clock, case_id = world
    as_(services, WORKER, case_id, Action.REQUEST_DEFER, extend="1d")
    clock.at += timedelta(hours=1)
    for someone in (WORKER, OPERATOR, LEADER):
        for decision in (Action.APPROVE_DEFER, Action.REFUSE_DEFER):
            with pytest.raises(GuardError) as info:
                as_(services, someone, case_id, decision)
            assert info.value.rule == "approver_only"
    assert services.store.case(case_id).deferral is not None


def test_approval_moves_the_deadline_within_the_cap_and_the_ledger_names_the_approver(
    world: tuple[Services, Clock, str],
) -> None:
    services, clock, case_id = world
    before = services.store.case(case_id)
    assert before.due_at is not None
    requested = as_(services, WORKER, case_id, Action.REQUEST_DEFER, extend="2d")
    clock.at += timedelta(hours=1)

    approved = as_(services, HEAD, case_id, Action.APPROVE_DEFER)

    vending = services.catalog.category("street_vending")
    asked = services.calendar.deadline(before.due_at, Span(2, "d"), vending.clock)
    assert approved.due_at == asked  # 2d: twice the 1d handle SLA, exactly the cap
    assert approved.deferral is None
    assert (approved.deferrals, approved.stage_deferrals) == (1, 1)
    last = services.store.trail(case_id)[-1]
    assert (last.action, last.actor) == ("approve_defer", HEAD)
    assert last.details["request_version"] == requested.version
    assert last.details["requested_by"] == WORKER
    assert last.ledger.actor == HEAD
    assert services.store.notifications([WORKER])[0].trigger == "defer_decided"
    with pytest.raises(GuardError, match="cap"):
        as_(services, WORKER, case_id, Action.REQUEST_DEFER, extend="3d")


def test_a_refusal_keeps_the_deadline(world: tuple[Services, Clock, str]) -> None:
    services, clock, case_id = world
    due = services.store.case(case_id).due_at
    as_(services, WORKER, case_id, Action.REQUEST_DEFER, extend="1d")
    clock.at += timedelta(minutes=30)

    refused = as_(services, HEAD, case_id, Action.REFUSE_DEFER)

    assert (refused.due_at, refused.deferral, refused.deferrals) == (due, None, 0)
    assert services.store.trail(case_id)[-1].actor == HEAD


def test_a_third_deferral_in_one_stage_is_refused(world: tuple[Services, Clock, str]) -> None:
    services, clock, case_id = world
    for _ in range(2):
        as_(services, WORKER, case_id, Action.REQUEST_DEFER, extend="4h")
        clock.at += timedelta(minutes=10)
        as_(services, HEAD, case_id, Action.APPROVE_DEFER)
        clock.at += timedelta(minutes=10)
    case = services.store.case(case_id)
    worker = caller_for(services.roster, WORKER, clock.at).actor
    assert case.stage_deferrals == 2
    assert Action.REQUEST_DEFER not in allowed_actions(case, worker, at=clock.at)
    with pytest.raises(GuardError, match="at most 2") as info:
        as_(services, WORKER, case_id, Action.REQUEST_DEFER, extend="4h")
    assert info.value.rule == "defer_limit"


def test_the_case_escalates_when_the_unapproved_deadline_passes(
    world: tuple[Services, Clock, str],
) -> None:
    services, _, case_id = world
    due = services.store.case(case_id).due_at
    assert due is not None
    as_(services, WORKER, case_id, Action.REQUEST_DEFER, extend="1d")

    escalated = escalate_overdue(services.store, services.context, now=due + timedelta(minutes=1))

    assert [c.case_id for c in escalated] == [case_id]
    assert services.store.case(case_id).escalation_level == 1


def test_the_operator_on_duty_approves_when_nobody_above_acts(
    world: tuple[Services, Clock, str],
) -> None:
    services = world[0]
    operator = Actor(OPERATOR, Role.OPERATOR)
    store, context = services.store, services.context
    out = report_incident(
        store,
        context,
        reporter=operator,
        category="gas_leak",
        at=START,
        description="燃气味",
        lon=121.0,
        lat=31.7,
    ).case.case_id
    act(store, context, out, Action.REGISTER, actor=operator, at=START, comment="立案")
    dispatched = act(store, context, out, Action.DISPATCH, actor=operator, at=START, comment="派遣")
    assert dispatched.assignee is not None
    assert dispatched.assignee.post == COMMAND_CENTER.key
    owner = dispatched.assignee.person_id
    as_(services, owner, out, Action.ACCEPT)

    requested = as_(services, owner, out, Action.REQUEST_DEFER, extend="1h")

    assert requested.deferral is not None
    approver = requested.deferral.approver
    assert approver.post == COMMAND_CENTER.key
    assert approver.person_id != owner


# -- the dashboard's case page: the same use case behind its buttons ---------------------------


def test_the_case_page_offers_the_request_to_the_worker_and_the_decision_to_the_head(
    store: Store, tiny: Grid, tmp_path: Path
) -> None:
    from tests.test_dashboard import callback, dashboard_app, logged_in, render, texts
    from tests.test_sessions import Clock as SessionClock

    app = dashboard_app(store, tiny, tmp_path, SessionClock(START), logins=(None, CELL, CELL[:12]))
    try:
        services = dashboard_of(app).services
        operator = Actor(OPERATOR, Role.OPERATOR)
        case_id = report_incident(
            store,
            services.context,
            reporter=operator,
            category="street_vending",
            at=START,
            description="占道",
            lon=NEAR[0],
            lat=NEAR[1],
        ).case.case_id
        for action in (Action.REGISTER, Action.DISPATCH):
            act(store, services.context, case_id, action, actor=operator, at=START, comment="c")
        as_(services, WORKER, case_id, Action.ACCEPT)
        due = store.case(case_id).due_at
        assert due is not None
        worker, head = logged_in(app, CELL), logged_in(app, CELL[:12])
        page = f"/dashboard/case/{case_id}"
        assert "申请延期" in texts(render(worker, page))
        assert "批准延期" not in texts(render(worker, page))
        assert "批准延期" not in texts(render(head, page))  # nothing to decide yet

        def press(client: FlaskClient, action: str, comment: str, defer_to: str | None) -> None:
            answer = callback(
                client,
                [("case-body", "children")],
                [({"type": "case-action", "action": action}, "n_clicks", 1)],
                [
                    ("case-comment", "value", comment),
                    ("case-defer-to", "value", defer_to),
                    ("case-id", "data", case_id),
                ],
            )
            assert answer.status_code == 200

        press(worker, "request_defer", "需协调市场监管部门", "2026-05-08 17:00")
        assert store.case(case_id).due_at == due
        words = texts(render(head, page))
        assert {"批准延期", "驳回延期", "需协调市场监管部门"} <= set(words)
        assert any("2026-05-08 17:00" in w for w in words)
        assert "批准延期" not in texts(render(logged_in(app, None), page))  # not the operator's
        press(head, "approve_defer", "同意延期", None)
        assert store.case(case_id).due_at == datetime(2026, 5, 8, 17, 0, tzinfo=TZ)
        assert store.trail(case_id)[-1].actor == HEAD
    finally:
        close_app(app)


def test_through_the_api_only_the_picked_approver_decides_and_others_get_403(
    store: Store, tmp_path: Path
) -> None:
    app = api_app(store, Settings(data_dir=tmp_path), clock=lambda: START)
    client: FlaskClient = app.test_client()
    try:
        auth = {
            who: "Bearer " + store.create_credential(kind="person", subject=who, now=START, days=9)
            for who in (WORKER, HEAD, LEADER, OPERATOR)
        }
        report = {"lon": NEAR[0], "lat": NEAR[1], "category": "street_vending", "description": "x"}
        as_operator = {"Authorization": auth[OPERATOR]}
        case_id = client.post("/api/v1/reports", headers=as_operator, json=report).get_json()[
            "case_id"
        ]
        url = f"/api/v1/cases/{case_id}/actions"

        def post(who: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
            reply = client.post(url, headers={"Authorization": auth[who]}, json=body)
            return reply.status_code, reply.get_json()

        for who, action in [(OPERATOR, "register"), (OPERATOR, "dispatch"), (WORKER, "accept")]:
            assert post(who, {"action": action, "comment": "c"})[0] == 200
        ask = {"action": "request_defer", "comment": "缺材料", "extend": "1d"}
        status, body = post(WORKER, ask)
        assert status == 200
        request = body["deferral_request"]
        assert isinstance(request, dict)
        assert request["approver"] == {"person_id": HEAD, "post": field_post(CELL[:12]).key}
        assert body["due_at"] == post(WORKER, {"action": "start", "comment": "c"})[1]["due_at"]
        for someone in (WORKER, LEADER, OPERATOR):
            assert post(someone, {"action": "approve_defer", "comment": "同意"})[0] == 403
        status, body = post(HEAD, {"action": "approve_defer", "comment": "同意"})
        assert status == 200
        assert body["deferral_request"] is None
        assert body["due_at"] == request["due_at"]
        assert body["deferrals"] == 1
    finally:
        close_app(app)
