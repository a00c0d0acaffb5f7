"""Staffing: what a roster lacks at a given time, as data the dashboard and CLI show.

Reported: vacant posts (cells with no owner, at every tier; the command center; unit leaders),
field posts without a deputy, assignments that expired and left their post uncovered,
assignments about to expire with no successor, people holding more primary posts than their
capacity, and conflicts (:func:`~gridmgr.responsibility.roster.find_conflicts`). None of these
stops a roster
being loaded — a vacancy is a fact of life — but each must be visible the moment it exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import (
    COMMAND_CENTER,
    FIELD_POSTS,
    Assignment,
    Person,
    Post,
    PostKind,
    Role,
    Roster,
    field_post,
    find_conflicts,
)

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid

EXPIRY_HORIZON = timedelta(days=30)
"""How far ahead an assignment ending with no successor is reported as expiring."""


@dataclass(frozen=True)
class Finding:
    """One staffing finding: its kind, the post or person concerned, and a sentence."""

    kind: str
    subject: str
    message: str
    tier: int | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class StaffingReport:
    """All findings about a roster against a grid at one time."""

    at: datetime
    cells: Mapping[int, int]
    findings: tuple[Finding, ...] = field(default=())

    def of_kind(self, kind: str) -> list[Finding]:
        """The findings of one kind."""
        return [f for f in self.findings if f.kind == kind]

    @property
    def owned_cells(self) -> dict[int, tuple[int, int]]:
        """Per tier: (cells with an owner, cells)."""
        vacant: dict[int, int] = {1: 0, 2: 0, 3: 0}
        for finding in self.of_kind("vacancy"):
            if finding.tier is not None:
                vacant[finding.tier] += 1
        return {t: (n - vacant[t], n) for t, n in self.cells.items()}

    def to_frame(self) -> pd.DataFrame:
        """The findings as a table (kind, subject, tier, since, message)."""
        return pd.DataFrame(
            [
                {
                    "kind": f.kind,
                    "subject": f.subject,
                    "tier": f.tier,
                    "since": f.since,
                    "message": f.message,
                }
                for f in self.findings
            ],
            columns=["kind", "subject", "tier", "since", "message"],
        )


KINDS = ("vacancy", "no_deputy", "expired", "expiring", "overloaded", "conflict")
"""Finding kinds, most urgent first."""


def staffing_report(
    grid: Grid, roster: Roster, at: datetime, *, horizon: timedelta = EXPIRY_HORIZON
) -> StaffingReport:
    """Everything ``roster`` lacks for ``grid`` at ``at``.

    >>> from gridmgr.testing import tiny_grid
    >>> from gridmgr.responsibility.demo_roster import generate_roster
    >>> from gridmgr.responsibility.calendar import TZ
    >>> grid = tiny_grid()
    >>> report = staffing_report(grid, generate_roster(grid), datetime(2026, 5, 1, tzinfo=TZ))
    >>> report.owned_cells, report.findings
    ({1: (1, 1), 2: (4, 4), 3: (16, 16)}, ())
    """
    findings: list[Finding] = []
    posts = [field_post(code) for tier in (1, 2, 3) for code in grid.codes(tier)]
    units = [Post(PostKind.UNIT_LEADER, uid) for uid in sorted(roster.units)]
    for post in [*posts, COMMAND_CENTER, *units]:
        owner = roster.owner(post, at)
        if owner is None:
            findings.append(_vacancy(roster, post, at))
        elif post.kind in FIELD_POSTS and roster.deputy(post, at) is None:
            findings.append(
                Finding(
                    "no_deputy",
                    str(post),
                    f"{post} ({post.kind.label_zh}) held by {_who(owner)} has no deputy",
                    post.kind.tier,
                )
            )
    findings.extend(_expiring(roster, at, horizon))
    for person in sorted(roster.persons.values(), key=lambda p: p.person_id):
        held = [a for a in roster.posts_of(person.person_id, at) if a.role is Role.PRIMARY]
        if len(held) > person.capacity:
            findings.append(
                Finding(
                    "overloaded",
                    person.person_id,
                    f"{_who(person)} holds {len(held)} primary posts; capacity {person.capacity}",
                )
            )
    for message, _row in find_conflicts(roster):
        findings.append(Finding("conflict", message.split(" ", 1)[0], message))
    order = {k: i for i, k in enumerate(KINDS)}
    findings.sort(key=lambda f: (order[f.kind], f.subject))
    return StaffingReport(
        at=at,
        cells={t: len(grid.codes(t)) for t in (1, 2, 3)},
        findings=tuple(findings),
    )


def _who(person: Person) -> str:
    return f"{person.name} ({person.person_id})"


def _vacancy(roster: Roster, post: Post, at: datetime) -> Finding:
    ended = [a for a in roster.history(post) if a.valid_to is not None and a.valid_to <= at]
    last = max(ended, key=lambda a: a.valid_to or at, default=None)
    if last is None or last.valid_to is None:
        since, history = None, "never held"
    else:
        since = last.valid_to
        left = _who(roster.persons[last.person_id])
        history = f"since {since.astimezone(TZ):%Y-%m-%d %H:%M}, when {left} left"
    message = f"{post} ({post.kind.label_zh}) is vacant: {history}"
    return Finding("vacancy", str(post), message, post.kind.tier, since)


def _expiring(roster: Roster, at: datetime, horizon: timedelta) -> list[Finding]:
    """Assignments whose end left their post (in their role) empty: expired, or about to."""
    out: list[Finding] = []
    latest_ended: dict[tuple[str, Role], Assignment] = {}
    for a in roster.assignments:
        if a.valid_to is None or a.post == COMMAND_CENTER:
            continue
        if roster.holders(a.post, a.valid_to, role=a.role):
            continue  # someone took over when it ended
        if a.valid_to <= at:
            key = (a.post.key, a.role)
            if key not in latest_ended or a.valid_to > (latest_ended[key].valid_to or at):
                latest_ended[key] = a
        elif a.valid_to <= at + horizon:
            out.append(_ended("expiring", a, "nobody is assigned to follow", roster))
    for a in latest_ended.values():
        if not roster.holders(a.post, at, role=a.role):
            out.append(_ended("expired", a, f"nobody has been {a.role.value} since", roster))
    return out


def _ended(kind: str, a: Assignment, why: str, roster: Roster) -> Finding:
    assert a.valid_to is not None
    person = roster.persons[a.person_id]
    verb = "ended" if kind == "expired" else "ends"
    return Finding(
        kind,
        str(a.post),
        f"{a.role.value} assignment of {_who(person)} to {a.post} {verb} "
        f"{a.valid_to.astimezone(TZ):%Y-%m-%d %H:%M}; {why}",
        a.post.kind.tier,
        a.valid_to,
    )
