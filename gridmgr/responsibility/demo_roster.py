"""The demo roster: a deterministic, synthetic staff for a grid, covering every post since 2024.

Names and phone numbers are synthetic (Faker ``zh_CN``, seeded); nobody on it is a real person.
Each unit (department, city team, town team) has a leader and :data:`OFFICERS_PER_UNIT` members
who hold no post. Every field post has a primary holder and a deputy: a tier-3 or tier-2 cell's
deputy is the primary holder of its neighbour in the same parent (longest shared border first),
and each town leader has a dedicated deputy leader. About one worker post in twelve changed
hands between mid-2024 and mid-2026, so "who was responsible then" has real answers to find.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from faker import Faker

from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.catalog import DEPARTMENTS
from gridmgr.responsibility.roster import (
    CENTER_LEADER,
    CITY_LEADER,
    COMMAND_CENTER,
    Assignment,
    Person,
    Post,
    PostKind,
    Role,
    Roster,
    Unit,
    UnitKind,
    field_post,
)

if TYPE_CHECKING:
    import networkx as nx

    from gridmgr.grid.model import Grid


CITY_TEAMS = 7
"""The city's comprehensive enforcement teams (综合行政执法大队)."""

OPERATORS = 12
"""Command-center operators: four crews of three."""

OFFICERS_PER_UNIT = 2
"""Members of each unit besides its leader (officers, 单位成员): they sign for the unit's cases."""

ROSTER_START = datetime(2024, 1, 1, tzinfo=TZ)
HANDOVER_SHARE = 1 / 12
HANDOVER_WINDOW = (datetime(2024, 6, 1, tzinfo=TZ), datetime(2026, 6, 1, tzinfo=TZ))

_NUMERALS = "一二三四五六七八九十"


def generate_roster(grid: Grid, *, seed: int = 2026) -> Roster:
    """A complete demo roster for ``grid``; the same grid and seed give the same roster.

    >>> from gridmgr.testing import tiny_grid
    >>> roster = generate_roster(tiny_grid())
    >>> len(roster.persons) > 21, len(roster.units)
    (True, 18)
    """
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    people: list[Person] = []
    assignments: list[Assignment] = []

    def hire(capacity: int = 1, unit: str = "") -> Person:
        person = Person(f"P{len(people) + 1:05d}", fake.name(), fake.phone_number(), unit, capacity)
        people.append(person)
        return person

    towns = grid.codes(1)
    units = _units(grid, towns)
    timelines: dict[str, list[tuple[Person, datetime, datetime | None]]] = {}
    for tier in (3, 2, 1):
        for code in grid.codes(tier):
            end: datetime | None = None
            timeline = [(hire(capacity=2 if tier == 3 else 1), ROSTER_START, end)]
            if tier == 3 and rng.random() < HANDOVER_SHARE:
                lo, hi = HANDOVER_WINDOW
                day = lo + timedelta(days=rng.randrange((hi - lo).days))
                timeline = [(timeline[0][0], ROSTER_START, day), (hire(capacity=2), day, None)]
            timelines[code] = timeline
            for person, start, until in timeline:
                assignments.append(
                    Assignment(person.person_id, field_post(code), Role.PRIMARY, start, until)
                )
    for tier in (3, 2):
        graph = grid.grid_to_graph(tier)
        for code in grid.codes(tier):
            neighbour = _deputy_cell(grid, graph, code)
            if neighbour is None:
                continue
            for person, start, end in timelines[neighbour]:
                assignments.append(
                    Assignment(person.person_id, field_post(code), Role.DEPUTY, start, end)
                )
    for town in towns:
        deputy = hire()
        assignments.append(
            Assignment(
                deputy.person_id, Post(PostKind.TOWN_LEADER, town), Role.DEPUTY, ROSTER_START
            )
        )
    for _ in range(OPERATORS):
        assignments.append(Assignment(hire().person_id, COMMAND_CENTER, Role.PRIMARY, ROSTER_START))
    for unit in units:
        leader = hire(unit=unit.unit_id)
        assignments.append(
            Assignment(
                leader.person_id,
                Post(PostKind.UNIT_LEADER, unit.unit_id),
                Role.PRIMARY,
                ROSTER_START,
            )
        )
    for seat in (CENTER_LEADER, CITY_LEADER):  # the top of the 督办 ladder, and a deputy each
        for role in (Role.PRIMARY, Role.DEPUTY):
            assignments.append(Assignment(hire().person_id, seat, role, ROSTER_START))
    for unit in units:  # hired last, so the ids of everyone above stay as they were
        for _ in range(OFFICERS_PER_UNIT):
            hire(unit=unit.unit_id)
    return Roster(people, units, assignments, source=f"demo roster (seed {seed})")


def _units(grid: Grid, towns: Sequence[str]) -> list[Unit]:
    units = [Unit(uid, name, UnitKind.DEPARTMENT) for uid, name in DEPARTMENTS.items()]
    teams = min(CITY_TEAMS, len(towns))
    for i in range(teams):
        covered = tuple(towns[j] for j in range(len(towns)) if j * teams // len(towns) == i)
        label = _NUMERALS[i] if i < len(_NUMERALS) else str(i + 1)
        units.append(
            Unit(f"city-team-{i + 1}", f"综合行政执法{label}大队", UnitKind.CITY_TEAM, covered)
        )
    for town in towns:
        name = str(grid.cell(town)["name"])
        units.append(
            Unit(f"town-team-{town}", f"{name}综合行政执法局", UnitKind.TOWN_TEAM, (town,))
        )
    return units


def _deputy_cell(grid: Grid, graph: nx.Graph, code: str) -> str | None:
    """The neighbour in the same parent sharing the longest border (then the lowest code)."""
    parent = grid.cell_to_parent(code)
    candidates = [
        (-float(graph.edges[code, n]["border_m"]), n)
        for n in graph.neighbors(code)
        if grid.cell_to_parent(n) == parent
    ]
    return min(candidates)[1] if candidates else None


DEMO_PASSWORD = "gridmgr-demo"
"""The password of the demo logins (demo mode only; `serve --no-demo` creates none)."""


def demo_logins(roster: Roster, at: datetime) -> list[tuple[str, Person]]:
    """One person per role to log in as in demo mode: (role label, person), in a fixed order.

    >>> from gridmgr.testing import tiny_grid
    >>> logins = demo_logins(generate_roster(tiny_grid()), ROSTER_START)
    >>> [label.split(" ")[-1] for label, _ in logins][4:]
    ['单位负责人', '指挥中心主任', '执法队负责人', '单位成员']
    """
    wanted = (
        ("operator 值班员", PostKind.OPERATOR),
        ("town leader 镇街负责人", PostKind.TOWN_LEADER),
        ("grid head 网格长", PostKind.GRID_HEAD),
        ("grid worker 网格员", PostKind.GRID_WORKER),
        ("manager 单位负责人", PostKind.UNIT_LEADER),
        ("center leader 指挥中心主任", PostKind.CENTER_LEADER),
    )
    held = sorted(
        (a.post.kind.value, a.post.place, a.person_id)
        for a in roster.assignments
        if a.role is Role.PRIMARY and a.is_active(at)
    )
    out = []
    for label, kind in wanted:
        first = next((pid for k, _, pid in held if k == kind.value), None)
        if first is not None:
            out.append((label, roster.persons[first]))
    teams = sorted(
        (u for u in roster.units.values() if u.kind is UnitKind.TOWN_TEAM), key=lambda u: u.unit_id
    )
    team = teams[0] if teams else None
    leader = None if team is None else roster.owner(Post(PostKind.UNIT_LEADER, team.unit_id), at)
    if team is not None and leader is not None:  # a town team's leader, and a member of it
        out.append(("team leader 执法队负责人", leader))
        members = sorted(
            p.person_id
            for p in roster.persons.values()
            if p.unit_id == team.unit_id and p.person_id != leader.person_id
        )
        if members:
            out.append(("unit member 单位成员", roster.persons[members[0]]))
    return out
