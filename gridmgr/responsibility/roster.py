"""The roster: persons, units, the posts they hold over time, and absences.

A **post** is a role at a place: the grid worker of a tier-3 cell, the grid head of a tier-2 cell,
the leader of a tier-1 cell, the leader of a unit (department or enforcement team), or a seat of
the command center. An **assignment** puts a person on a post as its primary holder or its deputy
for a half-open period ``[valid_from, valid_to)``; assignments are never edited in place, so "who
was responsible at time T" is a query (:meth:`Roster.owner`), not a guess.

Parsing (:func:`parse_roster`) refuses a roster with structural problems and reports all of them
at once, each with its file and row; what a valid roster still lacks (vacancies, missing deputies,
overload) is reported by :mod:`gridmgr.responsibility.staffing`.
"""

from __future__ import annotations

import bisect
import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from gridmgr.errors import UnknownPersonError
from gridmgr.grid.codes import code_length, code_to_tier
from gridmgr.responsibility.calendar import TZ


class PostKind(enum.Enum):
    """The kinds of post; field posts belong to a cell of one tier."""

    GRID_WORKER = "grid_worker"
    GRID_HEAD = "grid_head"
    TOWN_LEADER = "town_leader"
    OPERATOR = "operator"
    UNIT_LEADER = "unit_leader"
    CENTER_LEADER = "center_leader"
    CITY_LEADER = "city_leader"

    @property
    def tier(self) -> int | None:
        """The tier of the cell a field post belongs to; ``None`` for other posts."""
        return {"grid_worker": 3, "grid_head": 2, "town_leader": 1}.get(self.value)

    @property
    def label_zh(self) -> str:
        """The post's Chinese title."""
        return {
            "grid_worker": "网格员",
            "grid_head": "网格长",
            "town_leader": "镇街负责人",
            "operator": "指挥中心值班员",
            "unit_leader": "单位负责人",
            "center_leader": "指挥中心主任",
            "city_leader": "分管市领导",
        }[self.value]

    @classmethod
    def for_tier(cls, tier: int) -> PostKind:
        """The field post of ``tier`` (3 → grid worker, 2 → grid head, 1 → town leader)."""
        return {3: cls.GRID_WORKER, 2: cls.GRID_HEAD, 1: cls.TOWN_LEADER}[tier]


FIELD_POSTS = (PostKind.GRID_WORKER, PostKind.GRID_HEAD, PostKind.TOWN_LEADER)


class Role(enum.Enum):
    """How a person holds a post."""

    PRIMARY = "primary"
    DEPUTY = "deputy"


class UnitKind(enum.Enum):
    """Departments, the city's comprehensive enforcement teams, and each town's single team."""

    DEPARTMENT = "department"
    CITY_TEAM = "city_team"
    TOWN_TEAM = "town_team"


@dataclass(frozen=True, order=True)
class Post:
    """A role at a place: ``place`` is a cell code (field posts), a unit id, or ``""``."""

    kind: PostKind = field(compare=False)
    place: str = ""
    key: str = field(init=False, repr=False, compare=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.kind.value}:{self.place}")

    def __str__(self) -> str:
        return self.key

    @classmethod
    def from_key(cls, key: str) -> Post | None:
        """The post a key names (``grid_worker:320281001001001``); ``None`` for a key of no
        post kind (a unit's inbox ``unit:…``, a malformed key).

        >>> Post.from_key("grid_head:320281001001").kind.value, Post.from_key("unit:cgj")
        ('grid_head', None)
        """
        kind, _, place = key.partition(":")
        try:
            return cls(PostKind(kind), place)
        except ValueError:
            return None


COMMAND_CENTER = Post(PostKind.OPERATOR, "")
"""The command center's duty seat: every operator holds it; :meth:`Roster.on_duty` picks a crew."""
CENTER_LEADER = Post(PostKind.CENTER_LEADER, "")
"""The command center's leader (指挥中心主任): the top of the 督办 ladder for town matters."""
CITY_LEADER = Post(PostKind.CITY_LEADER, "")
"""The city's leader in charge (分管市领导): the top of the ladder for city matters."""
SEAT_POSTS = (PostKind.OPERATOR, PostKind.CENTER_LEADER, PostKind.CITY_LEADER)
"""Posts with no place: one seat each for the whole city."""


def field_post(cell_code: str) -> Post:
    """The field post of a cell: its tier decides the kind.

    >>> str(field_post("320281001002"))
    'grid_head:320281001002'
    """
    return Post(PostKind.for_tier(code_to_tier(cell_code)), cell_code)


@dataclass(frozen=True)
class Person:
    """Someone on the roster; ``capacity`` is how many primary posts they may hold at once."""

    person_id: str
    name: str
    phone: str = ""
    unit_id: str = ""
    capacity: int = 1


@dataclass(frozen=True)
class Unit:
    """A department or an enforcement team; ``towns`` are the tier-1 codes a team covers."""

    unit_id: str
    name: str
    kind: UnitKind
    towns: tuple[str, ...] = ()

    def covers(self, town_code: str) -> bool:
        """Whether the unit acts in ``town_code`` (a department with no towns acts everywhere)."""
        return not self.towns or town_code in self.towns


@dataclass(frozen=True)
class Assignment:
    """A person on a post, as primary or deputy, for ``[valid_from, valid_to)``."""

    person_id: str
    post: Post
    role: Role
    valid_from: datetime
    valid_to: datetime | None = None
    row: int | None = field(default=None, compare=False)

    def is_active(self, at: datetime) -> bool:
        """Whether the assignment holds at ``at``."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def overlaps(self, other: Assignment) -> bool:
        """Whether the two periods share a moment."""
        end_a = self.valid_to or datetime.max.replace(tzinfo=TZ)
        end_b = other.valid_to or datetime.max.replace(tzinfo=TZ)
        return self.valid_from < end_b and other.valid_from < end_a


@dataclass(frozen=True)
class Absence:
    """A person away (leave, training, sick) for ``[start, end)``; their deputy covers."""

    person_id: str
    start: datetime
    end: datetime
    reason: str = ""
    row: int | None = field(default=None, compare=False)


OPERATOR_SHIFT_HOURS = 8
"""The command center works three 8-hour shifts a day, starting 00:00, 08:00 and 16:00."""
OPERATOR_CREWS = 4
"""Operators form this many crews that take the shifts in turn (四班三倒)."""
_SHIFT_EPOCH = datetime(2000, 1, 1, tzinfo=TZ)
"""Shift 0 of :meth:`Roster.on_duty` starts here."""


class Roster:
    """Persons, units, assignments and absences, indexed for "who holds this post at T"."""

    def __init__(
        self,
        persons: Iterable[Person],
        units: Iterable[Unit],
        assignments: Iterable[Assignment],
        absences: Iterable[Absence] = (),
        *,
        source: str = "",
    ) -> None:
        self.persons: dict[str, Person] = {p.person_id: p for p in persons}
        self.units: dict[str, Unit] = {u.unit_id: u for u in units}
        self.assignments: tuple[Assignment, ...] = tuple(
            sorted(
                assignments,
                key=lambda a: (
                    a.post.place,
                    a.post.kind.value,
                    a.role is Role.DEPUTY,
                    a.valid_from,
                ),
            )
        )
        self.absences: tuple[Absence, ...] = tuple(absences)
        self.source = source
        by_post: dict[tuple[str, Role], list[Assignment]] = defaultdict(list)
        by_person: dict[str, list[Assignment]] = defaultdict(list)
        for a in self.assignments:
            by_post[(a.post.key, a.role)].append(a)
            by_person[a.person_id].append(a)
        self._by_post = dict(by_post)
        self._starts = {k: [a.valid_from for a in v] for k, v in self._by_post.items()}
        self._by_person = dict(by_person)
        away: dict[str, list[Absence]] = defaultdict(list)
        for absence in self.absences:
            away[absence.person_id].append(absence)
        self._absences = dict(away)
        self._on_duty: dict[tuple[int, int], tuple[Person, ...]] = {}

    def __repr__(self) -> str:
        return (
            f"<Roster {self.source or 'in memory'}: {len(self.persons)} persons, "
            f"{len(self.units)} units, {len(self.assignments)} assignments>"
        )

    def person(self, person_id: str) -> Person:
        """The person with ``person_id``."""
        try:
            return self.persons[person_id]
        except KeyError:
            raise UnknownPersonError(
                f"no person {person_id!r} on the roster; `gridmgr roster export` lists them"
            ) from None

    def history(self, post: Post, *, role: Role = Role.PRIMARY) -> list[Assignment]:
        """Every assignment of ``post`` in ``role``, oldest first."""
        return list(self._by_post.get((post.key, role), ()))

    def holders(self, post: Post, at: datetime, *, role: Role = Role.PRIMARY) -> list[Assignment]:
        """The assignments of ``post`` in ``role`` that hold at ``at`` (oldest first)."""
        key = (post.key, role)
        entries = self._by_post.get(key)
        if not entries:
            return []
        stop = bisect.bisect_right(self._starts[key], at)
        return [a for a in entries[:stop] if a.is_active(at)]

    def holder(self, post: Post, at: datetime, *, role: Role = Role.PRIMARY) -> Person | None:
        """The person holding ``post`` in ``role`` at ``at`` (the longest-serving), or ``None``."""
        held = self.holders(post, at, role=role)
        return self.persons[held[0].person_id] if held else None

    def owner(self, post: Post, at: datetime) -> Person | None:
        """The primary holder of ``post`` at ``at``, or ``None`` when the post is vacant."""
        return self.holder(post, at, role=Role.PRIMARY)

    def deputy(self, post: Post, at: datetime) -> Person | None:
        """The deputy of ``post`` at ``at``, or ``None``."""
        return self.holder(post, at, role=Role.DEPUTY)

    def assignments_of(self, person_id: str) -> list[Assignment]:
        """Every assignment of ``person_id``, past, present and future."""
        return list(self._by_person.get(person_id, ()))

    def posts_of(self, person_id: str, at: datetime) -> list[Assignment]:
        """The assignments ``person_id`` holds at ``at``."""
        return [a for a in self._by_person.get(person_id, ()) if a.is_active(at)]

    def absence(self, person_id: str, at: datetime) -> Absence | None:
        """The absence that keeps ``person_id`` away at ``at``, or ``None``."""
        for absence in self._absences.get(person_id, ()):
            if absence.start <= at < absence.end:
                return absence
        return None

    def is_available(self, person_id: str, at: datetime) -> bool:
        """Whether ``person_id`` is on the roster and not absent at ``at``."""
        return person_id in self.persons and self.absence(person_id, at) is None

    def on_duty(self, at: datetime) -> list[Person]:
        """The command-center operators on duty at ``at``, by the fixed crew rotation.

        Operators holding the command-center seat at ``at`` are split, in id order, into
        :data:`OPERATOR_CREWS` crews; shift ``k`` (8-hour shifts counted from 2000-01-01 00:00,
        Beijing time) is worked by crew ``k mod crews``. Absent operators are left out.
        """
        # asked for every action and report (tens of thousands of times a simulated day), and
        # the same between two changes of the rotation: a new shift, or an assignment or absence
        # starting or ending (each is constant between two such moments)
        shift = int((at - _SHIFT_EPOCH) // timedelta(hours=OPERATOR_SHIFT_HOURS))
        key = (shift, bisect.bisect_right(self._duty_changes, at))
        crew = self._on_duty.get(key)
        if crew is None:
            if len(self._on_duty) > 4096:
                self._on_duty.clear()
            crew = self._on_duty[key] = tuple(self._crew_on_duty(at, shift))
        return list(crew)

    def _crew_on_duty(self, at: datetime, shift: int) -> list[Person]:
        """:meth:`on_duty` worked out (``shift`` is ``at``'s)."""
        held = sorted(a.person_id for a in self.holders(COMMAND_CENTER, at))
        if not held:
            return []
        crews = max(1, min(OPERATOR_CREWS, len(held)))
        crew = [pid for i, pid in enumerate(held) if i % crews == shift % crews]
        return [self.persons[p] for p in crew if self.is_available(p, at)]

    @cached_property
    def _duty_changes(self) -> list[datetime]:
        """Every moment the command-center seat's holders or anyone's absence starts or ends,
        in order: between two of them :meth:`on_duty` changes only with the shift."""
        seat = self._by_post.get((COMMAND_CENTER.key, Role.PRIMARY), [])
        moments = {a.valid_from for a in seat} | {a.valid_to for a in seat if a.valid_to}
        moments |= {x.start for x in self.absences} | {x.end for x in self.absences}
        return sorted(moments)

    def units_of(self, kind: UnitKind) -> list[Unit]:
        """The units of one kind, by id."""
        return sorted((u for u in self.units.values() if u.kind is kind), key=lambda u: u.unit_id)

    def unit_for(self, kind: UnitKind, town_code: str) -> Unit | None:
        """The unit of ``kind`` that covers ``town_code`` (lowest id first), or ``None``."""
        for unit in self.units_of(kind):
            if unit.covers(town_code):
                return unit
        return None

    @cached_property
    def posts(self) -> tuple[Post, ...]:
        """Every post that has ever had an assignment, sorted."""
        return tuple(sorted({a.post for a in self.assignments}))


def find_conflicts(roster: Roster) -> list[tuple[str, int | None]]:
    """Assignments that conflict with another one the same person holds at the same time.

    Conflicts: being primary and deputy of the same post; holding a post and the post it
    escalates to (the escalation would come back to the same person); holding field posts in
    two towns; being a command-center operator and holding a field post. Each conflict is a
    message and the row of the later assignment.
    """
    out: list[tuple[str, int | None]] = []
    for pid in sorted(roster.persons):
        items = roster.assignments_of(pid)
        for i, a in enumerate(items):
            for b in items[i + 1 :]:
                if not a.overlaps(b):
                    continue
                why = _conflict(a, b)
                if why:
                    later = b if (b.valid_from, b.row or 0) >= (a.valid_from, a.row or 0) else a
                    out.append((f"{pid} cannot hold both {a.post} and {b.post}: {why}", later.row))
    return out


def _conflict(a: Assignment, b: Assignment) -> str | None:
    if a.post == b.post:
        return "primary and deputy of the same post" if a.role is not b.role else None
    kinds = {a.post.kind, b.post.kind}
    if PostKind.OPERATOR in kinds and kinds & set(FIELD_POSTS):
        return "a command-center operator supervises field posts and cannot hold one"
    ta, tb = a.post.kind.tier, b.post.kind.tier
    if ta is None or tb is None:
        return None
    town = code_length(1)
    if a.post.place[:town] != b.post.place[:town]:
        return "field posts in two towns at once"
    if Role.PRIMARY in (a.role, b.role) and a.role is b.role and abs(ta - tb) == 1:
        upper, lower = (a, b) if ta < tb else (b, a)
        if lower.post.place.startswith(upper.post.place):
            return "the lower post escalates to the upper one, which would be the same person"
    return None
