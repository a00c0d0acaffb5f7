"""Routing: place + matter + time → cell path, owner chain, handling unit, deadlines, reasons."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmgr.errors import CellError, TimeError, UnknownCategoryError
from gridmgr.grid.datum import wgs84_to_gcj02
from gridmgr.grid.model import Grid
from gridmgr.responsibility.calendar import TZ, WorkCalendar
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.chains import Acting
from gridmgr.responsibility.roster import PostKind, Role, Roster, UnitKind, field_post
from gridmgr.responsibility.routing import Queue, RoutingContext, route_incident
from gridmgr.responsibility.sla import Stage
from tests.builders import tiny_context, tiny_roster

AT = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)  # a Wednesday, working time
INSIDE = (120.0625, 31.5625)  # middle of cell 320281001003001 (bottom-left of the tiny grid)


def without(roster: Roster, person_id: str, role: Role = Role.PRIMARY) -> Roster:
    """The roster with every ``role`` assignment of ``person_id`` removed."""
    kept = [a for a in roster.assignments if not (a.person_id == person_id and a.role is role)]
    return Roster(roster.persons.values(), roster.units.values(), kept, roster.absences)


def test_a_report_is_routed_to_its_cells_owner_chain_with_a_reason_for_each_link() -> None:
    context = tiny_context()
    decision = route_incident(
        context, category="street_vending", at=AT, lon=INSIDE[0], lat=INSIDE[1]
    )

    path = context.grid.point_to_cell(*INSIDE)
    assert path is not None
    assert decision.queue is Queue.CELL
    assert decision.cell_path == path
    assert [str(link.post) for link in decision.chain] == [
        f"grid_worker:{path.tier3}",
        f"grid_head:{path.tier2}",
        f"town_leader:{path.tier1}",
        "operator:",
    ]
    owner = context.roster.owner(field_post(path.tier3), AT)
    assert decision.responsible.person == owner
    assert decision.vacancies == ()
    assert owner is not None
    assert any(owner.person_id in r for r in decision.reasons)
    assert any(path.tier3 in r for r in decision.reasons)


def test_a_town_matter_goes_to_the_town_team_and_a_city_matter_to_its_team_or_department() -> None:
    context = tiny_context()
    where = {"lon": INSIDE[0], "lat": INSIDE[1]}

    town = route_incident(context, category="street_vending", at=AT, **where).handling
    city_team = route_incident(context, category="muck_spillage", at=AT, **where).handling
    department = route_incident(context, category="gas_leak", at=AT, **where).handling

    assert town.unit is not None
    assert town.unit.kind is UnitKind.TOWN_TEAM
    assert town.dispatched_by == "town"
    assert city_team.unit is not None
    assert city_team.unit.kind is UnitKind.CITY_TEAM
    assert city_team.dispatched_by == "command center"
    assert department.unit is not None
    assert department.unit.unit_id == "zjj"
    assert department.leader is not None


def test_a_vacant_worker_post_passes_the_matter_to_the_grid_head_and_raises_the_vacancy() -> None:
    roster = tiny_roster()
    path = tiny_context().grid.point_to_cell(*INSIDE)
    assert path is not None
    worker = roster.owner(field_post(path.tier3), AT)
    assert worker is not None
    context = tiny_context(without(roster, worker.person_id))

    decision = route_incident(
        context, category="street_vending", at=AT, lon=INSIDE[0], lat=INSIDE[1]
    )

    assert decision.chain[0].acting is Acting.VACANT
    assert decision.vacancies == (field_post(path.tier3),)
    assert decision.responsible.post == field_post(path.tier2)
    assert decision.responsible.person == roster.owner(field_post(path.tier2), AT)
    assert any("vacant" in r for r in decision.reasons)


def test_a_point_outside_the_territory_is_queued_for_the_command_center_never_dropped() -> None:
    decision = route_incident(tiny_context(), category="street_vending", at=AT, lon=121.0, lat=31.7)

    assert decision.queue is Queue.OUT_OF_GRID
    assert decision.cell_path is None
    assert [link.post.kind for link in decision.chain] == [PostKind.OPERATOR]
    assert decision.responsible.person is not None
    assert len(decision.deadlines) == 3
    assert any("out-of-grid" in r for r in decision.reasons)


def test_a_point_near_a_cell_border_is_flagged_with_the_neighbouring_cell() -> None:
    context = tiny_context(border_m=30.0)
    # the vertical border x = 120.125 separates 320281001003001 from 320281001003002
    metres_per_degree = 111_320 * 0.85  # cos(31.56°) ≈ 0.852
    near = 120.125 - 10 / metres_per_degree

    flagged = route_incident(context, category="street_vending", at=AT, lon=near, lat=31.5625)
    clear = route_incident(context, category="street_vending", at=AT, lon=INSIDE[0], lat=INSIDE[1])

    assert flagged.cell_path is not None
    assert flagged.is_near_border
    assert flagged.near_cells == (context.grid.point_to_cell(120.13, 31.5625).tier3,)  # type: ignore[union-attr]
    assert flagged.border_distance_m is not None
    assert 8 < flagged.border_distance_m < 12
    assert not clear.is_near_border
    assert clear.border_distance_m is None


def test_deadlines_on_a_national_holiday_start_on_the_first_working_day_after_it() -> None:
    holiday = datetime(2026, 10, 1, 14, 5, tzinfo=TZ)
    decision = route_incident(
        tiny_context(), category="street_vending", at=holiday, lon=INSIDE[0], lat=INSIDE[1]
    )

    due = {d.stage: d.due for d in decision.deadlines}
    # 2h sign-for from 2026-10-08 08:30 (first working day after 国庆节), then 1 working day each
    assert due[Stage.SIGN] == datetime(2026, 10, 8, 10, 30, tzinfo=TZ)
    assert due[Stage.HANDLE] == datetime(2026, 10, 9, 10, 30, tzinfo=TZ)
    assert due[Stage.VERIFY] == datetime(2026, 10, 10, 10, 30, tzinfo=TZ)  # 调休 Saturday
    assert any("国庆节" in r for r in decision.reasons)


def test_an_urgent_hazard_runs_on_the_natural_clock_even_on_a_holiday() -> None:
    holiday = datetime(2026, 10, 1, 14, 5, tzinfo=TZ)
    decision = route_incident(
        tiny_context(), category="gas_leak", at=holiday, lon=INSIDE[0], lat=INSIDE[1]
    )

    assert [d.due - holiday for d in decision.deadlines] == [
        timedelta(minutes=30),
        timedelta(hours=4, minutes=30),
        timedelta(hours=6, minutes=30),
    ]


def test_routing_by_cell_code_matches_routing_by_a_point_in_it() -> None:
    context = tiny_context()
    by_point = route_incident(
        context, category="exposed_garbage", at=AT, lon=INSIDE[0], lat=INSIDE[1]
    )
    assert by_point.cell_path is not None

    by_cell = route_incident(context, category="暴露垃圾", at=AT, cell=by_point.cell_path.tier3)

    assert by_cell.cell_path == by_point.cell_path
    assert by_cell.chain == by_point.chain
    assert by_cell.deadlines == by_point.deadlines


def test_a_gcj02_coordinate_is_converted_before_it_is_located() -> None:
    context = tiny_context()
    gx, gy = wgs84_to_gcj02(*INSIDE)

    decision = route_incident(
        context, category="street_vending", at=AT, lon=float(gx), lat=float(gy), datum="gcj02"
    )

    assert decision.cell_path == context.grid.point_to_cell(*INSIDE)
    assert decision.lon == pytest.approx(INSIDE[0], abs=1e-5)


def test_bad_requests_are_refused_with_a_message_naming_the_problem() -> None:
    context = tiny_context()
    with pytest.raises(TimeError, match="no timezone"):
        route_incident(
            context, category="street_vending", at=datetime(2026, 5, 6), cell="320281001001001"
        )
    with pytest.raises(UnknownCategoryError, match="street_vending"):
        route_incident(context, category="street_vendin", at=AT, cell="320281001001001")
    with pytest.raises(CellError, match="not both"):
        route_incident(
            context, category="street_vending", at=AT, lon=120.1, lat=31.6, cell="320281001001001"
        )
    with pytest.raises(CellError, match="tier-3"):
        route_incident(context, category="street_vending", at=AT, cell="320281001001")


def test_routing_answers_for_the_past_with_who_was_responsible_then(jiangyin: Grid) -> None:
    from gridmgr.responsibility.demo_roster import generate_roster

    roster = generate_roster(jiangyin)
    context = RoutingContext(jiangyin, roster, read_catalog(), WorkCalendar())
    handed = next(
        a
        for a in roster.assignments
        if a.post.kind is PostKind.GRID_WORKER and a.role is Role.PRIMARY and a.valid_to is not None
    )
    assert handed.valid_to is not None
    before = handed.valid_to - timedelta(days=1)
    after = handed.valid_to + timedelta(days=1)

    then = route_incident(context, category="street_vending", at=before, cell=handed.post.place)
    now = route_incident(context, category="street_vending", at=after, cell=handed.post.place)

    assert then.responsible.person is not None
    assert then.responsible.person.person_id == handed.person_id
    assert now.responsible.person is not None
    assert now.responsible.person.person_id != handed.person_id
    assert now.responsible.person == roster.owner(handed.post, after)


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(119.9, 120.6),
    y=st.floats(31.4, 32.1),
    minutes=st.integers(0, 3 * 366 * 24 * 60),
    category=st.sampled_from(["street_vending", "gas_leak", "labour_dispute", "muck_spillage"]),
)
def test_routing_is_deterministic_and_the_chain_follows_the_cells_ancestry(
    x: float, y: float, minutes: int, category: str
) -> None:
    context = tiny_context()
    at = datetime(2024, 1, 1, tzinfo=TZ) + timedelta(minutes=minutes)

    first = route_incident(context, category=category, at=at, lon=x, lat=y)
    again = route_incident(tiny_context(), category=category, at=at, lon=x, lat=y)

    assert first.to_dict() == again.to_dict()
    if first.cell_path is None:
        assert first.queue is Queue.OUT_OF_GRID
        return
    t1, t2, t3 = first.cell_path
    assert context.grid.cell_to_parent(t3) == t2
    assert context.grid.cell_to_parent(t2) == t1
    assert [link.post for link in first.chain[:3]] == [
        field_post(t3),
        field_post(t2),
        field_post(t1),
    ]
    assert all(link.person is not None for link in first.chain)  # the demo roster is complete
    dues = [d.due for d in first.deadlines]
    assert at <= dues[0] <= dues[1] <= dues[2]
