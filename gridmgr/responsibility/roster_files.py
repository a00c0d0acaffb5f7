"""The roster as files: parse its rows, reporting every problem with its row, and read/write CSV.

A roster is a folder of four CSV files a spreadsheet user can edit: ``persons.csv``,
``units.csv``, ``assignments.csv`` and (optional) ``absences.csv``. Times are ``YYYY-MM-DD`` or
``YYYY-MM-DD HH:MM``, Beijing time unless an offset is written.
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from gridmgr.errors import RosterError, RowProblem, TableFileError, TimeError
from gridmgr.grid.codes import code_to_tier, is_valid_code
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import (
    COMMAND_CENTER,
    SEAT_POSTS,
    Absence,
    Assignment,
    Person,
    Post,
    PostKind,
    Role,
    Roster,
    Unit,
    UnitKind,
    find_conflicts,
)
from gridmgr.tablefiles import read_table, write_table

# -- parsing --------------------------------------------------------------------------------

PERSON_COLUMNS = ("person_id", "name", "phone", "unit", "capacity")
UNIT_COLUMNS = ("unit_id", "name", "kind", "towns")
ASSIGNMENT_COLUMNS = ("person_id", "post", "place", "role", "valid_from", "valid_to")
ASSIGNMENT_READING_COLUMNS = ("person_name", "place_name")
"""Written by export next to the ids so a spreadsheet reads well; ignored on import."""
ABSENCE_COLUMNS = ("person_id", "start", "end", "reason")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_TIME_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S")


def parse_time(text: str) -> datetime:
    """A roster time: ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM`` or ISO 8601; Beijing time if no offset.

    >>> parse_time("2026-01-01")
    datetime.datetime(2026, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='Asia/Shanghai'))
    """
    value = text.strip()
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=TZ)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TimeError(
            f"cannot read {text!r} as a time; write 2026-01-31 or 2026-01-31 08:30"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=TZ)


def format_time(value: datetime | None) -> str:
    """The roster's text form of a time in Beijing time: a date at midnight, else date and time.

    Seconds are written only when there are any, so a written roster reads back exactly (to the
    second).

    >>> format_time(parse_time("2026-01-01 08:30")), format_time(parse_time("2026-01-01T00:00Z"))
    ('2026-01-01 08:30', '2026-01-01 08:00')
    """
    if value is None:
        return ""
    local = value.astimezone(TZ)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return local.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%d %H:%M" if local.second == 0 else "%Y-%m-%d %H:%M:%S")


class _Problems:
    def __init__(self) -> None:
        self.items: list[RowProblem] = []

    def add(self, source: str, row: int | None, column: str | None, message: str) -> None:
        self.items.append(RowProblem(source, row, column, message))


def parse_roster(
    persons: Sequence[tuple[int, Mapping[str, str]]],
    units: Sequence[tuple[int, Mapping[str, str]]],
    assignments: Sequence[tuple[int, Mapping[str, str]]],
    absences: Sequence[tuple[int, Mapping[str, str]]] = (),
    *,
    cells: Mapping[str, int] | None = None,
    source: str = "",
) -> Roster:
    """Build a :class:`Roster` from numbered rows, or raise one :class:`RosterError` listing all.

    ``cells`` maps every cell code of the grid to its tier; when given, a field post on a cell
    the grid lacks is refused. Refused too: malformed or duplicate ids, unknown persons and
    units, bad times and periods, a post with two primaries (or two deputies) at once, and the
    conflicts of :func:`find_conflicts`.
    """
    problems = _Problems()
    unit_list = _parse_units(units, problems, cells)
    known_units = {u.unit_id for u in unit_list}
    person_list = _parse_persons(persons, problems, known_units)
    known_persons = {p.person_id for p in person_list}
    assignment_list = _parse_assignments(assignments, problems, known_persons, known_units, cells)
    absence_list = _parse_absences(absences, problems, known_persons)
    for clash in _overlapping_holders(assignment_list):
        problems.add("assignments.csv", clash[1].row, None, clash[2])
    roster = Roster(person_list, unit_list, assignment_list, absence_list, source=source)
    for message, row in find_conflicts(roster):
        problems.add("assignments.csv", row, None, message)
    if problems.items:
        first = problems.items[0]
        raise RosterError(
            f"roster {source or ''} refused: {len(problems.items)} problem(s); first: {first}",
            problems.items,
        )
    return roster


_E = TypeVar("_E", bound=enum.Enum)


def _enum(cls: type[_E], text: str) -> _E | None:
    try:
        return cls(text.strip().lower())
    except ValueError:
        return None


def _check_id(value: str, source: str, row: int, column: str, problems: _Problems) -> bool:
    if not _ID.match(value):
        problems.add(
            source, row, column, f"{value!r} is not an id: use letters, digits, '-', '_' or '.'"
        )
        return False
    return True


def _parse_persons(
    rows: Sequence[tuple[int, Mapping[str, str]]], problems: _Problems, units: set[str]
) -> list[Person]:
    out: list[Person] = []
    seen: dict[str, int] = {}
    for row, values in rows:
        pid = values.get("person_id", "")
        ok = _check_id(pid, "persons.csv", row, "person_id", problems)
        if pid in seen:
            problems.add("persons.csv", row, "person_id", f"{pid} already on row {seen[pid]}")
            ok = False
        name = values.get("name", "")
        if not name:
            problems.add("persons.csv", row, "name", "a person needs a name")
        unit = values.get("unit", "")
        if unit and unit not in units:
            problems.add("persons.csv", row, "unit", f"unknown unit {unit!r}; add it to units.csv")
        capacity_text = values.get("capacity", "") or "1"
        try:
            capacity = int(capacity_text)
            if not 1 <= capacity <= 50:
                raise ValueError
        except ValueError:
            problems.add(
                "persons.csv", row, "capacity", f"{capacity_text!r}: write a whole number 1..50"
            )
            capacity = 1
        if ok:
            seen[pid] = row
            out.append(Person(pid, name, values.get("phone", ""), unit, capacity))
    return out


def _parse_units(
    rows: Sequence[tuple[int, Mapping[str, str]]],
    problems: _Problems,
    cells: Mapping[str, int] | None,
) -> list[Unit]:
    out: list[Unit] = []
    seen: dict[str, int] = {}
    for row, values in rows:
        uid = values.get("unit_id", "")
        ok = _check_id(uid, "units.csv", row, "unit_id", problems)
        if uid in seen:
            problems.add("units.csv", row, "unit_id", f"{uid} already on row {seen[uid]}")
            ok = False
        kind = _enum(UnitKind, values.get("kind", ""))
        if kind is None:
            allowed = ", ".join(k.value for k in UnitKind)
            problems.add("units.csv", row, "kind", f"{values.get('kind')!r}: use one of {allowed}")
            ok = False
        towns = tuple(t.strip() for t in values.get("towns", "").split(";") if t.strip())
        for town in towns:
            if not is_valid_code(town) or code_to_tier(town) != 1:
                problems.add("units.csv", row, "towns", f"{town!r} is not a tier-1 (town) code")
                ok = False
            elif cells is not None and town not in cells:
                problems.add("units.csv", row, "towns", f"town {town} is not in the grid")
                ok = False
        if kind is not None and kind is not UnitKind.DEPARTMENT and not towns:
            problems.add("units.csv", row, "towns", f"a {kind.value} must list the towns it covers")
            ok = False
        if ok and kind is not None:
            seen[uid] = row
            out.append(Unit(uid, values.get("name", "") or uid, kind, towns))
    return out


def _parse_assignments(
    rows: Sequence[tuple[int, Mapping[str, str]]],
    problems: _Problems,
    persons: set[str],
    units: set[str],
    cells: Mapping[str, int] | None,
) -> list[Assignment]:
    out: list[Assignment] = []
    src = "assignments.csv"
    for row, values in rows:
        ok = True
        pid = values.get("person_id", "")
        if pid not in persons:
            problems.add(src, row, "person_id", f"unknown person {pid!r}; add them to persons.csv")
            ok = False
        kind = _enum(PostKind, values.get("post", ""))
        if kind is None:
            allowed = ", ".join(k.value for k in PostKind)
            problems.add(src, row, "post", f"{values.get('post')!r}: use one of {allowed}")
            continue
        place = values.get("place", "")
        if kind.tier is not None:
            if not is_valid_code(place) or code_to_tier(place) != kind.tier:
                problems.add(
                    src,
                    row,
                    "place",
                    f"a {kind.value} post needs a tier-{kind.tier} cell code, got {place!r}",
                )
                ok = False
            elif cells is not None and place not in cells:
                problems.add(src, row, "place", f"unknown cell {place}: it is not in the grid")
                ok = False
        elif kind is PostKind.UNIT_LEADER and place not in units:
            problems.add(src, row, "place", f"unknown unit {place!r}; add it to units.csv")
            ok = False
        elif kind in SEAT_POSTS and place:
            problems.add(src, row, "place", f"a {kind.value} post has no place; leave it empty")
            ok = False
        role = _enum(Role, values.get("role", "") or "primary")
        if role is None:
            problems.add(src, row, "role", f"{values.get('role')!r}: use primary or deputy")
        start, end = _period(values, "valid_from", "valid_to", src, row, problems)
        if ok and role is not None and start is not None:
            out.append(Assignment(pid, Post(kind, place), role, start, end, row))
    return out


def _parse_absences(
    rows: Sequence[tuple[int, Mapping[str, str]]], problems: _Problems, persons: set[str]
) -> list[Absence]:
    out: list[Absence] = []
    for row, values in rows:
        pid = values.get("person_id", "")
        if pid not in persons:
            problems.add("absences.csv", row, "person_id", f"unknown person {pid!r}")
            continue
        start, end = _period(values, "start", "end", "absences.csv", row, problems)
        if start is not None and end is None:
            problems.add("absences.csv", row, "end", "an absence needs an end")
        elif start is not None and end is not None:
            out.append(Absence(pid, start, end, values.get("reason", ""), row))
    return out


def _period(
    values: Mapping[str, str], first: str, last: str, src: str, row: int, problems: _Problems
) -> tuple[datetime | None, datetime | None]:
    start = end = None
    try:
        start = parse_time(values.get(first, ""))
    except TimeError as exc:
        problems.add(src, row, first, str(exc))
    if values.get(last):
        try:
            end = parse_time(values[last])
        except TimeError as exc:
            problems.add(src, row, last, str(exc))
            return None, None
    if start is not None and end is not None and end <= start:
        problems.add(src, row, last, f"{last} {format_time(end)} is not after {first}")
        return None, None
    return start, end


def _overlapping_holders(
    assignments: Sequence[Assignment],
) -> Iterable[tuple[Assignment, Assignment, str]]:
    by_key: dict[tuple[str, Role], list[Assignment]] = defaultdict(list)
    for a in assignments:
        if a.post != COMMAND_CENTER:  # the command center seat is held by every operator
            by_key[(a.post.key, a.role)].append(a)
    for (key, role), items in by_key.items():
        items.sort(key=lambda a: (a.valid_from, a.row or 0))
        # sweep in start order, remembering the earlier assignment that runs longest, so every
        # assignment overlapping any earlier one is reported (not only its neighbour)
        longest: Assignment | None = None
        for later in items:
            if longest is not None and longest.overlaps(later):
                yield (
                    longest,
                    later,
                    f"{key} has two {role.value} holders at once: {longest.person_id} "
                    f"(row {longest.row}) and {later.person_id} from "
                    f"{format_time(later.valid_from)}; end the first assignment before the "
                    "second starts",
                )
            if longest is None or _end(later) > _end(longest):
                longest = later


def _end(a: Assignment) -> datetime:
    return a.valid_to or datetime.max.replace(tzinfo=TZ)


ROSTER_FILES = ("persons.csv", "units.csv", "assignments.csv", "absences.csv")


def read_roster(folder: Path, *, cells: Mapping[str, int] | None = None) -> Roster:
    """Read a roster folder (``absences.csv`` may be missing); see :func:`parse_roster`."""
    if not folder.is_dir():
        raise TableFileError(
            f"{folder} is not a roster folder; it must hold persons.csv, units.csv and "
            "assignments.csv (make one with `gridmgr roster generate --out FOLDER`)"
        )
    persons = read_table(
        folder / "persons.csv", required=PERSON_COLUMNS[:2], optional=PERSON_COLUMNS[2:]
    )
    units = read_table(folder / "units.csv", required=UNIT_COLUMNS[:3], optional=UNIT_COLUMNS[3:])
    assignments = read_table(
        folder / "assignments.csv",
        required=ASSIGNMENT_COLUMNS[:2] + ASSIGNMENT_COLUMNS[4:5],
        optional=(*ASSIGNMENT_COLUMNS[2:4], *ASSIGNMENT_COLUMNS[5:], *ASSIGNMENT_READING_COLUMNS),
    )
    absences_path = folder / "absences.csv"
    absences = (
        list(
            read_table(
                absences_path, required=ABSENCE_COLUMNS[:3], optional=ABSENCE_COLUMNS[3:]
            ).numbered()
        )
        if absences_path.exists()
        else []
    )
    return parse_roster(
        list(persons.numbered()),
        list(units.numbered()),
        list(assignments.numbered()),
        absences,
        cells=cells,
        source=str(folder),
    )


def write_roster(
    roster: Roster, folder: Path, *, place_names: Mapping[str, str] | None = None
) -> Path:
    """Write ``roster`` as a roster folder; ``place_names`` (cell code → name) aids reading."""
    names = dict(place_names or {})
    names.update({u.unit_id: u.name for u in roster.units.values()})
    write_table(
        folder / "persons.csv",
        PERSON_COLUMNS,
        (
            {
                "person_id": p.person_id,
                "name": p.name,
                "phone": p.phone,
                "unit": p.unit_id,
                "capacity": p.capacity,
            }
            for p in sorted(roster.persons.values(), key=lambda p: p.person_id)
        ),
    )
    write_table(
        folder / "units.csv",
        UNIT_COLUMNS,
        (
            {"unit_id": u.unit_id, "name": u.name, "kind": u.kind.value, "towns": ";".join(u.towns)}
            for u in sorted(roster.units.values(), key=lambda u: u.unit_id)
        ),
    )
    write_table(
        folder / "assignments.csv",
        ASSIGNMENT_COLUMNS + ASSIGNMENT_READING_COLUMNS,
        (
            {
                "person_id": a.person_id,
                "post": a.post.kind.value,
                "place": a.post.place,
                "role": a.role.value,
                "valid_from": format_time(a.valid_from),
                "valid_to": format_time(a.valid_to),
                "person_name": roster.persons[a.person_id].name,
                "place_name": names.get(a.post.place, ""),
            }
            for a in roster.assignments
        ),
    )
    write_table(
        folder / "absences.csv",
        ABSENCE_COLUMNS,
        (
            {
                "person_id": x.person_id,
                "start": format_time(x.start),
                "end": format_time(x.end),
                "reason": x.reason,
            }
            for x in sorted(roster.absences, key=lambda x: (x.person_id, x.start))
        ),
    )
    return folder
