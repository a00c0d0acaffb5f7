"""Tests for gridmgr.responsibility.demo_roster: the synthetic, deterministic staff of a grid."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmgr.grid.model import Grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.demo_roster import CITY_TEAMS, OPERATORS, generate_roster
from gridmgr.responsibility.roster import (
    COMMAND_CENTER,
    PostKind,
    Role,
    Roster,
    UnitKind,
    field_post,
    find_conflicts,
)
from gridmgr.responsibility.roster_files import read_roster, write_roster
from gridmgr.responsibility.staffing import staffing_report
from tests.builders import tiny_roster

AT = datetime(2026, 5, 1, tzinfo=TZ)


@pytest.fixture(scope="module")
def demo(jiangyin: Grid) -> Roster:
    """The demo roster of the shipped grid (seed 2026)."""
    return generate_roster(jiangyin)


def worker_handovers(roster: Roster, grid: Grid) -> list[str]:
    """The tier-3 cells whose worker post changed hands."""
    return [code for code in grid.codes(3) if len(roster.history(field_post(code))) > 1]


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_the_same_roster(tiny: Grid) -> None:
    a, b = generate_roster(tiny, seed=7), generate_roster(tiny, seed=7)
    assert a.assignments == b.assignments
    assert a.persons == b.persons
    assert a.units == b.units


def test_different_seed_gives_different_names(tiny: Grid) -> None:
    a, b = generate_roster(tiny, seed=7), generate_roster(tiny, seed=8)
    names_a = [p.name for p in sorted(a.persons.values(), key=lambda p: p.person_id)]
    names_b = [p.name for p in sorted(b.persons.values(), key=lambda p: p.person_id)]
    assert names_a != names_b


# -- the tiny grid, by hand -------------------------------------------------------------------


def test_tiny_deputies_are_the_neighbour_sharing_the_longest_border() -> None:
    # Sub-squares 1..4 in reading order (NW, NE, SW, SE), 1/8 degree a side. At latitude ~32
    # a side running north-south (~13.9 km) is longer than one running east-west (~11.8 km),
    # so each square's deputy is its east or west neighbour: 1 <-> 2 and 3 <-> 4.
    roster = tiny_roster()

    def deputy_cell(code: str) -> str:
        deputy = roster.deputy(field_post(code), AT)
        (held,) = [a for a in roster.posts_of(deputy.person_id, AT) if a.role is Role.PRIMARY]
        return held.post.place

    q = "320281001002"
    assert [deputy_cell(f"{q}00{k}")[-3:] for k in (1, 2, 3, 4)] == ["002", "001", "004", "003"]
    town = "320281001"
    assert [deputy_cell(f"{town}00{k}")[-3:] for k in (1, 2, 3, 4)] == ["002", "001", "004", "003"]


def test_tiny_town_leader_has_a_dedicated_deputy() -> None:
    roster = tiny_roster()
    leader = field_post("320281001")
    deputy = roster.deputy(leader, AT)
    assert deputy is not None
    assert deputy != roster.owner(leader, AT)
    assert [a.post for a in roster.posts_of(deputy.person_id, AT)] == [leader]


def test_tiny_roster_has_operators_units_and_their_leaders() -> None:
    roster = tiny_roster()
    assert len(roster.holders(COMMAND_CENTER, AT)) == OPERATORS
    assert len(roster.on_duty(AT)) == OPERATORS // 4
    for unit in roster.units.values():
        leader = roster.owner(next(p for p in roster.posts if p.place == unit.unit_id), AT)
        assert leader is not None
        assert leader.unit_id == unit.unit_id


# -- the shipped grid -------------------------------------------------------------------------


def test_every_cell_of_jiangyin_has_a_primary_and_a_deputy(jiangyin: Grid, demo: Roster) -> None:
    for tier in (1, 2, 3):
        for code in jiangyin.codes(tier):
            post = field_post(code)
            assert demo.owner(post, AT) is not None, post
            assert demo.deputy(post, AT) is not None, post
    report = staffing_report(jiangyin, demo, AT)
    assert report.findings == ()
    assert report.owned_cells == {1: (17, 17), 2: (271, 271), 3: (1557, 1557)}


def test_nobody_on_the_jiangyin_roster_is_over_capacity(demo: Roster) -> None:
    for when in (datetime(2024, 1, 1, tzinfo=TZ), AT):
        for person in demo.persons.values():
            held = [a for a in demo.posts_of(person.person_id, when) if a.role is Role.PRIMARY]
            assert len(held) <= person.capacity, person


def test_jiangyin_roster_has_no_conflicts_and_passes_the_file_checks(
    jiangyin: Grid, demo: Roster, tmp_path: Path
) -> None:
    assert find_conflicts(demo) == []
    write_roster(demo, tmp_path)
    cells = {code: tier for tier in (1, 2, 3) for code in jiangyin.codes(tier)}
    assert read_roster(tmp_path, cells=cells).assignments == demo.assignments


def test_deputies_work_in_the_same_parent_cell(jiangyin: Grid, demo: Roster) -> None:
    for tier in (3, 2):
        for code in jiangyin.codes(tier):
            deputy = demo.deputy(field_post(code), AT)
            (held,) = [a for a in demo.posts_of(deputy.person_id, AT) if a.role is Role.PRIMARY]
            assert held.post.kind is PostKind.for_tier(tier)
            assert held.post.place != code
            assert jiangyin.cell_to_parent(held.post.place) == jiangyin.cell_to_parent(code)


def test_every_town_has_one_city_team_and_one_town_team(jiangyin: Grid, demo: Roster) -> None:
    assert len(demo.units_of(UnitKind.CITY_TEAM)) == CITY_TEAMS
    for town in jiangyin.codes(1):
        for kind in (UnitKind.CITY_TEAM, UnitKind.TOWN_TEAM):
            covering = [u for u in demo.units_of(kind) if town in u.towns]
            assert len(covering) == 1, (town, kind)
        assert demo.unit_for(UnitKind.TOWN_TEAM, town).unit_id == f"town-team-{town}"


def test_about_one_worker_post_in_twelve_changed_hands(jiangyin: Grid, demo: Roster) -> None:
    handed = worker_handovers(demo, jiangyin)
    share = len(handed) / len(jiangyin.codes(3))
    assert 0.05 <= share <= 0.12
    for code in handed:
        first, second = demo.history(field_post(code))
        assert first.valid_to == second.valid_from
        assert (
            datetime(2024, 6, 1, tzinfo=TZ) <= second.valid_from < datetime(2026, 6, 1, tzinfo=TZ)
        )


def test_owner_before_and_after_a_handover_differ(jiangyin: Grid, demo: Roster) -> None:
    code = worker_handovers(demo, jiangyin)[0]
    post = field_post(code)
    day = demo.history(post)[1].valid_from
    before = demo.owner(post, day - timedelta(seconds=1))
    after = demo.owner(post, day)
    assert before is not None
    assert after is not None
    assert before != after
    # The neighbours this worker deputised for get the successor as deputy too.
    covered = [
        a.post
        for a in demo.assignments_of(before.person_id)
        if a.role is Role.DEPUTY and a.valid_to == day
    ]
    for other in covered:
        assert demo.deputy(other, day) == after


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_owner_chain_follows_the_tier_ancestry(
    jiangyin: Grid, demo: Roster, data: st.DataObject
) -> None:
    code = data.draw(st.sampled_from(jiangyin.codes(3)), label="cell")
    when = data.draw(
        st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31, 23, 59), timezones=st.just(TZ)),
        label="when",
    )
    chain = [field_post(code)]
    while (parent := jiangyin.cell_to_parent(chain[-1].place)) is not None:
        chain.append(field_post(parent))
    assert [p.kind for p in chain] == [
        PostKind.GRID_WORKER,
        PostKind.GRID_HEAD,
        PostKind.TOWN_LEADER,
    ]
    assert all(lower.place.startswith(upper.place) for lower, upper in itertools.pairwise(chain))
    owners = [demo.owner(post, when) for post in chain]
    assert all(owner is not None for owner in owners)
    # The owners are three different people, each holding exactly that post as primary.
    assert len({o.person_id for o in owners}) == 3
    for owner, post in zip(owners, chain, strict=True):
        held = [a.post for a in demo.posts_of(owner.person_id, when) if a.role is Role.PRIMARY]
        assert held == [post]
    assert demo.on_duty(when)
