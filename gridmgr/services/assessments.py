"""The monthly assessment (考核): compute a month's scorecard, close (freeze) it, flag and contest
missed reports (漏报).

The figures are the pure functions of :mod:`gridmgr.analytics.scorecard` and
:mod:`gridmgr.analytics.missed`; this module reads what they need from the store (the month's
case facts and stage events, the patrol points, the cells' workers from the roster) and records
what the assessment writes: a closed scorecard with its digest on the ledger, a worker's contest.
A closed month never changes: closing it again computes the scorecard anew and reports how it
differs from the stored one, without storing anything.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from gridmgr.access import Caller
from gridmgr.analytics.missed import missed_reports, track_windows
from gridmgr.analytics.scorecard import (
    LEVELS,
    AssessmentConfig,
    cell_counts,
    read_assessment_config,
    scorecard,
    scorecard_to_records,
    stage_punctuality,
)
from gridmgr.errors import AnalyticsError, ForbiddenError
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import field_post
from gridmgr.services.context import Services
from gridmgr.services.patrols import kept_coverage
from gridmgr.store import ClosedAssessment, Contest

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The first instant of ``month`` (``YYYY-MM``, Beijing time) and of the next one.

    >>> [t.isoformat() for t in month_bounds("2026-12")]
    ['2026-12-01T00:00:00+08:00', '2027-01-01T00:00:00+08:00']
    """
    match = _MONTH.match(month.strip())
    if match is None:
        raise AnalyticsError(f"month {month!r} is not YYYY-MM, e.g. 2026-11")
    year, mon = int(match[1]), int(match[2])
    start = datetime(year, mon, 1, tzinfo=TZ)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=TZ)
    return start, end


@dataclass(frozen=True)
class MonthScorecard:
    """A month's scorecard: one frame per level (:data:`LEVELS`) and the missed reports."""

    month: str
    computed_at: datetime
    config: AssessmentConfig
    levels: dict[str, pd.DataFrame]
    missed: pd.DataFrame

    def body(self) -> dict[str, Any]:
        """The JSON value that is stored, hashed and compared (no computation time in it)."""
        missed = self.missed.assign(passed_at=self.missed["passed_at"].astype(str))
        return {
            "month": self.month,
            "config": {
                "weights": dict(self.config.weights),
                "min_samples": dict(self.config.min_samples),
                "min_cases": self.config.min_cases,
                "satisfied_rating": self.config.satisfied_rating,
                "missed_distance_m": self.config.missed_distance_m,
                "missed_hours": self.config.missed_hours,
            },
            "levels": {lv: scorecard_to_records(f) for lv, f in self.levels.items()},
            "missed": scorecard_to_records(missed),
        }


def body_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a scorecard body (sorted keys, no spaces).

    >>> body_digest({"b": 1, "a": [1.5, None]})[:12]
    'cf0c4895ed70'
    """
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cell_workers(services: Services, at: datetime) -> dict[str, str]:
    """Each tier-3 cell's grid worker (person id) at ``at``; vacant cells are left out."""
    return cell_workers_of(services, services.grid.codes(3), at)


def cell_workers_of(services: Services, cells: Sequence[str], at: datetime) -> dict[str, str]:
    """The grid worker (person id) of each of ``cells`` at ``at``; vacant cells are left out."""
    out = {}
    for code in cells:
        person = services.roster.owner(field_post(code), at)
        if person is not None:
            out[code] = person.person_id
    return out


def compute_month(
    services: Services, month: str, *, config: AssessmentConfig | None = None
) -> MonthScorecard:
    """The month's scorecard as of now: every cell's worker at the month's end (or now, if
    sooner), the cases reported in the month, the patrols of the month."""
    cfg = config or read_assessment_config()
    start, end = month_bounds(month)
    now = services.now()
    if now <= start:
        raise AnalyticsError(f"{month} has not begun (it is {now:%Y-%m-%d %H:%M} now)")
    until = min(end, now)
    store, grid = services.store, services.grid
    facts, events = store.month_facts(since=start, until=until)  # the events scanned once
    stages = stage_punctuality(events, now=now)
    owners = cell_workers(services, until - timedelta(seconds=1))
    # only the owners' tracks around the called-in cases (a month's points are millions)
    windows = track_windows(facts, owners, hours=cfg.missed_hours)
    points = store.patrol_points_within(list(windows.itertuples(index=False, name=None)))
    missed = missed_reports(
        facts, points, owners, crs=grid.meta.metric_crs,
        distance_m=cfg.missed_distance_m, hours=cfg.missed_hours,
    )  # fmt: skip
    # the month's coverage from the bitmaps kept as points are stored (a month of the city in
    # a fraction of a second; buffering a month of tracks exactly takes minutes)
    days = (until - start).total_seconds() / 86400
    coverage = kept_coverage(store, grid, now=until, days=days)
    counts = cell_counts(facts, stages, coverage, missed, cfg)
    names = dict(zip(grid.cells["code"], grid.cells["name"], strict=True))
    people = {p: services.roster.persons[p].name for p in set(owners.values())}
    parents = dict(zip(grid.cells["code"], grid.cells["parent_code"], strict=True))
    units = {
        "worker": owners,
        "community": {c: parents[c] for c in grid.codes(3)},
        "town": {c: parents[parents[c]] for c in grid.codes(3)},
    }
    with one_blas_thread():  # 21 prior fits of two parameters each
        levels = {
            lv: scorecard(counts, units[lv], cfg, names=people if lv == "worker" else names)
            for lv in LEVELS
        }
    return MonthScorecard(month, now, cfg, levels, missed)


def one_blas_thread() -> AbstractContextManager[object]:
    """A context in which BLAS runs on one thread (``threadpoolctl``).

    The scorecard's empirical-Bayes priors are 21 L-BFGS-B fits of two parameters; OpenBLAS
    waking its thread pool for each step of them cost more CPU than the fits themselves
    (0.3 to 1.2 s on two busy cores, against 0.1 s on one thread). The result is the same."""
    limits: AbstractContextManager[object] = threadpool_limits(1, user_api="blas")
    return limits


@dataclass(frozen=True)
class Closing:
    """What closing a month did: the version stored now (``None`` when it was closed before),
    the latest stored version, and how a recomputation differs from it (not applied)."""

    stored: ClosedAssessment | None
    latest: ClosedAssessment
    differences: list[dict[str, Any]] = field(default_factory=list)


def close_month(
    services: Services, month: str, *, actor: str, config: AssessmentConfig | None = None
) -> Closing:
    """Freeze the month's scorecard (stored, its digest on the ledger), once.

    A month that is already closed is not changed: the scorecard is computed anew and its
    differences from the latest stored version are returned."""
    _, end = month_bounds(month)
    now = services.now()
    if now < end:
        raise AnalyticsError(f"{month} is not over until {end:%Y-%m-%d %H:%M}; close it after")
    body = compute_month(services, month, config=config).body()
    versions = services.store.closed_assessments(month)
    if versions:
        latest = versions[-1]
        return Closing(None, latest, scorecard_differences(dict(latest.body), body))
    stored = services.store.close_assessment(
        month, body=body, digest=body_digest(body), at=now, actor=actor
    )
    return Closing(stored, stored)


def stored_month(services: Services, month: str) -> ClosedAssessment | None:
    """The latest closed version of the month, or ``None`` while it is open."""
    month_bounds(month)
    versions = services.store.closed_assessments(month)
    return versions[-1] if versions else None


def scorecard_differences(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Cell-by-cell differences between two scorecard bodies: ``level``, ``unit``, ``column``,
    ``stored``, ``now`` (a unit present in one only shows ``column`` ``"(row)"``).

    >>> old = {"levels": {"town": [{"unit": "t1", "score": 80.0}]}, "missed": []}
    >>> new = {"levels": {"town": [{"unit": "t1", "score": 79.5}]}, "missed": []}
    >>> scorecard_differences(old, new)
    [{'level': 'town', 'unit': 't1', 'column': 'score', 'stored': 80.0, 'now': 79.5}]
    """
    out: list[dict[str, Any]] = []
    for level in sorted(set(old.get("levels", {})) | set(new.get("levels", {}))):
        before = {r["unit"]: r for r in old.get("levels", {}).get(level, [])}
        after = {r["unit"]: r for r in new.get("levels", {}).get(level, [])}
        for unit in sorted(set(before) | set(after)):
            a, b = before.get(unit), after.get(unit)
            if a is None or b is None:
                out.append({"level": level, "unit": unit, "column": "(row)",
                            "stored": a is not None, "now": b is not None})  # fmt: skip
                continue
            for col in sorted(set(a) | set(b)):
                if a.get(col) != b.get(col):
                    out.append({"level": level, "unit": unit, "column": col,
                                "stored": a.get(col), "now": b.get(col)})  # fmt: skip
    flagged_then = {r["case_id"] for r in old.get("missed", [])}
    flagged_now = {r["case_id"] for r in new.get("missed", [])}
    for case_id in sorted(flagged_then ^ flagged_now):
        out.append({"level": "missed", "unit": case_id, "column": "flagged",
                    "stored": case_id in flagged_then, "now": case_id in flagged_now})  # fmt: skip
    return out


# -- missed reports on one case ---------------------------------------------------------------


@dataclass(frozen=True)
class MissedFlag:
    """A case flagged as a missed report: whose track passed, when, how near; and contests."""

    case_id: str
    person_id: str
    person_name: str
    passed_at: datetime
    distance_m: float
    contests: tuple[Contest, ...]


def missed_flag(
    services: Services, case_id: str, *, config: AssessmentConfig | None = None
) -> MissedFlag | None:
    """The missed-report flag of one case (``None``: not flagged), with its contests."""
    cfg = config or read_assessment_config()
    case = services.store.case(case_id)
    if case.cell is None or case.lon is None:
        return None
    reach = timedelta(hours=cfg.missed_hours)
    at = case.reported_at
    # the case itself and every grid-worker report that could have found it first
    facts = services.store.case_facts(since=at - reach, until=at + timedelta(microseconds=1))
    facts = facts[(facts["case_id"] == case_id) | (facts["channel"] == "grid_worker")]
    owners = cell_workers_of(services, [case.cell], at)
    if not owners:
        return None  # a vacant cell: nobody's walk to judge
    points = services.store.patrol_points(
        since=at - reach, until=at + timedelta(microseconds=1), persons=sorted(set(owners.values()))
    )
    found = missed_reports(
        facts, points, owners, crs=services.grid.meta.metric_crs,
        distance_m=cfg.missed_distance_m, hours=cfg.missed_hours,
    )  # fmt: skip
    found = found[found["case_id"] == case_id]
    if found.empty:
        return None
    row = found.iloc[0]
    person = str(row["person_id"])
    return MissedFlag(
        case_id,
        person,
        services.roster.persons[person].name,
        pd.Timestamp(row["passed_at"]).to_pydatetime(),
        float(row["distance_m"]),
        tuple(services.store.missed_report_contests([case_id])),
    )


def contest_missed_report(
    services: Services, caller: Caller, case_id: str, *, comment: str, client_id: str | None = None
) -> Contest:
    """Record the caller's contest of the missed-report flag on ``case_id``.

    Only the worker the flag names may contest it, with a comment; a resend with the same
    ``client_id`` records nothing twice."""
    text = comment.strip()
    if not text:
        raise AnalyticsError("a contest needs a comment saying why the flag is wrong")
    flag = missed_flag(services, case_id)
    if flag is None:
        raise AnalyticsError(f"case {case_id} is not flagged as a missed report")
    if flag.person_id != caller.actor.actor_id:
        raise ForbiddenError(f"only {flag.person_name} may contest the flag on case {case_id}")
    return services.store.contest_missed_report(
        case_id, person_id=caller.actor.actor_id, comment=text, at=services.now(),
        client_id=client_id,
    )  # fmt: skip
