"""What a batch knows of the open cases an escalation pass asks about, so a pass with nothing to
do reads nothing.

An escalation pass (:func:`gridmgr.services.escalate_overdue`, :func:`gridmgr.services.hand_over`)
asks the database two questions: which open stages are due by now, and which of the command
center's cases are held by someone not on duty. Inside :meth:`gridmgr.store.Store.batch` a read
must first write every held-back change (:mod:`gridmgr.store.pending`), and a simulated month
runs a pass every five minutes: most of them find nothing, yet each forced the batch out to the
database and scanned the open cases. :class:`OpenCaseWatch` answers "could anything be found?"
from memory — read once, then kept up to date by every change the batch holds back — and the
store asks the database only when the answer is yes, so what a pass finds is what the query
finds, at the same moment.

The watch may over-estimate (a case whose queue it does not know counts as unmerged), never
under-estimate: a yes costs one query, a wrong no would lose an escalation.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from gridmgr.cases import Case
from gridmgr.store.caserows import MERGED_QUEUE, OPEN_STATES
from gridmgr.store.schema import cases

DESK_POST = "operator:"
"""The holder post of the command center's seat (a case with no holder is at the desk, too)."""

_OPEN = frozenset(OPEN_STATES)
_WATCHED = select(
    cases.c.case_id,
    cases.c.state,
    cases.c.queue,
    cases.c.stage,
    cases.c.card,
    cases.c.due_at,
    cases.c.holder_id,
    cases.c.holder_post,
).where(cases.c.state.in_(OPEN_STATES))


class OpenCaseWatch:
    """The deadlines that can climb a rung, and the holders of the desk's work, of every open
    case; kept up to date with :meth:`note`.

    >>> from datetime import UTC
    >>> watch = OpenCaseWatch()
    >>> noon = datetime(2026, 11, 2, 4, tzinfo=UTC)
    >>> watch.note_row({"case_id": "a", "state": "dispatched", "queue": "grid", "stage": "handle",
    ...                 "card": None, "due_at": noon, "holder_id": "P1", "holder_post": "x"})
    >>> watch.is_due_by(noon), watch.is_due_by(noon.replace(hour=3))
    (True, False)
    """

    def __init__(self) -> None:
        self._due: dict[str, datetime] = {}
        """Each open, unmerged case's deadline, when its stage can climb a rung."""
        self._heap: list[tuple[datetime, str]] = []
        """:attr:`_due` as a heap; an entry :attr:`_due` no longer holds is dropped when met."""
        self._desk: dict[str, str | None] = {}
        """Each open, unmerged case at the desk: its holder's id (``None``: nobody)."""
        self._merged: set[str] = set()
        """Open cases known to be in the merged queue (a held-back change keeps the queue)."""

    @classmethod
    def read(cls, conn: Connection) -> OpenCaseWatch:
        """The watch of the open cases as ``conn`` sees them (one query)."""
        watch = cls()
        for row in conn.execute(_WATCHED).mappings():
            watch.note_row(row)
        return watch

    def note_row(self, row: Mapping[Any, Any]) -> None:
        """Take a case's row (its ``cases`` columns) as it is now."""
        case_id = row["case_id"]
        if row["queue"] == MERGED_QUEUE:
            self._merged.add(case_id)
        else:
            self._merged.discard(case_id)
        self._take(
            case_id,
            is_open=row["state"] in _OPEN,
            can_climb=row["stage"] is not None and row["card"] != "red",
            due_at=row["due_at"],
            holder=(row["holder_id"], row["holder_post"]),
        )

    def note(self, case: Case) -> None:
        """Take ``case`` as it is now (a change held back: its queue is as before)."""
        h = case.holder
        self._take(
            case.case_id,
            is_open=case.state.is_open,
            can_climb=case.stage is not None and case.card != "red",
            due_at=case.due_at,
            holder=(None, None) if h is None else (h.person_id, h.post),
        )

    def _take(
        self,
        case_id: str,
        *,
        is_open: bool,
        can_climb: bool,
        due_at: datetime | None,
        holder: tuple[str | None, str | None],
    ) -> None:
        watched = is_open and case_id not in self._merged
        due = due_at if watched and can_climb else None
        if due is None:
            self._due.pop(case_id, None)
        elif self._due.get(case_id) != due:
            self._due[case_id] = due
            heapq.heappush(self._heap, (due, case_id))
        holder_id, post = holder
        if watched and (holder_id is None or post == DESK_POST):
            self._desk[case_id] = holder_id
        else:
            self._desk.pop(case_id, None)

    def is_due_by(self, now: datetime) -> bool:
        """Whether an open stage (or its rung) that can climb is due by ``now``."""
        heap, due = self._heap, self._due
        while heap and due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        if len(heap) > 2 * len(due) + 64:  # many stale entries: start again from the dict
            self._heap = heap = [(at, case_id) for case_id, at in due.items()]
            heapq.heapify(heap)
        return bool(heap) and heap[0][0] <= now

    def has_desk_work_besides(self, person_ids: Collection[str]) -> bool:
        """Whether an open case at the desk is held by nobody or by someone not in
        ``person_ids``."""
        held = set(person_ids)
        return any(h is None or h not in held for h in self._desk.values())
