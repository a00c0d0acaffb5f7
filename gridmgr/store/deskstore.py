"""The command center's desk in the store: the invariant queries of the "nothing escapes the
grid" check, the work a new shift takes over, and what a leader's digest lists.

Each invariant is one query over the open cases (:meth:`DeskMethods.invariant_counts`; see
:mod:`gridmgr.services.invariants`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy import case as sql_case

from gridmgr.cases import Case
from gridmgr.store.casestore import (
    MERGED_QUEUE,
    OPEN_STATES,
    _scoped,
    can_climb,
    row_to_case,
)
from gridmgr.store.schema import cases
from gridmgr.store.transactions import StoreBase


@dataclass(frozen=True)
class InvariantCount:
    """One invariant over the open cases: how many break it, of how many, and the first ids."""

    count: int
    total: int
    case_ids: tuple[str, ...]


INVARIANT_KEYS = ("holders", "deadlines", "escalated", "queues")
"""The invariants :meth:`CaseMethods.invariant_counts` counts (see
:mod:`gridmgr.services.invariants`)."""


def invariant_conditions(at: datetime, grace: timedelta) -> dict[str, ColumnElement[bool]]:
    """Each invariant's breach, as a condition on an open, unmerged case."""
    return {
        "holders": cases.c.holder_id.is_(None),
        "deadlines": cases.c.due_at.is_(None),
        "escalated": can_climb() & (cases.c.due_at <= at - grace),
        "queues": cases.c.queue.in_(("out_of_grid", "unlocated")) & (cases.c.due_at <= at),
    }


def select_invariant(
    breach: ColumnElement[bool], scope: tuple[str, ...] | None, first: int
) -> Select[Any]:
    """One query for one invariant: the first ``first`` breaking cases (earliest deadline
    first), each row with the number of breaches and of open cases in scope (window sums)."""
    open_ = cases.c.state.in_(OPEN_STATES) & (cases.c.queue != MERGED_QUEUE)
    flagged = sql_case((breach, 1), else_=0)
    inner = _scoped(
        select(
            cases.c.case_id,
            cases.c.due_at,
            cases.c.number,
            flagged.label("flagged"),
            func.sum(flagged).over().label("breaches"),
            func.count().over().label("total"),
        ).where(open_),
        scope,
    ).subquery()
    return (
        select(inner.c.case_id, inner.c.breaches, inner.c.total, inner.c.flagged)
        .order_by(inner.c.flagged.desc(), inner.c.due_at, inner.c.number)
        .limit(first)
    )


class DeskMethods(StoreBase):
    """The store's reads for the command center's desk."""

    def invariant_counts(
        self,
        at: datetime,
        *,
        grace: timedelta,
        scope: tuple[str, ...] | None = None,
        first: int = 5,
    ) -> dict[str, InvariantCount]:
        """Each invariant of :data:`INVARIANT_KEYS` over the open cases in ``scope`` at ``at``:
        one query each."""
        out: dict[str, InvariantCount] = {}
        with self._read() as conn:
            for key, breach in invariant_conditions(at, grace).items():
                rows = conn.execute(select_invariant(breach, scope, first)).all()
                count = int(rows[0].breaches or 0) if rows else 0
                total = int(rows[0].total) if rows else 0
                ids = tuple(r.case_id for r in rows if r.flagged)
                out[key] = InvariantCount(count, total, ids)
        return out

    def desk_cases_not_held_by(self, person_ids: Sequence[str], *, limit: int = 5000) -> list[Case]:
        """Open, unmerged cases at the command center (held under the operator seat, or by
        nobody) whose holder is not one of ``person_ids``: the work a new shift takes over."""
        query = (
            select(cases)
            .where(
                cases.c.state.in_(OPEN_STATES),
                cases.c.queue != MERGED_QUEUE,
                or_(cases.c.holder_post == "operator:", cases.c.holder_id.is_(None)),
                or_(cases.c.holder_id.is_(None), cases.c.holder_id.not_in(list(person_ids))),
            )
            .order_by(cases.c.due_at, cases.c.number)
            .limit(limit)
        )
        with self._read() as conn:
            return [row_to_case(r) for r in conn.execute(query).mappings()]

    def untouched_cases(
        self, before: datetime, *, scope: tuple[str, ...] | None, limit: int = 200
    ) -> list[Case]:
        """Open, unmerged cases in ``scope`` whose last event is before ``before``, oldest first
        (a leader's digest)."""
        query = _scoped(
            select(cases).where(
                cases.c.state.in_(OPEN_STATES),
                cases.c.queue != MERGED_QUEUE,
                cases.c.updated_at < before,
            ),
            scope,
        ).order_by(cases.c.updated_at, cases.c.number)
        with self._read() as conn:
            return [row_to_case(r) for r in conn.execute(query.limit(limit)).mappings()]
