"""Nothing escapes the grid: every open state has a named person and a clock, an overdue stage
turns the panel red and climbs the 督办 ladder rung by rung, the shift hands its work over, the
leaders get their digest (tiny grid, on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gridmgr.cases import Action, Actor, Case, CaseState, Role
from gridmgr.cli import main
from gridmgr.datafiles import load_roster
from gridmgr.grid.generations import store_generation
from gridmgr.grid.model import Grid
from gridmgr.notifications import Trigger
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import (
    CENTER_LEADER,
    COMMAND_CENTER,
    Post,
    PostKind,
    field_post,
)
from gridmgr.responsibility.sla import Stage
from gridmgr.services.actions import act
from gridmgr.services.context import Services
from gridmgr.services.escalation import escalate_overdue, hand_over, send_digests
from gridmgr.services.invariants import Line, check
from gridmgr.services.reports import report_incident
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import tiny_context, tiny_roster

AT = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)  # a Wednesday morning, working time
CELL = "320281001001001"
IN_CELL = {"lon": 120.0625, "lat": 31.9375}
OUT_OF_GRID = {"lon": 121.0, "lat": 31.7}
ROSTER = tiny_roster()


def person(kind: PostKind, place: str = "") -> Actor:
    owner = ROSTER.owner(Post(kind, place), AT)
    assert owner is not None
    role = {PostKind.OPERATOR: Role.OPERATOR, PostKind.GRID_WORKER: Role.WORKER}[kind]
    return Actor(owner.person_id, role, owner.name)


OPERATOR = person(PostKind.OPERATOR)
WORKER = person(PostKind.GRID_WORKER, CELL)


@pytest.fixture
def services(store: Store, tmp_path: Path) -> Services:
    context = tiny_context()
    store.sync_reference(
        grid=context.grid, roster=context.roster, catalog=context.catalog, at=AT, actor="t"
    )
    return Services(store, context, Settings(data_dir=tmp_path), clock=lambda: AT)


def report(services: Services, at: datetime = AT, where: dict[str, float] | None = None) -> Case:
    place = where or IN_CELL
    return report_incident(
        services.store,
        services.context,
        reporter=OPERATOR,
        category="street_vending",
        at=at,
        description="桥下有人占道经营",
        **place,  # type: ignore[arg-type]
    ).case


def step(services: Services, case: Case, action: Action, actor: Actor, at: datetime) -> Case:
    return act(
        services.store, services.context, case.case_id, action, actor=actor, at=at, comment="处理"
    )


@dataclass(frozen=True)
class Walked:
    """A case brought to ``state`` (and when its last step was taken)."""

    case: Case
    at: datetime


def walk_to(services: Services, state: CaseState) -> Walked:
    """A case in ``state``: reported in the grid, then along the loop (returned after one
    dispatch), one minute per step."""
    if state is CaseState.REPORTED:
        return Walked(report(services), AT)
    path = [
        (Action.REGISTER, OPERATOR, CaseState.REGISTERED),
        (Action.DISPATCH, OPERATOR, CaseState.DISPATCHED),
        (Action.RETURN, WORKER, CaseState.RETURNED),
        (Action.DISPATCH, OPERATOR, None),
        (Action.ACCEPT, WORKER, CaseState.ACCEPTED),
        (Action.START, WORKER, CaseState.IN_PROGRESS),
        (Action.HANDLE, WORKER, CaseState.HANDLED),
        (Action.VERIFY, OPERATOR, CaseState.VERIFIED),
    ]
    case, at = report(services), AT
    for action, actor, reached in path:
        at += timedelta(minutes=1)
        case = step(services, case, action, actor, at)
        if reached is state:
            return Walked(case, at)
    raise AssertionError(f"{state} is not on the walk")


OPEN_STATES = [s for s in CaseState if s.is_open]


def lines_at(services: Services, at: datetime) -> dict[str, Line]:
    return {line.key: line for line in check(services, at=at, verified={"ok": True, "at": "t"})}


# -- every open state: a named person, a deadline, and a red line when late ------------------


def test_every_open_state_of_the_loop_has_a_named_person_and_a_deadline(
    services: Services,
) -> None:
    seen: dict[CaseState, Case] = {}
    for state in OPEN_STATES:
        case = walk_to(services, state).case
        assert case.state is state
        seen[state] = case
        assert case.holder is not None, state
        assert case.due_at is not None, state
        assert case.stage is not None, state
    queued = [report(services, where=OUT_OF_GRID)]
    queued.append(
        report_incident(
            services.store,
            services.context,
            reporter=OPERATOR,
            category="street_vending",
            at=AT,
            description="电话反映：某小区门口摊贩",
            address="某小区门口",
        ).case
    )
    assert [c.stage for c in queued] == [Stage.TRIAGE, Stage.PLACE]
    assert all(c.holder is not None and c.due_at is not None for c in queued)
    # the command center's stages are a named operator's (on duty), the field ones the
    # assignee's, 核查 the community's grid head
    desk = (CaseState.REPORTED, CaseState.REGISTERED, CaseState.RETURNED, CaseState.VERIFIED)
    for state in desk:
        holder = seen[state].holder
        assert holder is not None
        assert holder.post == COMMAND_CENTER.key
        assert holder.person_id in {p.person_id for p in ROSTER.on_duty(AT)}
    assert seen[CaseState.DISPATCHED].holder == seen[CaseState.DISPATCHED].assignee
    verifier = seen[CaseState.HANDLED].holder
    assert verifier is not None
    assert verifier.post == field_post(CELL[:12]).key
    lines = lines_at(services, AT + timedelta(minutes=20))
    assert all(line.ok for line in lines.values()), lines


@pytest.mark.parametrize("state", OPEN_STATES, ids=lambda s: s.value)
def test_a_case_left_past_its_deadline_in_any_open_state_turns_its_line_red(
    services: Services, state: CaseState
) -> None:
    case = walk_to(services, state).case
    assert case.due_at is not None
    late = case.due_at + timedelta(minutes=6)  # past the escalation loop's 5 minutes

    lines = lines_at(services, late)

    escalated = lines["escalated"]
    assert not escalated.ok
    assert case.case_id in escalated.case_ids
    assert escalated.link == f"/dashboard/case/{escalated.case_ids[0]}"
    assert lines["holders"].ok
    assert lines["deadlines"].ok
    # after one escalation pass the line is green again: the stage is one rung up
    escalate_overdue(services.store, services.context, now=late)
    assert lines_at(services, late)["escalated"].ok


@pytest.mark.parametrize("where", ["out_of_grid", "unlocated"])
def test_a_queue_holding_a_case_past_its_deadline_is_red(services: Services, where: str) -> None:
    if where == "out_of_grid":
        case = report(services, where=OUT_OF_GRID)
    else:
        case = report_incident(
            services.store,
            services.context,
            reporter=OPERATOR,
            category="street_vending",
            at=AT,
            description="来电：地址不详",
            address="澄江街道某路口",
        ).case
    assert case.due_at is not None
    assert lines_at(services, case.due_at - timedelta(minutes=1))["queues"].ok
    red = lines_at(services, case.due_at)["queues"]
    assert not red.ok
    assert red.case_ids == (case.case_id,)


# -- the ladder --------------------------------------------------------------------------------


def test_escalation_climbs_the_ladder_rung_by_rung_to_the_top_never_twice(
    services: Services,
) -> None:
    store, context = services.store, services.context
    case = walk_to(services, CaseState.DISPATCHED).case  # the worker signs within 2 h
    assert case.due_at is not None
    now = case.due_at + timedelta(minutes=1)
    climbed: list[tuple[int, str | None, str]] = []
    for _ in range(6):
        done = escalate_overdue(store, context, now=now)
        assert escalate_overdue(store, context, now=now) == []  # a rung fires once
        if not done:
            break
        [up] = done
        assert up.holder is not None
        assert up.due_at is not None
        assert up.due_at > now  # the rung's own clock
        climbed.append((up.rung, up.card, up.holder.post.partition(":")[0]))
        now = up.due_at  # wait for the rung's clock to run out
    assert climbed == [
        (1, "yellow", "grid_head"),
        (2, "orange", "town_leader"),
        (3, "red", CENTER_LEADER.kind.value),
    ]
    final = store.case(case.case_id)
    assert (final.rung, final.card, final.escalation_level) == (3, "red", 3)
    assert final.assignee == case.assignee  # the worker still signs for it
    escalations = [e for e in store.trail(case.case_id) if e.action == "escalate"]
    assert [e.details["rung"] for e in escalations] == [1, 2, 3]
    # the worker signs: a new stage, a fresh ladder
    signed = step(services, final, Action.ACCEPT, WORKER, now)
    assert (signed.rung, signed.card, signed.holder) == (0, None, signed.assignee)


def test_a_command_center_stage_climbs_to_the_centers_leader(services: Services) -> None:
    case = report(services)
    assert case.due_at is not None
    [up] = escalate_overdue(services.store, services.context, now=case.due_at)
    assert up.holder is not None
    assert up.holder.post == CENTER_LEADER.key
    assert (up.rung, up.card) == (1, "red")  # nobody above him for a town matter


# -- the shift and the leaders ------------------------------------------------------------------


def test_the_next_shift_takes_over_the_desk_in_one_handover_event(services: Services) -> None:
    store, context = services.store, services.context
    first = [report(services, AT + timedelta(minutes=i)) for i in range(4)]
    outgoing = {c.holder.person_id for c in first if c.holder is not None}
    later = AT + timedelta(hours=8)  # the next 8-hour shift
    incoming = {p.person_id for p in context.roster.on_duty(later)}
    assert incoming
    assert not (incoming & outgoing)
    head = store.ledger_head()
    assert head is not None

    moved = hand_over(store, context, now=later)

    assert moved == 4
    assert hand_over(store, context, now=later) == 0  # nothing held by the old crew now
    events = [e for e in store.ledger_since(head.seq) if e.kind == "shift.handover"]
    assert len(events) == 1
    details = json.loads(events[0].payload)
    assert set(details["outgoing"]) == outgoing
    assert set(details["incoming"]) == incoming
    assert set(details["cases"]) == {c.case_id for c in first}
    for case in first:
        holder = store.case(case.case_id).holder
        assert holder is not None
        assert holder.person_id in incoming


def test_each_leader_gets_one_digest_a_day_of_untouched_cases(services: Services) -> None:
    store, context = services.store, services.context
    stale = walk_to(services, CaseState.IN_PROGRESS).case
    fresh_at = AT + timedelta(days=7)
    fresh = report(services, fresh_at)
    now = fresh_at + timedelta(hours=1)  # Wednesday + 7 days: 5 working days later

    sent = send_digests(store, context, now=now, days=3)

    assert sent == 3  # the town's leader, the center's and the city's
    assert send_digests(store, context, now=now, days=3) == 0  # once a day
    town_leader = ROSTER.owner(field_post(CELL[:9]), now)
    assert town_leader is not None
    [notice] = store.notifications([town_leader.person_id])
    assert notice.trigger == Trigger.DIGEST.value
    listed = [c["case_id"] for c in notice.body["cases"]]
    assert stale.case_id in listed
    assert fresh.case_id not in listed


# -- the same check for monitoring systems --------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, tiny: Grid) -> Path:
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    store_generation(tiny, settings)
    load_roster(settings, tiny)
    return data


def run_cli(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_check_invariants_exits_1_and_names_the_late_case_and_escalate_climbs_it(
    services: Services, db_url: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = walk_to(services, CaseState.REGISTERED).case
    assert case.due_at is not None
    before = (case.due_at - timedelta(minutes=1)).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    late = (case.due_at + timedelta(minutes=10)).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    base = ["--data-dir", str(data_dir)]

    assert run_cli([*base, "check", "invariants", "--db", db_url, "--at", before]) == 0
    capsys.readouterr()
    code = run_cli([*base, "check", "invariants", "--db", db_url, "--at", late, "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert code == 1
    assert answer["ok"] is False
    red = {line["key"]: line for line in answer["lines"] if not line["ok"]}
    assert set(red) == {"escalated"}
    assert red["escalated"]["case_ids"] == [case.case_id]

    assert run_cli([*base, "escalate", "--db", db_url, "--at", late]) == 0
    out = capsys.readouterr().out
    assert f"{case.case_id} street_vending rung 1 red" in out  # the center's leader: the top
    up = services.store.case(case.case_id)
    assert up.holder is not None
    assert up.holder.post == CENTER_LEADER.key
    assert run_cli([*base, "check", "invariants", "--db", db_url, "--at", late]) == 0
