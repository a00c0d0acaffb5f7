"""Tests for gridmgr.responsibility.staffing: what a roster lacks for a grid at a given time."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from gridmgr.grid.model import Grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import (
    COMMAND_CENTER,
    Assignment,
    Person,
    Post,
    PostKind,
    Role,
    Roster,
    field_post,
)
from gridmgr.responsibility.staffing import KINDS, Finding, staffing_report
from tests.builders import roster_from_csv, tiny_roster

AT = datetime(2026, 5, 1, tzinfo=TZ)
POST = field_post("320281001002003")
"""A worker post of the tiny grid; its demo owner is also the deputy of 320281001002004."""


def changed(
    roster: Roster,
    *,
    drop: Callable[[Assignment], bool] = lambda a: False,
    add: Iterable[Assignment] = (),
    persons: Iterable[Person] = (),
) -> Roster:
    """A copy of ``roster`` without the assignments ``drop`` selects, plus ``add``."""
    people = {**roster.persons, **{p.person_id: p for p in persons}}
    kept = [a for a in roster.assignments if not drop(a)]
    return Roster(people.values(), roster.units.values(), [*kept, *add], roster.absences)


def primary_of(roster: Roster, post: Post) -> Assignment:
    (assignment,) = roster.holders(post, AT)
    return assignment


def test_demo_roster_of_tiny_grid_lacks_nothing(tiny: Grid) -> None:
    report = staffing_report(tiny, tiny_roster(), AT)
    assert report.findings == ()
    assert report.owned_cells == {1: (1, 1), 2: (4, 4), 3: (16, 16)}
    assert report.at == AT
    frame = report.to_frame()
    assert list(frame.columns) == ["kind", "subject", "tier", "since", "message"]
    assert frame.empty


def test_removed_worker_leaves_exactly_one_vacancy(tiny: Grid) -> None:
    roster = tiny_roster()
    gone = primary_of(roster, POST)
    report = staffing_report(tiny, changed(roster, drop=lambda a: a == gone), AT)
    (finding,) = report.findings
    assert (finding.kind, finding.subject, finding.tier) == ("vacancy", str(POST), 3)
    assert finding.since is None
    assert "never held" in finding.message
    assert "网格员" in finding.message
    assert report.owned_cells == {1: (1, 1), 2: (4, 4), 3: (15, 16)}


def test_vacancy_after_a_leaver_says_since_when_and_who_left(tiny: Grid) -> None:
    roster = tiny_roster()
    gone = primary_of(roster, POST)
    left = datetime(2026, 3, 15, 17, 30, tzinfo=TZ)
    ended = dataclasses.replace(gone, valid_to=left)
    report = staffing_report(tiny, changed(roster, drop=lambda a: a == gone, add=[ended]), AT)
    (vacancy,) = report.of_kind("vacancy")
    assert vacancy.since == left
    assert "2026-03-15 17:30" in vacancy.message
    assert roster.persons[gone.person_id].name in vacancy.message
    (expired,) = report.of_kind("expired")
    assert (expired.subject, expired.since) == (str(POST), left)
    assert [f.kind for f in report.findings] == ["vacancy", "expired"]


def test_post_held_until_later_is_not_vacant_yet(tiny: Grid) -> None:
    roster = tiny_roster()
    gone = primary_of(roster, POST)
    ended = dataclasses.replace(gone, valid_to=AT + timedelta(seconds=1))
    report = staffing_report(tiny, changed(roster, drop=lambda a: a == gone, add=[ended]), AT)
    assert report.of_kind("vacancy") == []
    assert report.owned_cells[3] == (16, 16)


def test_post_without_deputy_is_reported_with_its_holder(tiny: Grid) -> None:
    roster = tiny_roster()
    head = field_post("320281001003")
    (deputy,) = roster.holders(head, AT, role=Role.DEPUTY)
    report = staffing_report(tiny, changed(roster, drop=lambda a: a == deputy), AT)
    (finding,) = report.findings
    assert (finding.kind, finding.subject, finding.tier) == ("no_deputy", str(head), 2)
    assert roster.owner(head, AT).person_id in finding.message
    assert report.owned_cells[2] == (4, 4)


def test_person_holding_more_primaries_than_capacity_is_overloaded(tiny: Grid) -> None:
    roster = tiny_roster()
    worker = roster.owner(POST, AT)
    cgj = Post(PostKind.UNIT_LEADER, "cgj")
    leader = primary_of(roster, cgj)
    report = staffing_report(
        tiny,
        changed(
            roster,
            drop=lambda a: a == leader,
            add=[dataclasses.replace(leader, person_id=worker.person_id)],
            persons=[dataclasses.replace(worker, capacity=1)],
        ),
        AT,
    )
    (finding,) = report.findings
    assert (finding.kind, finding.subject, finding.tier) == ("overloaded", worker.person_id, None)
    assert "2 primary posts; capacity 1" in finding.message


def test_demo_worker_at_capacity_is_not_overloaded(tiny: Grid) -> None:
    roster = tiny_roster()
    worker = roster.owner(POST, AT)
    extra = Assignment(worker.person_id, Post(PostKind.UNIT_LEADER, "cgj"), Role.PRIMARY, AT)
    cgj_leader = primary_of(roster, Post(PostKind.UNIT_LEADER, "cgj"))
    report = staffing_report(tiny, changed(roster, drop=lambda a: a == cgj_leader, add=[extra]), AT)
    assert worker.capacity == 2
    assert report.findings == ()


def test_assignment_ending_within_thirty_days_without_successor_is_expiring(tiny: Grid) -> None:
    roster = tiny_roster()
    gone = primary_of(roster, POST)
    ends = AT + timedelta(days=20)
    ending = dataclasses.replace(gone, valid_to=ends)
    report = staffing_report(tiny, changed(roster, drop=lambda a: a == gone, add=[ending]), AT)
    (finding,) = report.findings
    assert (finding.kind, finding.subject, finding.tier, finding.since) == (
        "expiring",
        str(POST),
        3,
        ends,
    )
    assert gone.person_id in finding.message


def test_assignment_ending_after_the_horizon_is_not_yet_expiring(tiny: Grid) -> None:
    roster = tiny_roster()
    gone = primary_of(roster, POST)
    ending = dataclasses.replace(gone, valid_to=AT + timedelta(days=31))
    roster = changed(roster, drop=lambda a: a == gone, add=[ending])
    assert staffing_report(tiny, roster, AT).findings == ()
    later = staffing_report(tiny, roster, AT, horizon=timedelta(days=40))
    assert [f.kind for f in later.findings] == ["expiring"]


def test_ending_assignment_with_a_successor_is_not_expiring(tiny: Grid) -> None:
    roster = tiny_roster()
    gone = primary_of(roster, POST)
    ends = AT + timedelta(days=20)
    newcomer = Person("N00001", "新人", capacity=2)
    report = staffing_report(
        tiny,
        changed(
            roster,
            drop=lambda a: a == gone,
            add=[
                dataclasses.replace(gone, valid_to=ends),
                Assignment(newcomer.person_id, POST, Role.PRIMARY, ends),
            ],
            persons=[newcomer],
        ),
        AT,
    )
    assert report.findings == ()


def test_before_2024_every_post_is_vacant_and_never_held(tiny: Grid) -> None:
    roster = tiny_roster()
    report = staffing_report(tiny, roster, datetime(2023, 12, 31, 23, 59, tzinfo=TZ))
    assert report.owned_cells == {1: (0, 1), 2: (0, 4), 3: (0, 16)}
    assert {f.kind for f in report.findings} == {"vacancy"}
    # 21 cells, the command-center seat and a leader for each of the 18 units.
    assert len(report.findings) == 21 + 1 + len(roster.units)
    assert all(f.since is None and "never held" in f.message for f in report.findings)
    assert str(COMMAND_CENTER) in {f.subject for f in report.findings}


def test_conflict_in_an_unchecked_roster_is_a_finding(tiny: Grid) -> None:
    roster = tiny_roster()
    worker = roster.owner(POST, AT)
    clash = Assignment(worker.person_id, COMMAND_CENTER, Role.PRIMARY, AT)
    report = staffing_report(tiny, changed(roster, add=[clash]), AT)
    # The worker holds two field posts (primary here, deputy next door): two conflicts.
    assert [(f.kind, f.subject) for f in report.findings] == [("conflict", worker.person_id)] * 2
    assert all("operator" in f.message for f in report.findings)
    named = {
        post
        for post in (str(POST), "grid_worker:320281001002004")
        for f in report.findings
        if post in f.message
    }
    assert named == {str(POST), "grid_worker:320281001002004"}


def test_findings_come_most_urgent_first_and_fill_the_frame(tiny: Grid) -> None:
    roster = tiny_roster()
    gone = primary_of(roster, POST)
    (deputy,) = roster.holders(field_post("320281001003"), AT, role=Role.DEPUTY)
    ending = dataclasses.replace(
        primary_of(roster, field_post("320281001004001")), valid_to=AT + timedelta(days=3)
    )
    report = staffing_report(
        tiny,
        changed(
            roster,
            drop=lambda a: a in (gone, deputy) or a == dataclasses.replace(ending, valid_to=None),
            add=[ending],
        ),
        AT,
    )
    kinds = [f.kind for f in report.findings]
    assert kinds == ["vacancy", "no_deputy", "expiring"]
    assert kinds == sorted(kinds, key=KINDS.index)
    frame = report.to_frame()
    assert list(frame["kind"]) == kinds
    assert list(frame["tier"]) == [3, 2, 3]


REFILLED = """
    person_id,post,place,role,valid_from,valid_to
    w1,grid_worker,320281001001001,primary,2024-01-01,2024-06-01
    w2,grid_worker,320281001001001,primary,2024-09-01,{w2_end}
"""
TWO_WORKERS = """
    person_id,name
    w1,王一
    w2,王二
"""


def refilled_post_findings(tiny: Grid, w2_end: str) -> list[Finding]:
    """Findings about a worker post held by w1 until June 2024, then by w2 from September."""
    roster = roster_from_csv(persons=TWO_WORKERS, assignments=REFILLED.format(w2_end=w2_end))
    report = staffing_report(tiny, roster, AT)
    return [f for f in report.findings if f.subject == "grid_worker:320281001001001"]


def test_expiry_followed_by_a_gap_and_a_successor_is_not_expired_now(tiny: Grid) -> None:
    # Only the missing deputy is left to report: the gap of 2024 is over.
    assert [f.kind for f in refilled_post_findings(tiny, "")] == ["no_deputy"]


def test_only_the_expiry_that_left_the_post_empty_is_reported(tiny: Grid) -> None:
    expired = [f for f in refilled_post_findings(tiny, "2026-03-15") if f.kind == "expired"]
    assert [f.since for f in expired] == [datetime(2026, 3, 15, tzinfo=TZ)]


def test_vacancy_message_gives_the_leaving_time_in_beijing(tiny: Grid) -> None:
    findings = refilled_post_findings(tiny, "2026-03-15T09:30+00:00")
    (vacancy,) = [f for f in findings if f.kind == "vacancy"]
    assert vacancy.since == datetime(2026, 3, 15, 17, 30, tzinfo=TZ)
    assert "2026-03-15 17:30" in vacancy.message
