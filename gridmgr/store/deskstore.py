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
    can_climb,
    in_scope,
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


def _open_in(scope: tuple[str, ...] | None, query: Select[Any]) -> Select[Any]:
    open_ = cases.c.state.in_(OPEN_STATES) & (cases.c.queue != MERGED_QUEUE)
    return in_scope(query.where(open_), scope)


def select_invariant_counts(
    conditions: dict[str, ColumnElement[bool]], scope: tuple[str, ...] | None
) -> Select[Any]:
    """One pass over the open cases in scope: how many there are, and how many break each
    invariant (one conditional sum per line)."""
    sums = [
        func.coalesce(func.sum(sql_case((breach, 1), else_=0)), 0).label(key)
        for key, breach in conditions.items()
    ]
    return _open_in(scope, select(func.count().label("total"), *sums))


def select_first_breaches(
    breach: ColumnElement[bool], scope: tuple[str, ...] | None, first: int
) -> Select[Any]:
    """The first ``first`` open cases breaking one invariant, earliest deadline first."""
    query = select(cases.c.case_id).where(breach)
    return _open_in(scope, query).order_by(cases.c.due_at, cases.c.number).limit(first)


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
        one pass over the open cases counts every line; a red line then names its first
        ``first`` cases (one indexed query each)."""
        conditions = invariant_conditions(at, grace)
        with self._read() as conn:
            row = conn.execute(select_invariant_counts(conditions, scope)).one()
            total = int(row.total)
            out: dict[str, InvariantCount] = {}
            for key, breach in conditions.items():
                count = int(getattr(row, key))
                ids: tuple[str, ...] = ()
                if count:  # a red line names its first cases (a green one costs nothing more)
                    query = select_first_breaches(breach, scope, first)
                    ids = tuple(r.case_id for r in conn.execute(query))
                out[key] = InvariantCount(count, total, ids)
        return out

    def desk_cases_not_held_by(self, person_ids: Sequence[str], *, limit: int = 5000) -> list[Case]:
        """Open, unmerged cases at the command center (held under the operator seat, or by
        nobody) whose holder is not one of ``person_ids``: the work a new shift takes over."""
        watch = self._open_case_watch()
        if watch is not None and not watch.has_desk_work_besides(person_ids):
            return []  # inside a batch, known from memory: nothing to write out and read
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
        query = in_scope(
            select(cases).where(
                cases.c.state.in_(OPEN_STATES),
                cases.c.queue != MERGED_QUEUE,
                cases.c.updated_at < before,
            ),
            scope,
        ).order_by(cases.c.updated_at, cases.c.number)
        with self._read() as conn:
            return [row_to_case(r) for r in conn.execute(query.limit(limit)).mappings()]
