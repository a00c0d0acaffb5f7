"""The batch apply: case changes :meth:`~gridmgr.store.Store.batch` holds back, written together.

Inside a batch (one transaction, this thread its only writer) a report or a lifecycle action
does not send its five statements at once. Its rows — the case inserted or updated, its ledger
event (chained at once, so every hash is what it would have been), its case event and its
notices — wait in :class:`PendingWrites`, and go to the database together, one ``executemany``
per table, when anything else needs the database: a read (it must see them), a write that is
not held back, the end of the batch. A case changed several times in between is written once,
with its last version.

What a held-back change would have read back is answered from memory: the case as stored
(:meth:`PendingWrites.case`), the next case number, and the change to each person's count of
open stages held (:attr:`PendingWrites.held`), which the store adds to what the database says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from gridmgr.cases import Case
from gridmgr.errors import ConcurrentUpdateError
from gridmgr.notifications import Notice
from gridmgr.store.caserows import OPEN_STATES, case_to_row, row_to_case
from gridmgr.store.openwatch import OpenCaseWatch
from gridmgr.store.schema import LEDGER_COLUMNS, case_events, cases, ledger, notifications

INTAKE_DEFAULTS: Mapping[str, object] = {
    "channel": "grid_worker",
    "source_id": None,
    "address": None,
}
"""The intake columns every held-back insert names (the defaults the table would give)."""


class PendingWrites:
    """The rows of held-back case changes, in order, and what they imply for reads."""

    def __init__(self) -> None:
        self.inserts: dict[str, dict[str, Any]] = {}
        """New cases' rows by id, in report order (a later change of one is merged in)."""
        self.updates: dict[str, tuple[Case, Case]] = {}
        """Changed stored cases by id: (as stored, as it is now)."""
        self.ledger: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.notices: list[list[tuple[Notice, datetime]]] = []
        """Each change's notices, deduplicated at the flush as each change's own write would."""
        self.held: Counter[str] = Counter()
        """Open stages held by each person: the change the held-back rows make."""
        self.last_number: int | None = None
        self.cases: dict[str, Case] = {}
        """Cases as the database holds them (or will once flushed), read or written in the batch."""
        self.load: dict[str, int] = {}
        """Open stages held by each person asked about, held-back changes included."""
        self.watch: OpenCaseWatch | None = None
        """What an escalation pass asks of the open cases, held-back changes included, once
        asked (:mod:`gridmgr.store.openwatch`)."""

    def __bool__(self) -> bool:
        return bool(self.inserts or self.updates or self.ledger)

    def case(self, case_id: str) -> Case | None:
        """The case as stored, when this batch knows it."""
        return self.cases.get(case_id)

    def remember(self, case: Case) -> Case:
        """Keep ``case`` as read from the database; returns it."""
        self.cases[case.case_id] = case
        return case

    def forget(self, case_ids: Collection[str] | None = None) -> None:
        """Drop what the batch knows of cases ``case_ids`` (default: all), which a write not
        held back may have changed."""
        self.load.clear()
        if case_ids is None or case_ids:
            self.watch = None  # read again when next asked
        if case_ids is None:
            self.cases.clear()
            self.last_number = None
            return
        for case_id in case_ids:
            self.cases.pop(case_id, None)

    def insert(self, row: dict[str, Any], case: Case) -> None:
        """Hold back a new case's row (with its number, queue, tier and intake columns)."""
        self.inserts[case.case_id] = {**INTAKE_DEFAULTS, **row}
        self.last_number = int(row["number"])
        self._count(None, case)
        self.cases[case.case_id] = as_stored(case)
        if self.watch is not None:
            self.watch.note_row(self.inserts[case.case_id])

    def update(self, before: Case, after: Case) -> None:
        """Hold back ``after`` written over ``before`` (the case as stored)."""
        self._count(before, after)
        self.cases[after.case_id] = as_stored(after)
        if self.watch is not None:
            self.watch.note(after)
        new = self.inserts.get(after.case_id)
        if new is not None:
            new.update((k, v) for k, v in case_to_row(after).items() if k != "case_id")
            return
        first = self.updates.get(after.case_id)
        self.updates[after.case_id] = (before if first is None else first[0], after)

    def _count(self, before: Case | None, after: Case) -> None:
        old, new = _holder(before), _holder(after)
        if old != new:
            if old is not None:
                self.held[old] -= 1
                if old in self.load:
                    self.load[old] -= 1
            if new is not None:
                self.held[new] += 1
                if new in self.load:
                    self.load[new] += 1

    def flush(self, conn: Connection) -> None:
        """Write every held-back row, one statement a table (and a key set), in order."""
        if not self:
            return
        try:
            if self.inserts:
                conn.execute(_INSERT_CASE, list(self.inserts.values()))
            _write_updates(conn, list(self.updates.values()))
            if self.ledger:
                conn.execute(_INSERT_LEDGER, self.ledger)
            if self.events:
                conn.execute(_INSERT_EVENT, self.events)
            _write_notices(conn, self.notices)
        finally:
            self.inserts, self.updates, self.ledger, self.events, self.notices = {}, {}, [], [], []
            self.held.clear()
            self.last_number = None


def _holder(case: Case | None) -> str | None:
    """Whose open stage ``case`` counts as (the store's ``open_stages_held``)."""
    if case is None or case.holder is None or case.state.value not in OPEN_STATES:
        return None
    return case.holder.person_id


def as_stored(case: Case) -> Case:
    """``case`` as the store reads it back: its times in UTC, its people as the columns hold
    them (so a change applied to it hashes exactly as one applied to a case read)."""
    row = case_to_row(case, location=False)
    return row_to_case(
        {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in row.items()}
    )


def changed_columns(before: Case, after: Case) -> dict[str, Any]:
    """The columns of ``after`` that differ from ``before`` (the location only when it moved)."""
    moved = (before.lon, before.lat) != (after.lon, after.lat)
    old, new = case_to_row(before, location=False), case_to_row(after, location=moved)
    return {k: v for k, v in new.items() if k != "case_id" and (k not in old or old[k] != v)}


def _write_updates(conn: Connection, changes: Sequence[tuple[Case, Case]]) -> None:
    """Update each changed case, only if still at the version it was read at; one statement
    for each set of changed columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for before, after in changes:
        values = changed_columns(before, after)
        values.update(where_case_id=before.case_id, where_version=before.version)
        groups.setdefault(tuple(values), []).append(values)
    for rows in groups.values():
        result = conn.execute(_UPDATE_CASE, rows)
        counted = len(rows) == 1 or conn.dialect.supports_sane_multi_rowcount
        if counted and result.rowcount != len(rows):
            raise ConcurrentUpdateError(
                "cases changed while a batch was writing them; read them again and retry"
            )


def _write_notices(conn: Connection, groups: Sequence[Sequence[tuple[Notice, datetime]]]) -> None:
    """Insert the notices not written before (by ``dedup_key``), each change's group as
    :func:`gridmgr.store.outboxstore.insert_notices` would have, one after the other."""
    keys = sorted({n.dedup_key for group in groups for n, _ in group})
    seen: set[str] = set()
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        seen.update(
            conn.execute(
                select(notifications.c.dedup_key).where(notifications.c.dedup_key.in_(part))
            )
            .scalars()
            .all()
        )
    rows: list[dict[str, Any]] = []
    for group in groups:
        fresh = {n.dedup_key: (n, at) for n, at in group if n.dedup_key not in seen}
        seen.update(fresh)
        rows.extend(
            {
                "case_id": n.case_id,
                "recipient": n.recipient,
                "trigger": n.trigger.value,
                "dedup_key": n.dedup_key,
                "created_at": at,
                "title": n.title,
                "body": dict(n.body),
            }
            for n, at in fresh.values()
        )
    if rows:
        conn.execute(insert(notifications), rows)


def ledger_row(event: object) -> dict[str, Any]:
    """A ledger event's row."""
    return {c: getattr(event, c) for c in LEDGER_COLUMNS}


_INSERT_CASE = insert(cases)
_INSERT_LEDGER = insert(ledger)
_INSERT_EVENT = insert(case_events)
_UPDATE_CASE = (
    update(cases)
    .where(cases.c.case_id == bindparam("where_case_id"))
    .where(cases.c.version == bindparam("where_version"))
)
