"""The monthly assessment (考核) in SQL: the stage events it reads, closed scorecards, contests.

A closed scorecard is one row of ``assessments`` (a month's version) written with its ledger
event (``assessment.closed``, its digest in the details) in one transaction; a worker's contest of
a missed report (漏报) is one row of ``missed_report_contests`` with its ledger event
(``assessment.contest``). Both tables are append-only in the database itself (migration 0011).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Select, func, insert, select

from gridmgr.errors import StoreError
from gridmgr.store.casestore import (
    CASE_OWN_COLUMNS,
    facts_from_events,
    load_case,
    select_case_columns,
)
from gridmgr.store.casestore import in_scope as scoped
from gridmgr.store.ledgerstore import append
from gridmgr.store.rawread import driver_rows, frame_of
from gridmgr.store.schema import assessments, case_events, cases, missed_report_contests
from gridmgr.store.transactions import StoreBase

if TYPE_CHECKING:
    import pandas as pd

STAGE_EVENT_COLUMNS = ["case_id", "seq", "action", "at", "from_state", "to_state", "due_at"]
"""The columns of :meth:`AssessmentMethods.stage_events` (``due_at`` as recorded, ISO text)."""


class AssessmentClosedError(StoreError):
    """The month already has a closed scorecard of that version (a closed month never changes)."""


@dataclass(frozen=True)
class ClosedAssessment:
    """One stored version of a month's scorecard."""

    month: str
    version: int
    closed_at: datetime
    actor: str
    digest: str
    supersedes: int | None
    reason: str | None
    body: Mapping[str, Any]
    ledger_seq: int


@dataclass(frozen=True)
class Contest:
    """A worker's contest of a missed-report flag on a case."""

    case_id: str
    person_id: str
    at: datetime
    comment: str
    ledger_seq: int


def insert_version(
    conn: Connection,
    month: str,
    *,
    body: Mapping[str, Any],
    digest: str,
    at: datetime,
    actor: str,
    supersedes: int | None,
    reason: str | None,
) -> ClosedAssessment:
    """Insert the month's next scorecard version and its ``assessment.closed`` ledger event on
    ``conn`` (inside a write transaction): see :meth:`AssessmentMethods.close_assessment`."""
    latest = conn.execute(
        select(func.max(assessments.c.version)).where(assessments.c.month == month)
    ).scalar_one()
    version = 1 if latest is None else int(latest) + 1
    if latest is not None and supersedes != latest:
        raise AssessmentClosedError(
            f"{month} is closed (version {latest}); a corrected scorecard must "
            f"supersede version {latest}"
        )
    details = {"month": month, "version": version, "digest": digest,
               "supersedes": supersedes, "reason": reason}  # fmt: skip
    event = append(conn, at=at, kind="assessment.closed", actor=actor,
                   subject=f"assessment:{month}", details=details)  # fmt: skip
    row: dict[str, Any] = {
        "month": month, "version": version, "closed_at": at, "actor": actor,
        "digest": digest, "supersedes": supersedes, "reason": reason,
        "body": dict(body), "ledger_seq": event.seq,
    }  # fmt: skip
    conn.execute(insert(assessments), [row])
    return ClosedAssessment(**row)


def select_stage_events(
    since: datetime | None, until: datetime | None, scope: tuple[str, ...] | None
) -> Select[Any]:
    """The :data:`STAGE_EVENT_COLUMNS` of the events of the cases reported in ``[since, until)``
    in ``scope``, by case then sequence."""
    ev, c = case_events.c, cases.c
    query = (
        select(
            ev.case_id,
            ev.id,
            ev.action,
            ev.at,
            ev.from_state,
            ev.to_state,
            ev.details["due_at"].as_string(),
        )
        .select_from(case_events.join(cases, ev.case_id == c.case_id))
        .order_by(ev.case_id, ev.id)
    )
    if since is not None:
        query = query.where(c.reported_at >= since)
    if until is not None:
        query = query.where(c.reported_at < until)
    return scoped(query, scope)


def _timed(events: pd.DataFrame) -> pd.DataFrame:
    """A stage-events frame of the driver's values with ``at`` as aware UTC times."""
    import pandas as pd

    events["at"] = pd.to_datetime(events["at"], utc=True, format="ISO8601")
    return events


class AssessmentMethods(StoreBase):
    """The store's doors to the assessment's reads and records."""

    def stage_events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        scope: tuple[str, ...] | None = None,
    ) -> pd.DataFrame:
        """The events of the cases reported in ``[since, until)`` in ``scope`` (tier-1 codes,
        or cell-code prefixes), in order: :data:`STAGE_EVENT_COLUMNS`, the deadline each set
        (``due_at``, as recorded in the event's details; ``None`` where it set none)."""
        with self._read() as conn:
            rows = driver_rows(conn, select_stage_events(since, until, scope))
        return _timed(frame_of(rows, STAGE_EVENT_COLUMNS))

    def month_facts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        scope: tuple[str, ...] | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:meth:`case_facts` and :meth:`stage_events` of the same cases, read in one transaction
        (they agree) and scanning the events once: the facts' first times and escalations are
        taken from the events read for the stages (:func:`facts_from_events`)."""
        with self._read() as conn:  # a month's events are hundreds of thousands of rows
            own = driver_rows(conn, select_case_columns(since, until, scope))
            rows = driver_rows(conn, select_stage_events(since, until, scope))
        events = frame_of(rows, STAGE_EVENT_COLUMNS)
        facts = facts_from_events(frame_of(own, CASE_OWN_COLUMNS), events)
        return facts, _timed(events)

    def close_assessment(
        self,
        month: str,
        *,
        body: Mapping[str, Any],
        digest: str,
        at: datetime,
        actor: str,
        supersedes: int | None = None,
        reason: str | None = None,
    ) -> ClosedAssessment:
        """Store ``body`` as the month's next version with its ledger event
        (``assessment.closed``: month, version, digest, supersedes) in one transaction.

        Version 1 closes the month; a later version must name the one it corrects
        (``supersedes``, the latest), or :class:`AssessmentClosedError` is raised."""
        with self._write() as conn:
            return insert_version(conn, month, body=body, digest=digest, at=at, actor=actor,
                                  supersedes=supersedes, reason=reason)  # fmt: skip

    def closed_assessments(self, month: str) -> list[ClosedAssessment]:
        """Every stored version of the month's scorecard, oldest first (empty: not closed)."""
        query = (
            select(assessments).where(assessments.c.month == month).order_by(assessments.c.version)
        )
        with self._read() as conn:
            rows = conn.execute(query).mappings()
            return [ClosedAssessment(**{str(k): v for k, v in r.items()}) for r in rows]

    def contest_missed_report(
        self,
        case_id: str,
        *,
        person_id: str,
        comment: str,
        at: datetime,
        client_id: str | None = None,
    ) -> Contest:
        """Record ``person_id``'s contest of the missed-report flag on ``case_id`` with its
        ledger event (``assessment.contest``), in one transaction.

        A resend (the same ``person_id`` and ``client_id``) records nothing and returns the
        contest recorded the first time."""
        t = missed_report_contests.c
        columns = (t.case_id, t.person_id, t.at, t.comment, t.ledger_seq)
        with self._write() as conn:  # the ledger lock: no second writer between look and write
            if client_id is not None:
                sent = (
                    conn.execute(
                        select(*columns).where(t.person_id == person_id, t.client_id == client_id)
                    )
                    .mappings()
                    .first()
                )
                if sent is not None:
                    return Contest(**{str(k): v for k, v in sent.items()})
            load_case(conn, case_id)  # an unknown case is refused by name
            details = {"comment": comment, **({"client_id": client_id} if client_id else {})}
            event = append(conn, at=at, kind="assessment.contest", actor=person_id,
                           subject=case_id, details=details)  # fmt: skip
            row: dict[str, Any] = {"case_id": case_id, "person_id": person_id, "at": at,
                   "comment": comment, "ledger_seq": event.seq}  # fmt: skip
            conn.execute(insert(missed_report_contests), [{**row, "client_id": client_id}])
        return Contest(**row)

    def missed_report_contests(self, case_ids: list[str] | None = None) -> list[Contest]:
        """Contests of missed-report flags (on ``case_ids``, default all), oldest first."""
        t = missed_report_contests.c
        query = select(t.case_id, t.person_id, t.at, t.comment, t.ledger_seq).order_by(t.id)
        if case_ids is not None:
            query = query.where(t.case_id.in_(case_ids))
        with self._read() as conn:
            rows = conn.execute(query).mappings()
            return [Contest(**{str(k): v for k, v in r.items()}) for r in rows]


__all__ = [
    "STAGE_EVENT_COLUMNS",
    "AssessmentClosedError",
    "AssessmentMethods",
    "ClosedAssessment",
    "Contest",
    "insert_version",
]
