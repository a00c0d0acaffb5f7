"""Tests for gridmgr.responsibility.roster: who holds a post, absences, duty rotation, conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmgr.errors import CellError, RosterError, RowProblem, UnknownPersonError
from gridmgr.grid.model import Grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import (
    COMMAND_CENTER,
    Absence,
    Assignment,
    Person,
    Post,
    PostKind,
    Role,
    Roster,
    Unit,
    UnitKind,
    field_post,
    find_conflicts,
)
from tests.builders import roster_from_csv

WORKER_POST = field_post("320281001001001")

PERSONS = """
    person_id,name,phone,unit,capacity
    w1,王一,,,2
    w2,王二,,,2
    h1,张三,,,1
    o1,赵四,,,1
"""


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Beijing-time moment."""
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def problems_of(assignments: str, *, persons: str = PERSONS, **kwargs: object) -> list[RowProblem]:
    """The problems parse_roster reports for these CSV texts (it must refuse them)."""
    with pytest.raises(RosterError) as info:
        roster_from_csv(persons=persons, assignments=assignments, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def handover_roster() -> Roster:
    """w1 is the worker of 320281001001001 for [2024-01-01, 2025-03-01), w2 from then on."""
    return roster_from_csv(
        persons=PERSONS,
        assignments="""
            person_id,post,place,role,valid_from,valid_to
            w1,grid_worker,320281001001001,primary,2024-01-01,2025-03-01
            w2,grid_worker,320281001001001,primary,2025-03-01,
            w2,grid_worker,320281001001001,deputy,2024-01-01,2025-03-01
            w1,grid_worker,320281001001002,primary,2024-01-01,
        """,
    )


# -- time travel ------------------------------------------------------------------------------


def test_owner_follows_half_open_assignment_periods() -> None:
    roster = handover_roster()
    boundary = at(2025, 3, 1)
    assert roster.owner(WORKER_POST, at(2023, 12, 31, 23, 59)) is None
    assert roster.owner(WORKER_POST, at(2024, 1, 1)).person_id == "w1"
    assert roster.owner(WORKER_POST, boundary - timedelta(microseconds=1)).person_id == "w1"
    assert roster.owner(WORKER_POST, boundary).person_id == "w2"
    assert roster.owner(WORKER_POST, at(2030, 1, 1)).person_id == "w2"


def test_owner_at_boundary_given_in_utc_is_the_successor() -> None:
    roster = handover_roster()
    boundary_utc = datetime(2025, 2, 28, 16, 0, tzinfo=UTC)  # 2025-03-01 00:00 in Beijing
    assert roster.owner(WORKER_POST, boundary_utc).person_id == "w2"
    assert roster.owner(WORKER_POST, boundary_utc - timedelta(seconds=1)).person_id == "w1"


def test_deputy_ends_when_the_deputy_becomes_primary() -> None:
    roster = handover_roster()
    assert roster.deputy(WORKER_POST, at(2025, 2, 1)).person_id == "w2"
    assert roster.deputy(WORKER_POST, at(2025, 3, 1)) is None


def test_history_lists_every_primary_oldest_first() -> None:
    history = handover_roster().history(WORKER_POST)
    assert [(a.person_id, a.valid_from, a.valid_to) for a in history] == [
        ("w1", at(2024, 1, 1), at(2025, 3, 1)),
        ("w2", at(2025, 3, 1), None),
    ]


def test_post_nobody_ever_held_has_no_holders() -> None:
    roster = handover_roster()
    empty = field_post("320281001004004")
    assert roster.holders(empty, at(2025, 1, 1)) == []
    assert roster.holders(empty, at(2025, 1, 1), role=Role.DEPUTY) == []
    assert roster.owner(empty, at(2025, 1, 1)) is None
    assert roster.history(empty) == []


def test_posts_of_lists_what_a_person_holds_at_a_time() -> None:
    roster = handover_roster()
    before = {(str(a.post), a.role) for a in roster.posts_of("w1", at(2024, 6, 1))}
    after = {(str(a.post), a.role) for a in roster.posts_of("w1", at(2025, 6, 1))}
    assert before == {
        ("grid_worker:320281001001001", Role.PRIMARY),
        ("grid_worker:320281001001002", Role.PRIMARY),
    }
    assert after == {("grid_worker:320281001001002", Role.PRIMARY)}
    assert roster.posts_of("h1", at(2024, 6, 1)) == []


def test_unknown_person_id_raises_lookup_error_naming_it() -> None:
    with pytest.raises(UnknownPersonError, match="ghost") as info:
        handover_roster().person("ghost")
    assert isinstance(info.value, LookupError)


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 5000), min_size=1, max_size=6),
    probe=st.integers(-100, 40000),
)
def test_owner_is_the_person_whose_period_contains_the_time(gaps: list[int], probe: int) -> None:
    # A chain of handovers, every gap in hours: person i holds [starts[i], starts[i + 1]).
    starts = [at(2024, 1, 1)]
    for gap in gaps:
        starts.append(starts[-1] + timedelta(hours=gap))
    persons = [Person(f"p{i}", f"人{i}") for i in range(len(starts))]
    ends: list[datetime | None] = [*starts[1:], None]
    assignments = [
        Assignment(p.person_id, WORKER_POST, Role.PRIMARY, s, e)
        for p, s, e in zip(persons, starts, ends, strict=True)
    ]
    roster = Roster(persons, [], reversed(assignments))
    t = starts[0] + timedelta(hours=probe)
    expected = [a.person_id for a in assignments if a.is_active(t)]
    assert len(expected) <= 1
    owner = roster.owner(WORKER_POST, t)
    assert ([owner.person_id] if owner else []) == expected
    assert [a.person_id for a in roster.holders(WORKER_POST, t)] == expected


# -- absences ---------------------------------------------------------------------------------


def test_absence_makes_person_unavailable_only_inside_its_half_open_period() -> None:
    roster = roster_from_csv(
        persons=PERSONS,
        assignments="""
            person_id,post,place,role,valid_from
            w1,grid_worker,320281001001001,primary,2024-01-01
        """,
        absences="""
            person_id,start,end,reason
            w1,2025-05-01 08:00,2025-05-03,年假
        """,
    )
    assert roster.is_available("w1", at(2025, 5, 1, 7, 59))
    assert not roster.is_available("w1", at(2025, 5, 1, 8, 0))
    assert not roster.is_available("w1", at(2025, 5, 2, 23, 59))
    assert roster.is_available("w1", at(2025, 5, 3))
    assert roster.absence("w1", at(2025, 5, 2)).reason == "年假"
    assert roster.absence("w1", at(2025, 5, 3)) is None
    # An absence changes availability, not who holds the post.
    assert roster.owner(WORKER_POST, at(2025, 5, 2)).person_id == "w1"


def test_person_not_on_roster_is_not_available() -> None:
    assert not handover_roster().is_available("ghost", at(2025, 1, 1))


# -- command-center rotation ------------------------------------------------------------------


def operators_roster(absences: tuple[Absence, ...] = ()) -> Roster:
    """Twelve operators O01..O12 holding the command-center seat since 2024."""
    persons = [Person(f"O{i:02d}", f"值班员{i}") for i in range(1, 13)]
    seats = [Assignment(p.person_id, COMMAND_CENTER, Role.PRIMARY, at(2024, 1, 1)) for p in persons]
    return Roster(persons, [], seats, absences)


def crew_ids(roster: Roster, when: datetime) -> list[str]:
    return [p.person_id for p in roster.on_duty(when)]


def test_first_shift_of_epoch_is_worked_by_crew_zero() -> None:
    # Shift 0 starts 2000-01-01 00:00 Beijing; crew 0 is every fourth operator in id order.
    persons = [Person(f"O{i:02d}", f"值班员{i}") for i in range(1, 13)]
    seats = [Assignment(p.person_id, COMMAND_CENTER, Role.PRIMARY, at(1999, 1, 1)) for p in persons]
    roster = Roster(persons, [], seats)
    assert crew_ids(roster, at(2000, 1, 1, 0, 0)) == ["O01", "O05", "O09"]
    assert crew_ids(roster, at(2000, 1, 1, 8, 0)) == ["O02", "O06", "O10"]
    assert crew_ids(roster, at(2000, 1, 1, 16, 0)) == ["O03", "O07", "O11"]
    assert crew_ids(roster, at(2000, 1, 2, 0, 0)) == ["O04", "O08", "O12"]
    assert crew_ids(roster, at(2000, 1, 2, 8, 0)) == ["O01", "O05", "O09"]  # shift 4: crew 0 again


def test_twelve_operators_form_four_crews_of_three_in_turn() -> None:
    roster = operators_roster()
    shifts = [at(2026, 5, 1) + timedelta(hours=8 * k) for k in range(8)]
    crews = [crew_ids(roster, s) for s in shifts]
    assert all(len(crew) == 3 for crew in crews)
    for k in range(7):
        assert not set(crews[k]) & set(crews[k + 1]), f"shifts {k} and {k + 1} share operators"
    for k in range(4):
        assert crews[k] == crews[k + 4]
    assert sorted(pid for crew in crews[:4] for pid in crew) == [f"O{i:02d}" for i in range(1, 13)]


def test_shift_boundaries_are_midnight_eight_and_sixteen_beijing() -> None:
    roster = operators_roster()
    assert crew_ids(roster, at(2026, 5, 1, 7, 59)) == crew_ids(roster, at(2026, 5, 1, 0, 0))
    assert crew_ids(roster, at(2026, 5, 1, 8, 0)) != crew_ids(roster, at(2026, 5, 1, 7, 59))
    assert crew_ids(roster, at(2026, 5, 1, 15, 59)) == crew_ids(roster, at(2026, 5, 1, 8, 0))
    assert crew_ids(roster, at(2026, 5, 1, 16, 0)) != crew_ids(roster, at(2026, 5, 1, 15, 59))
    # The same moment written in UTC gets the same crew.
    assert crew_ids(roster, datetime(2026, 5, 1, 0, 0, tzinfo=UTC)) == crew_ids(
        roster, at(2026, 5, 1, 8, 0)
    )


def test_absent_operator_is_left_out_of_the_crew() -> None:
    when = at(2026, 5, 1, 9, 0)
    crew = crew_ids(operators_roster(), when)
    away = Absence(crew[1], at(2026, 5, 1), at(2026, 5, 2), "病假")
    assert crew_ids(operators_roster((away,)), when) == [crew[0], crew[2]]
    # The absence does not move anyone into another crew.
    later = when + timedelta(days=2)
    assert crew_ids(operators_roster((away,)), later) == crew_ids(operators_roster(), later)


def test_an_absence_or_a_seat_ending_mid_shift_changes_the_crew_from_that_moment() -> None:
    # one roster asked again and again through a shift (as the simulator does): the crew
    # follows an absence that starts, and a seat that ends, between two questions
    shift = at(2026, 5, 1, 8, 0)
    crew = crew_ids(operators_roster(), shift)
    away = Absence(crew[1], at(2026, 5, 1, 10, 0), at(2026, 5, 1, 12, 0), "外出")
    persons = [Person(f"O{i:02d}", f"值班员{i}") for i in range(1, 13)]
    seats = [
        Assignment(
            p.person_id,
            COMMAND_CENTER,
            Role.PRIMARY,
            at(2024, 1, 1),
            at(2026, 5, 1, 14, 0) if p.person_id == crew[2] else None,
        )
        for p in persons
    ]
    roster = Roster(persons, [], seats, (away,))
    asked = [shift + timedelta(minutes=m) for m in (0, 119, 120, 121, 239, 240, 359, 360, 420)]
    got = [crew_ids(roster, when) for when in asked]
    assert got[:2] == [crew, crew]
    assert got[2:5] == [[crew[0], crew[2]]] * 3  # away from 10:00, back at 12:00
    assert got[5:7] == [crew, crew]
    assert crew[2] not in got[7]  # 14:00: the seat of crew[2] ended, the crews are split anew
    assert got[8] == got[7]
    assert crew_ids(roster, asked[0]) == crew  # asked again: as before


def test_nobody_on_duty_without_operators() -> None:
    assert handover_roster().on_duty(at(2026, 5, 1)) == []


# -- units ------------------------------------------------------------------------------------


def units_roster() -> Roster:
    units = [
        Unit("cgj", "城市管理局", UnitKind.DEPARTMENT),
        Unit("city-team-2", "综合行政执法二大队", UnitKind.CITY_TEAM, ("320281003",)),
        Unit("city-team-1", "综合行政执法一大队", UnitKind.CITY_TEAM, ("320281001", "320281002")),
        Unit("town-team-320281001", "澄江街道综合行政执法局", UnitKind.TOWN_TEAM, ("320281001",)),
    ]
    return Roster([], units, [])


def test_unit_for_picks_the_team_covering_the_town() -> None:
    roster = units_roster()
    assert roster.unit_for(UnitKind.CITY_TEAM, "320281003").unit_id == "city-team-2"
    assert roster.unit_for(UnitKind.CITY_TEAM, "320281002").unit_id == "city-team-1"
    assert roster.unit_for(UnitKind.TOWN_TEAM, "320281001").unit_id == "town-team-320281001"


def test_unit_for_town_no_team_covers_is_none() -> None:
    roster = units_roster()
    assert roster.unit_for(UnitKind.TOWN_TEAM, "320281002") is None
    assert roster.unit_for(UnitKind.CITY_TEAM, "320281009") is None


def test_department_without_towns_acts_everywhere() -> None:
    assert units_roster().unit_for(UnitKind.DEPARTMENT, "320281017").unit_id == "cgj"


# -- posts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("320281001", PostKind.TOWN_LEADER),
        ("320281001002", PostKind.GRID_HEAD),
        ("320281001002003", PostKind.GRID_WORKER),
    ],
)
def test_field_post_kind_follows_the_tier_of_the_cell(code: str, kind: PostKind) -> None:
    post = field_post(code)
    assert (post.kind, post.place, post.kind.tier) == (kind, code, len(code) // 3 - 2)


def test_field_post_of_malformed_code_is_refused() -> None:
    with pytest.raises(CellError, match="3202810012"):
        field_post("3202810012")


def test_posts_are_equal_by_kind_and_place() -> None:
    assert Post(PostKind.GRID_HEAD, "320281001002") == field_post("320281001002")
    assert Post(PostKind.GRID_HEAD, "320281001002") != Post(PostKind.TOWN_LEADER, "320281001002")
    assert str(COMMAND_CENTER) == "operator:"


# -- conflicts --------------------------------------------------------------------------------


def assert_one_problem_on_row(problems: list[RowProblem], row: int, text: str) -> None:
    assert len(problems) == 1, problems
    (problem,) = problems
    assert (problem.source, problem.row) == ("assignments.csv", row)
    assert text in problem.message


def test_primary_and_deputy_of_same_post_is_a_conflict() -> None:
    problems = problems_of("""
        person_id,post,place,role,valid_from,valid_to
        w1,grid_worker,320281001001001,primary,2024-01-01,
        w1,grid_worker,320281001001001,deputy,2024-06-01,
    """)
    assert_one_problem_on_row(problems, 3, "primary and deputy of the same post")
    assert "w1" in problems[0].message


def test_worker_and_primary_head_of_the_parent_cell_is_a_conflict() -> None:
    problems = problems_of("""
        person_id,post,place,role,valid_from,valid_to
        w1,grid_worker,320281001001001,primary,2024-01-01,
        w1,grid_head,320281001001,primary,2024-06-01,
    """)
    assert_one_problem_on_row(problems, 3, "escalates")
    assert "grid_head:320281001001" in problems[0].message


def test_worker_and_head_of_another_community_is_not_a_conflict() -> None:
    roster = roster_from_csv(
        persons=PERSONS,
        assignments="""
            person_id,post,place,role,valid_from
            w1,grid_worker,320281001001001,primary,2024-01-01
            w1,grid_head,320281001002,primary,2024-06-01
        """,
    )
    assert find_conflicts(roster) == []


def test_field_posts_in_two_towns_at_once_is_a_conflict() -> None:
    problems = problems_of("""
        person_id,post,place,role,valid_from,valid_to
        w1,grid_worker,320281001001001,primary,2024-01-01,
        w1,grid_worker,320281002001001,deputy,2024-01-01,
    """)
    assert_one_problem_on_row(problems, 3, "two towns")


def test_operator_holding_a_field_post_is_a_conflict() -> None:
    problems = problems_of("""
        person_id,post,place,role,valid_from,valid_to
        o1,operator,,primary,2024-01-01,
        o1,grid_worker,320281001001001,deputy,2025-01-01,
    """)
    assert_one_problem_on_row(problems, 3, "operator")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("w1,grid_worker,320281001001001,primary", "w1,grid_worker,320281001001001,deputy"),
        ("w1,grid_worker,320281001001001,primary", "w1,grid_head,320281001001,primary"),
        ("w1,grid_worker,320281001001001,primary", "w1,grid_worker,320281002001001,primary"),
        ("w1,operator,,primary", "w1,grid_worker,320281001001001,primary"),
    ],
    ids=["primary-then-deputy", "worker-then-head", "two-towns", "operator-then-worker"],
)
def test_posts_held_one_after_the_other_do_not_conflict(first: str, second: str) -> None:
    roster = roster_from_csv(
        persons=PERSONS,
        assignments=f"""
            person_id,post,place,role,valid_from,valid_to
            {first},2024-01-01,2025-01-01
            {second},2025-01-01,
        """,
    )
    assert find_conflicts(roster) == []
    assert len(roster.assignments) == 2


def test_find_conflicts_reports_the_later_row() -> None:
    persons = [Person("w1", "王一", capacity=2)]
    later = Assignment("w1", WORKER_POST, Role.DEPUTY, at(2025, 1, 1), row=7)
    earlier = Assignment("w1", WORKER_POST, Role.PRIMARY, at(2024, 1, 1), row=9)
    conflicts = find_conflicts(Roster(persons, [], [later, earlier]))
    assert [row for _, row in conflicts] == [7]


# -- parse refusals ---------------------------------------------------------------------------

ONE_ASSIGNMENT = """
    person_id,post,place,role,valid_from,valid_to
    w1,grid_worker,320281001001001,primary,2024-01-01,
"""


def only_problem(problems: list[RowProblem]) -> RowProblem:
    assert len(problems) == 1, problems
    return problems[0]


def test_duplicate_person_id_is_refused_naming_both_rows() -> None:
    persons = """
        person_id,name
        w1,王一
        w1,王一一
    """
    problem = only_problem(problems_of(ONE_ASSIGNMENT, persons=persons))
    assert (problem.source, problem.row, problem.field) == ("persons.csv", 3, "person_id")
    assert "w1" in problem.message
    assert "row 2" in problem.message


def test_assignment_of_unknown_person_is_refused() -> None:
    problem = only_problem(
        problems_of("""
            person_id,post,place,role,valid_from
            ghost,grid_worker,320281001001001,primary,2024-01-01
        """)
    )
    assert (problem.source, problem.row, problem.field) == ("assignments.csv", 2, "person_id")
    assert "'ghost'" in problem.message


def test_unknown_unit_is_refused_in_persons_and_in_unit_leader_posts() -> None:
    persons = """
        person_id,name,unit
        w1,王一,nowhere
    """
    problems = problems_of(
        """
            person_id,post,place,role,valid_from
            w1,unit_leader,nothing,primary,2024-01-01
        """,
        persons=persons,
    )
    assert len(problems) == 2
    where = {(p.source, p.row, p.field) for p in problems}
    assert where == {("persons.csv", 2, "unit"), ("assignments.csv", 2, "place")}
    text = " ".join(p.message for p in problems)
    assert "'nowhere'" in text
    assert "'nothing'" in text


def test_unknown_post_kind_is_refused_listing_the_kinds() -> None:
    problem = only_problem(
        problems_of("""
            person_id,post,place,role,valid_from
            w1,grid_boss,320281001001001,primary,2024-01-01
        """)
    )
    assert (problem.source, problem.row, problem.field) == ("assignments.csv", 2, "post")
    assert "grid_boss" in problem.message
    assert "grid_worker" in problem.message


def test_place_of_the_wrong_tier_is_refused() -> None:
    problem = only_problem(
        problems_of("""
            person_id,post,place,role,valid_from
            w1,grid_worker,320281001001,primary,2024-01-01
        """)
    )
    assert (problem.row, problem.field) == (2, "place")
    assert "tier-3" in problem.message
    assert "320281001001" in problem.message


def test_cell_the_grid_lacks_is_refused_when_cells_are_given(tiny: Grid) -> None:
    cells = {code: tier for tier in (1, 2, 3) for code in tiny.codes(tier)}
    problem = only_problem(
        problems_of(
            """
                person_id,post,place,role,valid_from
                w1,grid_worker,320281001001001,primary,2024-01-01
                w1,grid_worker,320281001001009,primary,2024-01-01
            """,
            cells=cells,
        )
    )
    assert (problem.source, problem.row, problem.field) == ("assignments.csv", 3, "place")
    assert "320281001001009" in problem.message


def test_end_before_start_is_refused() -> None:
    problem = only_problem(
        problems_of("""
            person_id,post,place,role,valid_from,valid_to
            w1,grid_worker,320281001001001,primary,2025-01-01,2024-12-31
        """)
    )
    assert (problem.row, problem.field) == (2, "valid_to")
    assert "2024-12-31" in problem.message


def test_end_equal_to_start_is_refused() -> None:
    problem = only_problem(
        problems_of("""
            person_id,post,place,role,valid_from,valid_to
            w1,grid_worker,320281001001001,primary,2025-01-01,2025-01-01
        """)
    )
    assert (problem.row, problem.field) == (2, "valid_to")


def test_unreadable_date_is_refused_quoting_it() -> None:
    problem = only_problem(
        problems_of("""
            person_id,post,place,role,valid_from
            w1,grid_worker,320281001001001,primary,next monday
        """)
    )
    assert (problem.row, problem.field) == (2, "valid_from")
    assert "'next monday'" in problem.message


def test_two_primaries_of_one_post_at_once_are_refused() -> None:
    problem = only_problem(
        problems_of("""
            person_id,post,place,role,valid_from,valid_to
            w1,grid_worker,320281001001001,primary,2024-01-01,2025-03-02
            w2,grid_worker,320281001001001,primary,2025-03-01,
        """)
    )
    assert (problem.source, problem.row) == ("assignments.csv", 3)
    assert "two primary holders" in problem.message
    assert "w1" in problem.message
    assert "w2" in problem.message


def test_every_overlapping_pair_of_primaries_is_reported() -> None:
    persons = PERSONS + "    w3,王三,,,1\n"
    problems = problems_of(
        """
            person_id,post,place,role,valid_from,valid_to
            w1,grid_worker,320281001001001,primary,2024-01-01,
            w2,grid_worker,320281001001001,primary,2024-02-01,2024-03-01
            w3,grid_worker,320281001001001,primary,2024-04-01,
        """,
        persons=persons,
    )
    # w1 overlaps w2 (row 3) and w3 (row 4); w2 and w3 do not overlap.
    assert sorted(p.row for p in problems) == [3, 4]


def test_absence_without_end_is_refused() -> None:
    problem = only_problem(
        problems_of(
            ONE_ASSIGNMENT,
            absences="""
                person_id,start,end,reason
                w1,2025-05-01,,培训
            """,
        )
    )
    assert (problem.source, problem.row, problem.field) == ("absences.csv", 2, "end")


def test_team_without_towns_is_refused() -> None:
    units = """
        unit_id,name,kind,towns
        cgj,城市管理局,department,
        city-team-1,综合行政执法一大队,city_team,
    """
    problem = only_problem(problems_of(ONE_ASSIGNMENT, units=units))
    assert (problem.source, problem.row, problem.field) == ("units.csv", 3, "towns")
    assert "city_team" in problem.message


def test_team_covering_a_town_the_grid_lacks_is_refused_when_cells_are_given(tiny: Grid) -> None:
    units = """
        unit_id,name,kind,towns
        city-team-1,综合行政执法一大队,city_team,320281001;320281002
    """
    cells = {code: tier for tier in (1, 2, 3) for code in tiny.codes(tier)}
    problem = only_problem(problems_of(ONE_ASSIGNMENT, units=units, cells=cells))
    assert (problem.source, problem.row, problem.field) == ("units.csv", 2, "towns")
    assert "320281002" in problem.message


def test_every_problem_of_every_file_is_reported_at_once() -> None:
    persons = """
        person_id,name,capacity
        w1,王一,2
        w1,王一一,1
        w2,王二,0
    """
    units = """
        unit_id,name,kind,towns
        cgj,城市管理局,ministry,
    """
    assignments = """
        person_id,post,place,role,valid_from,valid_to
        ghost,grid_worker,320281001001001,primary,2024-01-01,
        w1,grid_head,320281001001001,primary,2024-01-01,
        w2,grid_worker,320281001001002,boss,2024-01-01,
    """
    absences = """
        person_id,start,end
        w2,2025-01-01,2024-01-01
    """
    with pytest.raises(RosterError) as info:
        roster_from_csv(persons=persons, assignments=assignments, units=units, absences=absences)
    where = sorted((p.source, p.row, p.field) for p in info.value.problems)
    assert where == [
        ("absences.csv", 2, "end"),
        ("assignments.csv", 2, "person_id"),
        ("assignments.csv", 3, "place"),
        ("assignments.csv", 4, "role"),
        ("persons.csv", 3, "person_id"),
        ("persons.csv", 4, "capacity"),
        ("units.csv", 2, "kind"),
    ]
    assert "7 problem(s)" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_problem_reads_as_file_row_and_column() -> None:
    problem = RowProblem("assignments.csv", 4, "place", "bad place")
    assert str(problem) == "assignments.csv row 4 [place]: bad place"
