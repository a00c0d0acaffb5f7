"""The inspector pool: enforcement officers per department and team, their limits and conflicts.

An officer may inspect a target for a department when he belongs to that department, acts in
the target's town, has no conflict of interest with it (:func:`conflicts_of`) and has visits
left under his limit. Conflicts are (1) being a grid worker — primary or deputy — of the
target's cell, (2) having inspected the target last time, (3) a declared conflict. The grid
duties are copied from the roster into the pool (:func:`with_grid_duties`) at the plan's start,
so a published pool file is all a verifier needs.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from gridmgr.errors import InvalidTableError, RowProblem
from gridmgr.grid.codes import code_length
from gridmgr.inspection import json_sha256
from gridmgr.responsibility.catalog import DEPARTMENTS
from gridmgr.responsibility.roster import Post, PostKind, Role, Roster
from gridmgr.tablefiles import Table, formula_problems, read_table, write_table

if TYPE_CHECKING:
    from gridmgr.inspection.registry import Registry, Target

POOL_COLUMNS = (
    "officer_id",
    "name",
    "department",
    "team",
    "towns",
    "max_visits",
    "grid_cells",
    "conflicts",
)
"""The pool CSV's columns; ``towns``, ``grid_cells`` and ``conflicts`` are ``;``-separated."""

DEFAULT_MAX_VISITS = 40
"""Visits one officer may be given in one draw, unless his row says otherwise."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class PoolError(InvalidTableError):
    """An inspector pool file is invalid; ``problems`` lists every bad row."""


@dataclass(frozen=True)
class Officer:
    """An enforcement officer (执法人员) of one department.

    ``towns`` empty means city-wide; ``grid_cells`` are the tier-3 cells where he is a grid
    worker; ``conflicts`` are target ids he declared a conflict of interest with.
    """

    officer_id: str
    name: str
    department: str
    team: str = ""
    towns: tuple[str, ...] = ()
    max_visits: int = DEFAULT_MAX_VISITS
    grid_cells: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()

    def to_row(self) -> dict[str, str]:
        """The officer as a CSV row of canonical text (what :func:`pool_hash` hashes)."""
        return {
            "officer_id": self.officer_id,
            "name": self.name,
            "department": self.department,
            "team": self.team,
            "towns": ";".join(sorted(self.towns)),
            "max_visits": str(self.max_visits),
            "grid_cells": ";".join(sorted(self.grid_cells)),
            "conflicts": ";".join(sorted(self.conflicts)),
        }

    def covers(self, town: str) -> bool:
        """Whether he acts in ``town`` (a tier-1 code)."""
        return not self.towns or town in self.towns


class Pool:
    """Officers by id, in id order; read-only."""

    def __init__(self, officers: Iterable[Officer], *, source: str = "") -> None:
        self.officers: dict[str, Officer] = {
            o.officer_id: o for o in sorted(officers, key=lambda o: o.officer_id)
        }
        self.source = source

    def __len__(self) -> int:
        return len(self.officers)

    def __iter__(self) -> Iterator[Officer]:
        return iter(self.officers.values())

    def __repr__(self) -> str:
        return f"<Pool {len(self)} officers {self.snapshot_hash[:12]}>"

    def of_department(self, department: str) -> list[Officer]:
        """The officers of one department, by id."""
        return [o for o in self if o.department == department]

    @cached_property
    def snapshot_hash(self) -> str:
        """:func:`pool_hash` of this pool."""
        return pool_hash(self)


def pool_hash(pool: Pool) -> str:
    """sha256 (hex) of the pool's canonical form: like :func:`~gridmgr.inspection.registry.
    registry_hash`, the JSON array of every officer's row values in :data:`POOL_COLUMNS` order,
    sorted by ``officer_id``."""
    return json_sha256([[o.to_row()[c] for c in POOL_COLUMNS] for o in pool])


def conflicts_of(officer: Officer, target: Target) -> list[str]:
    """Why ``officer`` may not inspect ``target`` (empty: no conflict of interest).

    >>> from gridmgr.inspection.registry import Target
    >>> t = Target("T1", "x", 120.0, 31.0, "320281001001001", "", "A", ("scjg",),
    ...            None, ("O1",))
    >>> conflicts_of(Officer("O1", "甲", "scjg", grid_cells=("320281001001001",)), t)
    ['grid worker of the target cell 320281001001001', 'inspected T1 last time']
    """
    out = []
    if target.cell in officer.grid_cells:
        out.append(f"grid worker of the target cell {target.cell}")
    if officer.officer_id in target.last_inspected_by:
        out.append(f"inspected {target.target_id} last time")
    if target.target_id in officer.conflicts:
        out.append(f"declared a conflict with {target.target_id}")
    return out


def grid_duties(roster: Roster, person_id: str, at: datetime) -> tuple[str, ...]:
    """The tier-3 cells where ``person_id`` is grid worker (primary or deputy) at ``at``."""
    return tuple(
        sorted(
            {
                a.post.place
                for a in roster.posts_of(person_id, at)
                if a.post.kind is PostKind.GRID_WORKER
            }
        )
    )


def with_grid_duties(pool: Pool, roster: Roster, at: datetime) -> Pool:
    """The pool with the ``grid_cells`` of every officer on ``roster`` taken from it at ``at``
    (the roster is the authority on who is a grid worker; other officers keep theirs)."""
    return Pool(
        (
            replace(o, grid_cells=grid_duties(roster, o.officer_id, at))
            if o.officer_id in roster.persons
            else o
            for o in pool
        ),
        source=pool.source,
    )


# -- synthetic default ----------------------------------------------------------------------

TARGETS_PER_OFFICER = 250
"""The synthetic pool staffs each department with one officer per this many of its targets."""
_TEAM = "一二三四五六七八九十"


def generate_pool(
    roster: Roster,
    *,
    at: datetime,
    registry: Registry | None = None,
    seed: int = 2026,
    departments: Sequence[str] = tuple(DEPARTMENTS),
) -> Pool:
    """A synthetic pool: officers of each department, consistent with the roster at ``at``.

    Each department's leader on the roster is one of its officers, and the city management
    department (``cgj``) also draws on two grid workers per town (their grid cells become
    conflicts); the other officers have their own ids (``scjg-0001`` …) and synthetic names.
    With ``registry``, a department gets one officer per :data:`TARGETS_PER_OFFICER` targets it
    supervises (at least 4), and about 3% of officers declare a conflict with a target.

    >>> from gridmgr.testing import tiny_roster
    >>> from gridmgr.responsibility.demo_roster import ROSTER_START
    >>> pool = generate_pool(tiny_roster(), at=ROSTER_START)
    >>> len(pool.of_department("scjg")), any(o.grid_cells for o in pool.of_department("cgj"))
    (5, True)
    """
    from faker import Faker

    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    supervised = dict.fromkeys(departments, 0)
    if registry is not None:
        for t in registry:
            for d in t.departments:
                if d in supervised:
                    supervised[d] += 1
    target_ids = [] if registry is None else list(registry.targets)
    officers: list[Officer] = []
    for dept in departments:
        n = max(4, math.ceil(supervised[dept] / TARGETS_PER_OFFICER))
        teams = max(1, min(len(_TEAM), n // 8))
        for k in range(n):
            officers.append(
                Officer(
                    f"{dept}-{k + 1:04d}",
                    fake.name(),
                    dept,
                    f"{_TEAM[k % teams]}中队",
                    max_visits=DEFAULT_MAX_VISITS,
                )
            )
        leader = roster.owner(Post(PostKind.UNIT_LEADER, dept), at)
        if leader is not None:
            officers.append(Officer(leader.person_id, leader.name, dept, "领导", max_visits=10))
    digits = code_length(1)
    towns = sorted({a.post.place[:digits] for a in roster.assignments if a.post.kind.tier == 3})
    if "cgj" in departments:
        workers = sorted(
            (a.post.place, a.person_id)
            for a in roster.assignments
            if a.post.kind is PostKind.GRID_WORKER and a.role is Role.PRIMARY and a.is_active(at)
        )
        for town in towns:
            mine = [pid for place, pid in workers if place.startswith(town)]
            for pid in rng.sample(mine, min(2, len(mine))):
                person = roster.persons[pid]
                officers.append(
                    Officer(pid, person.name, "cgj", "网格协管", (town,), max_visits=20)
                )
    if target_ids:
        officers = [
            replace(o, conflicts=tuple(sorted(rng.sample(target_ids, rng.randint(1, 2)))))
            if rng.random() < 0.03
            else o
            for o in officers
        ]
    pool = Pool(officers, source=f"synthetic pool (seed {seed})")
    return with_grid_duties(pool, roster, at)


# -- files ----------------------------------------------------------------------------------


def _split(text: str) -> tuple[str, ...]:
    return tuple(sorted({v.strip() for v in text.split(";")} - {""}))


def parse_pool(table: Table, *, known_departments: Iterable[str] = DEPARTMENTS) -> Pool:
    """A :class:`Pool` from a table, or one :class:`PoolError` listing every bad row."""
    src = table.source
    known = set(known_departments)
    problems: list[RowProblem] = []
    out: list[Officer] = []
    seen: dict[str, int] = {}
    for row, values in table.numbered():
        bad = len(problems)
        # the pool is published byte for byte with a draw, so it cannot be neutralised
        problems += formula_problems(src, row, values)
        oid = values.get("officer_id", "")
        if not _ID.match(oid):
            problems.append(RowProblem(src, row, "officer_id", f"{oid!r} is not an id"))
        elif oid in seen:
            problems.append(RowProblem(src, row, "officer_id", f"{oid} already on row {seen[oid]}"))
        else:
            seen[oid] = row
        if not values.get("name"):
            problems.append(RowProblem(src, row, "name", "an officer needs a name"))
        dept = values.get("department", "")
        if dept not in known:
            problems.append(
                RowProblem(
                    src,
                    row,
                    "department",
                    f"unknown department {dept!r}; use an id of "
                    "the catalog's departments (e.g. scjg)",
                )
            )
        text = values.get("max_visits", "") or str(DEFAULT_MAX_VISITS)
        try:
            limit = int(text)
            if not 0 <= limit <= 1000:
                raise ValueError
        except ValueError:
            problems.append(RowProblem(src, row, "max_visits", f"{text!r}: write 0..1000"))
            limit = 0
        if len(problems) == bad:
            out.append(
                Officer(
                    oid,
                    values["name"],
                    dept,
                    values.get("team", ""),
                    _split(values.get("towns", "")),
                    limit,
                    _split(values.get("grid_cells", "")),
                    _split(values.get("conflicts", "")),
                )
            )
    if problems:
        raise PoolError(
            f"pool {src} refused: {len(problems)} problem(s); first: {problems[0]}", problems
        )
    return Pool(out, source=src)


def read_pool(path: Path) -> Pool:
    """Read a pool CSV (see :func:`parse_pool`)."""
    return parse_pool(read_table(path, required=POOL_COLUMNS[:3], optional=POOL_COLUMNS[3:]))


def write_pool(pool: Pool, path: Path) -> Path:
    """Write the pool as CSV; reading it back gives the same hash.

    Written byte for byte (not neutralised): :func:`parse_pool` refuses formula-like text.
    """
    return write_table(path, POOL_COLUMNS, (o.to_row() for o in pool), neutralise=False)


def pool_to_csv_text(pool: Pool) -> str:
    """The pool as CSV text (no byte-order mark)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(POOL_COLUMNS)
    for o in pool:
        row = o.to_row()
        writer.writerow([row[c] for c in POOL_COLUMNS])
    return buffer.getvalue()


def pool_from_csv_text(text: str, *, source: str = "snapshot") -> Pool:
    """The pool of :func:`pool_to_csv_text`."""
    from gridmgr.tablefiles import parse_table

    return parse_pool(parse_table(text, source=source, required=POOL_COLUMNS))
