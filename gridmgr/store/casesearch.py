"""The command center's work queues and the case search, as indexed SQL.

A work queue is the open cases of one state (and intake queue) that the command center must act
on, earliest deadline first (the ``(state, due_at)`` index). The search finds cases by number,
id, cell code, person id and words, each through an index: number, id and person ids by their
B-tree indexes, a cell code as a range on ``cell`` (a prefix), the words (description, address,
holder's and assignee's names) through the FTS5 trigram table ``case_search`` on SQLite and a
``pg_trgm`` GIN index on PostgreSQL (migration 0008). Never a scan in Python.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, select, union

from gridmgr.cases import Case, CaseState
from gridmgr.store.casestore import MERGED_QUEUE, CaseFilter, row_to_case, select_cases
from gridmgr.store.schema import SEARCH_WORDS, case_search, cases
from gridmgr.store.transactions import StoreBase


@dataclass(frozen=True)
class WorkQueue:
    """One work queue of the command center: the open cases in ``state`` (and, for reports, in
    the intake ``queue``: ``cell``, ``out_of_grid`` or ``unlocated``)."""

    key: str
    state: str
    queue: str | None = None


WORK_QUEUES = (
    WorkQueue("register", CaseState.REPORTED.value, "cell"),
    WorkQueue("dispatch", CaseState.REGISTERED.value),
    WorkQueue("returned", CaseState.RETURNED.value),
    WorkQueue("close", CaseState.VERIFIED.value),
    WorkQueue("out_of_grid", CaseState.REPORTED.value, "out_of_grid"),
    WorkQueue("unlocated", CaseState.REPORTED.value, "unlocated"),
)
"""待立案, 待派遣, 退回待处理, 待结案, 网格外, 待定位 — in the order the page shows them."""


@dataclass(frozen=True)
class CaseRow:
    """A case with the columns a list shows beside it: its number and the address reported."""

    case: Case
    number: int
    address: str | None


SEARCH_MAX = 100
"""Characters of a search looked at."""
_DIGITS = "0123456789"
_HEX = "0123456789abcdef"
_HEX_ID = re.compile(r"^[0-9a-f]{4,32}$")


def successor(prefix: str, alphabet: str) -> str | None:
    """The smallest string above every string starting with ``prefix`` (over ``alphabet``), so a
    prefix is the B-tree range ``[prefix, successor)``; ``None``: no bound above.

    >>> successor("320281001", _DIGITS), successor("3209", _DIGITS), successor("99", _DIGITS)
    ('320281002', '321', None)
    """
    chars = list(prefix)
    while chars:
        last = chars.pop()
        at = alphabet.find(last)
        if 0 <= at < len(alphabet) - 1:
            return "".join(chars) + alphabet[at + 1]
    return None


def _prefix_of(col: ColumnElement[str], prefix: str, alphabet: str) -> ColumnElement[bool]:
    above = successor(prefix, alphabet)
    at_least = col >= prefix
    return at_least if above is None else at_least & (col < above)


def words_like(text: str, dialect: str) -> ColumnElement[bool]:
    """Cases whose words contain ``text``, through the backend's index.

    PostgreSQL: ``ILIKE`` on :data:`SEARCH_WORDS` (backslash is its default LIKE escape).
    SQLite: FTS5 reads its trigram index for a phrase ``MATCH`` (three characters or more);
    shorter text has no trigram, so it is a ``LIKE`` over the FTS table (an ``ESCAPE`` clause
    would hide even a longer pattern from FTS5, hence the phrase).
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if dialect == "postgresql":
        return literal_column(SEARCH_WORDS).ilike(f"%{escaped}%")
    words = case_search.c.words
    if len(text) >= 3:
        condition = words.match('"' + text.replace('"', '""') + '"')
    else:
        condition = words.like(f"%{escaped}%", escape="\\")
    return cases.c.number.in_(select(case_search.c.rowid).where(condition))


def select_search(text: str, where: CaseFilter, dialect: str) -> Select[Any]:
    """The cases in ``where`` (its scope) found by ``text``: its number, an id prefix, a cell
    code prefix, a person's id, or words of the case; newest first. One UNION of index reads."""
    q = text.strip()[:SEARCH_MAX]
    key = select(cases.c.case_id)
    branches = [
        key.where(words_like(q, dialect)),
        key.where(cases.c.holder_id == q),
        key.where(cases.c.assignee_id == q),
    ]
    if q.isdigit() and q.isascii():
        branches.append(key.where(_prefix_of(cases.c.cell, q, _DIGITS)))
        if len(q) <= 18:  # a BIGINT
            branches.append(key.where(cases.c.number == int(q)))
    if _HEX_ID.match(q.lower()):
        branches.append(key.where(_prefix_of(cases.c.case_id, q.lower(), _HEX)))
    found = union(*branches).subquery()
    return select_cases(where).where(cases.c.case_id.in_(select(found.c.case_id)))


def select_work_queue(queue: WorkQueue, where: CaseFilter) -> Select[Any]:
    """One work queue in ``where`` (its scope), the earliest deadline first (none: first)."""
    query = select_cases(
        CaseFilter(
            states=[queue.state],
            queue=queue.queue,
            scope=where.scope,
            visible_to=where.visible_to,
        )
    ).where(cases.c.queue != MERGED_QUEUE)
    return query.order_by(None).order_by(cases.c.due_at.asc().nulls_first(), cases.c.number)


def select_queue_counts(where: CaseFilter) -> Select[Any]:
    """How many cases each (state, intake queue) of the work queues holds in ``where``."""
    states = sorted({q.state for q in WORK_QUEUES})
    inner = (
        select_cases(CaseFilter(states=states, scope=where.scope, visible_to=where.visible_to))
        .where(cases.c.queue != MERGED_QUEUE)
        .order_by(None)
        .subquery()
    )
    return select(inner.c.state, inner.c.queue, func.count()).group_by(inner.c.state, inner.c.queue)


def _case_row(row: Any) -> CaseRow:
    return CaseRow(row_to_case(row), int(row["number"]), row["address"])


class CaseSearchMethods(StoreBase):
    """The store's work queues and case search."""

    def work_queue(self, queue: WorkQueue, where: CaseFilter, *, limit: int) -> list[CaseRow]:
        """The cases of ``queue`` in ``where``'s scope, the earliest deadline first."""
        with self._read() as conn:
            rows = conn.execute(select_work_queue(queue, where).limit(limit)).mappings()
            return [_case_row(r) for r in rows]

    def work_queue_counts(self, where: CaseFilter) -> dict[str, int]:
        """How many cases each work queue (by key) holds in ``where``'s scope."""
        with self._read() as conn:
            held = {(r[0], r[1]): int(r[2]) for r in conn.execute(select_queue_counts(where))}
        out = {}
        for q in WORK_QUEUES:
            if q.queue is not None:
                out[q.key] = held.get((q.state, q.queue), 0)
            else:
                out[q.key] = sum(n for (state, _), n in held.items() if state == q.state)
        return out

    def search_cases(self, text: str, where: CaseFilter, *, limit: int) -> list[CaseRow]:
        """The cases in ``where``'s scope found by ``text`` (see :func:`select_search`)."""
        if not text.strip():
            return []
        query = select_search(text, where, self.backend).limit(limit)
        with self._read() as conn:
            return [_case_row(r) for r in conn.execute(query).mappings()]


def queue_named(key: str, queues: Sequence[WorkQueue] = WORK_QUEUES) -> WorkQueue:
    """The work queue of ``key`` (``LookupError`` naming the keys there are)."""
    for q in queues:
        if q.key == key:
            return q
    raise LookupError(f"no work queue {key!r}; there are {', '.join(q.key for q in queues)}")
