"""Appeals (申诉) of a closed month's scorecard in SQL: filed, decided, and the corrected version.

An appeal is one row of ``assessment_appeals`` written with its ledger event
(``assessment.appeal``); its decision one row of ``assessment_appeal_decisions`` with its event
(``assessment.appeal_decided``). An upheld appeal's corrected scorecard is stored as the month's
next version (``assessment.closed``, naming the version it supersedes) in the *same* transaction
as the decision, so a decision and its correction cannot be separated. Both tables are
append-only in the database itself (migration 0014).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, func, insert, select

from gridmgr.errors import GridMgrError, StoreError
from gridmgr.store.assessstore import ClosedAssessment, insert_version
from gridmgr.store.deskstore import InvariantCount
from gridmgr.store.ledgerstore import append
from gridmgr.store.schema import assessment_appeal_decisions as decisions
from gridmgr.store.schema import assessment_appeals as appeals
from gridmgr.store.schema import assessments
from gridmgr.store.transactions import StoreBase

Correction = Callable[[ClosedAssessment], tuple[dict[str, Any], str]]
"""Given the month's latest version, the corrected body and its digest."""


class AppealNotFoundError(GridMgrError, LookupError):
    """No appeal has that id."""


class AppealConflictError(StoreError):
    """The appeal is decided already, or the same figure has an appeal still open."""


@dataclass(frozen=True)
class AppealDecision:
    """A manager's decision on an appeal; ``new_version`` is the corrected scorecard an upheld
    appeal published."""

    appeal_id: str
    upheld: bool
    reason: str
    person_id: str
    decided_at: datetime
    new_version: int | None
    ledger_seq: int


@dataclass(frozen=True)
class Appeal:
    """An appeal of one indicator of one unit in a closed month, who decides it, by when."""

    appeal_id: str
    month: str
    version: int
    level: str
    unit: str
    indicator: str
    reason: str
    person_id: str
    filed_at: datetime
    decider_id: str
    due_at: datetime
    ledger_seq: int
    decision: AppealDecision | None = None

    @property
    def is_open(self) -> bool:
        """Whether it still waits for its decision."""
        return self.decision is None


_APPEAL_COLUMNS = [c for c in appeals.c if c.name != "client_id"]


def _appeal_query() -> Select[Any]:
    return (
        select(*_APPEAL_COLUMNS, *(c.label(f"d_{c.name}") for c in decisions.c))
        .select_from(appeals.outerjoin(decisions, appeals.c.appeal_id == decisions.c.appeal_id))
        .order_by(appeals.c.filed_at, appeals.c.appeal_id)
    )


def _to_appeal(row: RowMapping) -> Appeal:
    decision = None
    if row["d_appeal_id"] is not None:
        decision = AppealDecision(**{c.name: row[f"d_{c.name}"] for c in decisions.c})
    return Appeal(**{c.name: row[c.name] for c in _APPEAL_COLUMNS}, decision=decision)


def _load(conn: Connection, appeal_id: str) -> Appeal:
    row = conn.execute(_appeal_query().where(appeals.c.appeal_id == appeal_id)).mappings().first()
    if row is None:
        raise AppealNotFoundError(
            f"no appeal {appeal_id!r}; list a month's appeals with `gridmgr assess appeals MONTH`"
        )
    return _to_appeal(row)


class AppealMethods(StoreBase):
    """The store's doors to appeals and their decisions."""

    def file_appeal(
        self,
        *,
        month: str,
        version: int,
        level: str,
        unit: str,
        indicator: str,
        reason: str,
        person_id: str,
        at: datetime,
        decider_id: str,
        due_at: datetime,
        client_id: str | None = None,
    ) -> Appeal:
        """Record an appeal with its ledger event (``assessment.appeal``), in one transaction.

        A resend (the same ``person_id`` and ``client_id``) records nothing and returns the
        appeal filed the first time; a second appeal of a figure whose appeal is still open is
        refused (:class:`AppealConflictError`, naming it)."""
        a = appeals.c
        with self._write() as conn:  # the ledger lock: no second writer between look and write
            if client_id is not None:
                sent = conn.execute(
                    select(a.appeal_id).where(a.person_id == person_id, a.client_id == client_id)
                ).scalar_one_or_none()
                if sent is not None:
                    return _load(conn, sent)
            same = _appeal_query().where(
                a.month == month, a.level == level, a.unit == unit, a.indicator == indicator,
                decisions.c.appeal_id.is_(None),
            )  # fmt: skip
            pending = conn.execute(same).mappings().first()
            if pending is not None:
                raise AppealConflictError(
                    f"{indicator} of {unit} in {month} is already under appeal "
                    f"({pending['appeal_id']}, due {pending['due_at']:%Y-%m-%d %H:%M})"
                )
            filed = conn.execute(select(func.count()).where(a.month == month)).scalar_one()
            appeal_id = f"AP{month.replace('-', '')}-{int(filed) + 1:03d}"
            details = {"appeal_id": appeal_id, "month": month, "version": version,
                       "level": level, "unit": unit, "indicator": indicator, "reason": reason,
                       "decider_id": decider_id, "due_at": due_at.isoformat()}  # fmt: skip
            event = append(conn, at=at, kind="assessment.appeal", actor=person_id,
                           subject=f"assessment:{month}", details=details)  # fmt: skip
            row: dict[str, Any] = {
                "appeal_id": appeal_id, "month": month, "version": version, "level": level,
                "unit": unit, "indicator": indicator, "reason": reason, "person_id": person_id,
                "filed_at": at, "decider_id": decider_id, "due_at": due_at,
                "ledger_seq": event.seq,
            }  # fmt: skip
            conn.execute(insert(appeals), [{**row, "client_id": client_id}])
        return Appeal(**row)

    def decide_appeal(
        self,
        appeal_id: str,
        *,
        upheld: bool,
        reason: str,
        person_id: str,
        at: datetime,
        correct: Correction | None = None,
    ) -> Appeal:
        """Record the decision on an appeal with its ledger event (``assessment.appeal_decided``)
        and, when upheld, the corrected scorecard ``correct`` makes of the month's latest version
        as the next version (superseding it), all in one transaction.

        An appeal is decided once: the same decision again records nothing and returns the
        appeal as decided (a resend); another is refused (:class:`AppealConflictError`)."""
        with self._write() as conn:
            appeal = _load(conn, appeal_id)
            done = appeal.decision
            if done is not None:
                if done.upheld == upheld and done.person_id == person_id:
                    return appeal
                verdict = "upheld" if done.upheld else "rejected"
                raise AppealConflictError(
                    f"appeal {appeal_id} was {verdict} by {done.person_id} on "
                    f"{done.decided_at:%Y-%m-%d %H:%M}; a decision is final"
                )
            new_version = None
            if upheld:
                if correct is None:
                    raise StoreError("an upheld appeal needs its correction")
                latest = self._latest(conn, appeal.month)
                body, digest = correct(latest)
                stored = insert_version(
                    conn, appeal.month, body=body, digest=digest, at=at, actor=person_id,
                    supersedes=latest.version, reason=f"appeal {appeal_id} upheld: {reason}",
                )  # fmt: skip
                new_version = stored.version
            details = {"appeal_id": appeal_id, "upheld": upheld, "reason": reason,
                       "new_version": new_version}  # fmt: skip
            event = append(conn, at=at, kind="assessment.appeal_decided", actor=person_id,
                           subject=f"assessment:{appeal.month}", details=details)  # fmt: skip
            row: dict[str, Any] = {
                "appeal_id": appeal_id, "upheld": upheld, "reason": reason,
                "person_id": person_id, "decided_at": at, "new_version": new_version,
                "ledger_seq": event.seq,
            }  # fmt: skip
            conn.execute(insert(decisions), [row])
        return replace(appeal, decision=AppealDecision(**row))

    @staticmethod
    def _latest(conn: Connection, month: str) -> ClosedAssessment:
        query = (
            select(assessments)
            .where(assessments.c.month == month)
            .order_by(assessments.c.version.desc())
            .limit(1)
        )
        row = conn.execute(query).mappings().one()
        return ClosedAssessment(**{str(k): v for k, v in row.items()})

    def appeal(self, appeal_id: str) -> Appeal:
        """One appeal with its decision, if any (:class:`AppealNotFoundError` if none)."""
        with self._read() as conn:
            return _load(conn, appeal_id)

    def appeals(self, month: str | None = None, *, open_only: bool = False) -> list[Appeal]:
        """The appeals (of ``month``, default all), oldest first, each with its decision."""
        query = _appeal_query()
        if month is not None:
            query = query.where(appeals.c.month == month)
        if open_only:
            query = query.where(decisions.c.appeal_id.is_(None))
        with self._read() as conn:
            return [_to_appeal(r) for r in conn.execute(query).mappings()]

    def overdue_appeals(self, at: datetime, *, first: int = 5) -> InvariantCount:
        """Open appeals past their decision deadline at ``at``, of all open appeals (the
        invariant's one query); ``case_ids`` holds the first overdue appeal ids."""
        open_ = decisions.c.appeal_id.is_(None)
        late = open_ & (appeals.c.due_at <= at)
        base = appeals.outerjoin(decisions, appeals.c.appeal_id == decisions.c.appeal_id)
        counts = select(func.count().filter(late), func.count().filter(open_)).select_from(base)
        ids = (
            select(appeals.c.appeal_id)
            .select_from(base)
            .where(late)
            .order_by(appeals.c.due_at, appeals.c.appeal_id)
            .limit(first)
        )
        with self._read() as conn:
            count, total = conn.execute(counts).one()
            shown = tuple(str(r) for r in conn.execute(ids).scalars())
        return InvariantCount(int(count), int(total), shown)


__all__ = [
    "Appeal",
    "AppealConflictError",
    "AppealDecision",
    "AppealMethods",
    "AppealNotFoundError",
    "Correction",
]
