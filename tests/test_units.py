"""Units as assignees on both backends: routing's default, a unit's inbox, a member signing for
his unit, 移交执法 to the competent team, and re-dispatch after a return."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gridmgr.access import caller_for
from gridmgr.cases import Action, Actor, CaseError, CaseState, GuardError, Role, unit_of
from gridmgr.errors import ForbiddenError
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import Post, PostKind, field_post
from gridmgr.responsibility.sla import Stage
from gridmgr.services.actions import act, act_as, actions_allowed
from gridmgr.services.context import Services
from gridmgr.services.queries import CaseFilter, case_trail, visible_cases
from gridmgr.services.reports import report_incident
from gridmgr.services.units import dispatch_choices, unit_cases, unit_members
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import app_services, tiny_context

START = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)  # a Wednesday, a working day
CELL = "320281001001001"
NEAR = (120.0625, 31.9375)  # in CELL
TOWN_TEAM = "town-team-320281001"


class Clock:
    """A clock the test moves."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _owner(post: Post) -> str:
    person = tiny_context().roster.owner(post, START)
    assert person is not None
    return person.person_id


def _members(unit_id: str) -> list[str]:
    roster = tiny_context().roster
    leader = _owner(Post(PostKind.UNIT_LEADER, unit_id))
    return sorted(
        p.person_id
        for p in roster.persons.values()
        if p.unit_id == unit_id and p.person_id != leader
    )


WORKER = _owner(field_post(CELL))
OPERATOR = sorted(p.person_id for p in tiny_context().roster.on_duty(START))[0]
CGJ_LEADER = _owner(Post(PostKind.UNIT_LEADER, "cgj"))
TEAM_LEADER = _owner(Post(PostKind.UNIT_LEADER, TOWN_TEAM))
CGJ_MEMBER, CGJ_OTHER = _members("cgj")
TEAM_MEMBER, _ = _members(TOWN_TEAM)


@pytest.fixture
def services(store: Store, tmp_path: Path) -> Iterator[Services]:
    built = app_services(store, Settings(data_dir=tmp_path), clock=Clock(START))
    yield built
    assert built.ingestor is not None
    built.ingestor.close()


def _registered(services: Services, category: str) -> str:
    operator = Actor(OPERATOR, Role.OPERATOR)
    case_id = report_incident(
        services.store,
        services.context,
        reporter=operator,
        category=category,
        at=START,
        description="测试",
        lon=NEAR[0],
        lat=NEAR[1],
    ).case.case_id
    act(services.store, services.context, case_id, Action.REGISTER, actor=operator, at=START,
        comment="立案")  # fmt: skip
    return case_id


def _as(services: Services, person_id: str, case_id: str, action: Action, **kw: object) -> None:
    caller = caller_for(services.roster, person_id, services.now())
    act_as(services, caller, case_id, action, comment="意见", **kw)  # type: ignore[arg-type]


def test_a_city_matter_is_dispatched_to_its_unit_held_by_the_leader(services: Services) -> None:
    case_id = _registered(services, "streetlight_out")  # a city matter of 城管局 (dept:cgj)
    _as(services, OPERATOR, case_id, Action.DISPATCH)
    case = services.store.case(case_id)
    assert case.assignee is not None
    assert case.assignee.post == "unit:cgj"
    assert case.assignee.person_id == case.holder.person_id == CGJ_LEADER  # type: ignore[union-attr]
    assert case.stage is Stage.SIGN


def test_a_town_matter_is_dispatched_to_the_grid_worker(services: Services) -> None:
    case_id = _registered(services, "street_vending")
    _as(services, OPERATOR, case_id, Action.DISPATCH)
    case = services.store.case(case_id)
    assert case.assignee is not None
    assert (case.assignee.person_id, case.assignee.post) == (WORKER, f"grid_worker:{CELL}")


def test_a_member_signs_for_his_unit_and_becomes_the_assignee(services: Services) -> None:
    case_id = _registered(services, "streetlight_out")
    _as(services, OPERATOR, case_id, Action.DISPATCH)
    now = services.now()
    member = caller_for(services.roster, CGJ_MEMBER, now)
    assert member.actor.role is Role.OFFICER
    assert member.units == ("cgj",)
    stranger = caller_for(services.roster, TEAM_MEMBER, now)
    assert [c.case_id for c in unit_cases(services, member, "cgj")] == [case_id]
    with pytest.raises(ForbiddenError):
        unit_cases(services, stranger, "cgj")
    case = services.store.case(case_id)
    assert Action.ACCEPT in actions_allowed(services, member, case, now)
    assert Action.ACCEPT not in actions_allowed(services, stranger, case, now)
    _as(services, CGJ_MEMBER, case_id, Action.ACCEPT)
    case = services.store.case(case_id)
    assert case.state is CaseState.ACCEPTED
    assert case.stage is Stage.HANDLE
    assert case.assignee is not None
    assert case.assignee.person_id == CGJ_MEMBER
    assert unit_of(case.assignee) == "cgj"
    assert case.holder is not None
    assert case.holder.person_id == CGJ_MEMBER
    accept = case_trail(services, member, case_id)[-1]
    assert accept.details["signed_for"] == "cgj"
    assert accept.details["unit_leader"]["person_id"] == CGJ_LEADER
    # the case stays in the unit's inbox; only its new assignee works it
    assert [c.case_id for c in unit_cases(services, member, "cgj")] == [case_id]
    other = caller_for(services.roster, CGJ_OTHER, now)
    assert Action.START not in actions_allowed(services, other, case, now)
    _as(services, CGJ_MEMBER, case_id, Action.START)


def test_unit_people_see_the_units_cases_and_the_leader_its_members(services: Services) -> None:
    case_id = _registered(services, "streetlight_out")
    _as(services, OPERATOR, case_id, Action.DISPATCH)
    town_case = _registered(services, "street_vending")
    _as(services, OPERATOR, town_case, Action.DISPATCH)
    now = services.now()
    member = caller_for(services.roster, CGJ_MEMBER, now)
    listed, total = visible_cases(services, member, CaseFilter(), limit=50)
    assert [c.case_id for c in listed] == [case_id]
    assert total == 1
    team_leader = caller_for(services.roster, TEAM_LEADER, now)
    assert team_leader.actor.role is Role.UNIT_LEADER
    assert team_leader.units == (TOWN_TEAM,)
    assert visible_cases(services, team_leader, CaseFilter(), limit=50)[1] == 0
    members = [p.person_id for p in unit_members(services, team_leader, TOWN_TEAM)]
    assert members[0] == TEAM_LEADER
    assert TEAM_MEMBER in members
    with pytest.raises(ForbiddenError):
        unit_members(services, member, "cgj")  # a member is not shown the roster
    with pytest.raises(ForbiddenError):
        unit_members(services, team_leader, "cgj")


def test_a_worker_hands_his_case_to_the_competent_team(services: Services) -> None:
    case_id = _registered(services, "street_vending")
    _as(services, OPERATOR, case_id, Action.DISPATCH)
    _as(services, WORKER, case_id, Action.ACCEPT)
    services.clock.at = START + timedelta(hours=1)  # type: ignore[attr-defined]
    _as(services, WORKER, case_id, Action.TRANSFER)
    case = services.store.case(case_id)
    assert case.state is CaseState.DISPATCHED
    assert case.stage is Stage.SIGN
    assert case.stage_started_at == START + timedelta(hours=1)
    assert case.assignee is not None
    assert case.assignee.post == f"unit:{TOWN_TEAM}"
    assert case.holder is not None
    assert case.holder.person_id == TEAM_LEADER
    operator = caller_for(services.roster, OPERATOR, services.now())
    events = [e for e in case_trail(services, operator, case_id) if e.action == "transfer"]
    assert len(events) == 1
    assert events[0].details["transferred_from"]["person_id"] == WORKER
    assert events[0].details["assignee"]["post"] == f"unit:{TOWN_TEAM}"
    # a second hand-over to the same unit is refused; a member of the team signs for it
    with pytest.raises(GuardError, match="already with unit"):
        _as(services, OPERATOR, case_id, Action.TRANSFER)
    _as(services, TEAM_MEMBER, case_id, Action.ACCEPT)
    assert services.store.case(case_id).assignee.person_id == TEAM_MEMBER  # type: ignore[union-attr]


def test_only_an_operator_or_the_assignee_hands_a_case_over(services: Services) -> None:
    case_id = _registered(services, "street_vending")
    _as(services, OPERATOR, case_id, Action.DISPATCH)
    head = _owner(field_post(CELL[:12]))  # sees the case, does not hold it
    with pytest.raises(GuardError, match="only an operator or the assignee"):
        _as(services, head, case_id, Action.TRANSFER)
    _as(services, OPERATOR, case_id, Action.TRANSFER, unit_id="cgj")
    case = services.store.case(case_id)
    assert case.assignee is not None
    assert case.assignee.post == "unit:cgj"


def test_the_picker_names_the_returner_and_does_not_suggest_him(services: Services) -> None:
    case_id = _registered(services, "street_vending")
    _as(services, OPERATOR, case_id, Action.DISPATCH)
    caller = caller_for(services.roster, WORKER, services.now())
    act_as(services, caller, case_id, Action.RETURN, comment="不属于本网格，在河对岸")
    operator = caller_for(services.roster, OPERATOR, services.now())
    choices = dispatch_choices(services, operator, services.store.case(case_id))
    assert choices.last_return is not None
    assert choices.last_return.returned_by is not None
    assert choices.last_return.returned_by.person_id == WORKER
    assert choices.last_return.comment == "不属于本网格，在河对岸"
    first = choices.choices[0]
    assert (first.person_id, first.reason, first.returned_it) == (WORKER, "routing", True)
    assert choices.suggested is not None
    assert choices.suggested.person_id != WORKER
    assert any(c.unit_id == TOWN_TEAM for c in choices.choices)
    _as(services, OPERATOR, case_id, Action.DISPATCH, unit_id=TOWN_TEAM)
    case = services.store.case(case_id)
    assert case.state is CaseState.DISPATCHED
    assert unit_of(case.assignee) == TOWN_TEAM


def test_a_unit_nobody_knows_is_refused(services: Services) -> None:
    case_id = _registered(services, "street_vending")
    with pytest.raises(LookupError, match="no unit"):
        _as(services, OPERATOR, case_id, Action.DISPATCH, unit_id="nowhere")
    with pytest.raises(CaseError, match="either an assignee or a unit"):
        _as(services, OPERATOR, case_id, Action.DISPATCH, unit_id="cgj", assignee_id=WORKER)
