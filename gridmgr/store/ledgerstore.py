"""The ledger table: append one event inside the caller's transaction, stream the chain to verify.

Appends are serialized: on SQLite every write transaction begins ``IMMEDIATE`` (the write lock
is taken at once), on PostgreSQL the store's write transaction takes a transaction-level
advisory lock (:mod:`gridmgr.store.transactions`), so two writers never read the same head and
the sequence has no gaps. The table has append and read operations only; the database refuses
UPDATE, DELETE and TRUNCATE (migration 0001). :class:`LedgerMethods` are the store's doors to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select

from gridmgr.ledger import (
    Checkpoint,
    LedgerError,
    LedgerEvent,
    Verification,
    event_hash,
    format_time,
    next_event,
    verify_chain,
)
from gridmgr.store.engine import LEDGER_HEAD_KEY
from gridmgr.store.schema import LEDGER_COLUMNS, ledger, ledger_verifications
from gridmgr.store.transactions import StoreBase

FETCH = 20_000


def head(conn: Connection) -> LedgerEvent | None:
    """The last event of the ledger, or ``None`` when it is empty.

    The head this transaction appended last is remembered until the transaction ends, so a
    batch of thousands of changes (:meth:`gridmgr.store.Store.batch`) reads it once; the
    store forgets it when a savepoint is rolled back."""
    remembered = conn.info.get(_REMEMBERED)
    if remembered is not None and remembered[0] is conn.get_transaction():
        return remembered[1]  # type: ignore[no-any-return]
    row = conn.execute(_HEAD).first()
    return None if row is None else LedgerEvent(*(row._mapping[c] for c in LEDGER_COLUMNS))


def append(
    conn: Connection,
    *,
    at: datetime,
    kind: str,
    actor: str,
    subject: str,
    details: Mapping[str, object],
) -> LedgerEvent:
    """Append one event in the caller's transaction (which must hold the ledger lock)."""
    return append_many(conn, [(at, kind, actor, subject, details)])[0]


def append_many(
    conn: Connection, entries: Sequence[tuple[datetime, str, str, str, Mapping[str, object]]]
) -> list[LedgerEvent]:
    """Append events ``(at, kind, actor, subject, details)`` in order, in one statement."""
    events = chain(conn, entries)
    if events:
        conn.execute(_INSERT, [{c: getattr(e, c) for c in LEDGER_COLUMNS} for e in events])
    return events


def chain(
    conn: Connection, entries: Sequence[tuple[datetime, str, str, str, Mapping[str, object]]]
) -> list[LedgerEvent]:
    """The ledger events ``entries`` become, chained after the head, which they become; the
    caller inserts them before the transaction reads the ledger table (a batch holding its
    writes back: :mod:`gridmgr.store.pending`)."""
    prev = head(conn)
    events = []
    for at, kind, actor, subject, details in entries:
        prev = next_event(
            prev=prev, at=at, kind=kind, actor=actor, subject=subject, details=details
        )
        events.append(prev)
    if events:
        # keyed by the transaction: a later transaction on this pooled connection reads again
        conn.info[_REMEMBERED] = (conn.get_transaction(), events[-1])
    return events


_INSERT = insert(ledger)
_REMEMBERED = LEDGER_HEAD_KEY
_HEAD = select(ledger).order_by(ledger.c.seq.desc()).limit(1)


def iter_rows(engine: Engine, *, start: int = 1) -> Iterator[tuple[object, ...]]:
    """Every ledger row from ``start`` in sequence order, streamed from the driver's cursor.

    Verification reads a million rows, so this bypasses SQLAlchemy's per-row processing: a
    plain cursor on SQLite, a server-side (named) cursor on PostgreSQL.
    """
    columns = ", ".join(LEDGER_COLUMNS)
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        if engine.dialect.name == "postgresql":
            cursor = driver.cursor(name="gridmgr_ledger_verify")  # type: ignore[union-attr]
            cursor.itersize = FETCH
            cursor.execute(f"SELECT {columns} FROM ledger WHERE seq >= %s ORDER BY seq", (start,))
        else:
            cursor = driver.cursor()  # type: ignore[union-attr]
            cursor.execute(f"SELECT {columns} FROM ledger WHERE seq >= ? ORDER BY seq", (start,))
        while True:
            batch = cursor.fetchmany(FETCH)
            if not batch:
                break
            yield from batch
        cursor.close()
    finally:
        raw.rollback()
        raw.close()


def verify(
    engine: Engine,
    *,
    checkpoint: Checkpoint | None = None,
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Verify the whole chain, end to end (and against ``checkpoint`` when given)."""
    return verify_chain(iter_rows(engine), checkpoint=checkpoint, progress=progress)


def events_by_seq(conn: Connection, seqs: list[int]) -> dict[int, LedgerEvent]:
    """The ledger events with these sequence numbers."""
    if not seqs:
        return {}
    rows = conn.execute(select(ledger).where(ledger.c.seq.in_(seqs))).all()
    return {int(r.seq): LedgerEvent(*(r._mapping[c] for c in LEDGER_COLUMNS)) for r in rows}


def _still_hashes_to(event: LedgerEvent, expected: str) -> bool:
    """Whether ``event`` carries ``expected`` and its contents digest to it."""
    if event.hash != expected:
        return False
    try:
        digest = event_hash(
            seq=event.seq,
            at=event.at,
            kind=event.kind,
            actor=event.actor,
            subject=event.subject,
            payload=event.payload,
            prev_hash=event.prev_hash,
        )
    except (TypeError, ValueError):  # a field no longer of its type: edited
        return False
    return digest == expected


KEEP_INCREMENTAL = timedelta(days=30)
"""How long the rows of incremental verifications are kept."""


@dataclass(frozen=True)
class StoredVerification:
    """One kept verification: its result, kind, when, by which node, and (incremental) the
    head it started after."""

    result: Verification
    kind: str
    at: datetime
    node: str
    from_seq: int | None


def _stored(row: Any) -> StoredVerification:
    result = Verification(
        ok=bool(row.ok),
        count=int(row.events),
        head_seq=int(row.head_seq),
        head_hash=row.head_hash,
        first_bad_seq=None if row.first_bad_seq is None else int(row.first_bad_seq),
        problem=row.problem,
        checkpoint_ok=None,
    )
    from_seq = None if row.from_seq is None else int(row.from_seq)
    return StoredVerification(result, str(row.kind), row.at, str(row.node), from_seq)


class LedgerMethods(StoreBase):
    """The store's ledger: record a change that is not a case's, read, verify, checkpoint."""

    def record(
        self, *, at: datetime, kind: str, actor: str, subject: str, details: Mapping[str, object]
    ) -> LedgerEvent:
        """Record a state change that is not a case's (a roster import, a grid import …)."""
        with self._write() as conn:
            return append(conn, at=at, kind=kind, actor=actor, subject=subject, details=details)

    def verify_ledger(
        self,
        *,
        checkpoint: Checkpoint | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Verification:
        """Verify the ledger end to end (and against ``checkpoint``)."""
        return verify(self._engine, checkpoint=checkpoint, progress=progress)

    def checkpoint(self, *, at: datetime) -> Checkpoint:
        """The verified head of the ledger, to publish or sign (refused if the chain does not
        verify)."""
        result = verify(self._engine)
        if not result.ok:
            raise LedgerError(
                f"the ledger does not verify, so no checkpoint was taken: {result.problem}"
            )
        return Checkpoint(
            seq=result.head_seq, hash=result.head_hash, at=format_time(at), count=result.count
        )

    def ledger_since(self, since: int, *, limit: int = 500) -> list[LedgerEvent]:
        """Up to ``limit`` ledger events with a sequence number above ``since``, oldest first
        (for pollers)."""
        query = select(ledger).where(ledger.c.seq > since).order_by(ledger.c.seq).limit(limit)
        with self._read() as conn:
            return [
                LedgerEvent(*(r._mapping[c] for c in LEDGER_COLUMNS)) for r in conn.execute(query)
            ]

    def ledger_events(self, *, start: int = 1) -> Iterator[LedgerEvent]:
        """Every ledger event from sequence number ``start`` on, in order, streamed (a million
        events do not sit in memory at once)."""
        for row in iter_rows(self._engine, start=start):
            yield LedgerEvent(*row)  # type: ignore[arg-type]

    def verify_ledger_after(self, seq: int, hash: str) -> Verification:
        """Verify only the events after ``seq``, the head an earlier pass verified with
        ``hash``: first that event (one row read) still carries ``hash`` and its contents
        still hash to it, then the new events, linked to it. ``count`` is how many new events
        were read."""
        if seq > 0:
            with self._read() as conn:
                found = events_by_seq(conn, [seq]).get(seq)
            if found is None or not _still_hashes_to(found, hash):
                what = "is gone (truncated?)" if found is None else "no longer has its hash"
                return Verification(
                    ok=False,
                    count=0,
                    head_seq=seq - 1,
                    head_hash="",
                    first_bad_seq=seq,
                    problem=f"event {seq}, the head verified before, {what} (rewritten since?)",
                    checkpoint_ok=None,
                )
        return verify_chain(iter_rows(self._engine, start=seq + 1), after=(seq, hash))

    def record_verification(
        self,
        result: Verification,
        *,
        at: datetime,
        node: str,
        kind: str = "full",
        from_seq: int | None = None,
    ) -> None:
        """Keep ``result``, a verification run by ``node`` at ``at`` — ``full`` (end to end) or
        ``incremental`` (the events after ``from_seq``) — for every node's panel
        (:meth:`latest_verifications`). Incremental rows older than :data:`KEEP_INCREMENTAL`
        go in the same transaction (one a minute would pile up)."""
        v = ledger_verifications.c
        with self._update() as conn:
            conn.execute(
                insert(ledger_verifications).values(
                    at=at,
                    ok=result.ok,
                    events=result.count,
                    head_seq=result.head_seq,
                    head_hash=result.head_hash,
                    first_bad_seq=result.first_bad_seq,
                    problem=result.problem,
                    node=node,
                    kind=kind,
                    from_seq=from_seq,
                )
            )
            conn.execute(
                delete(ledger_verifications).where(
                    v.kind == "incremental", v.at < at - KEEP_INCREMENTAL
                )
            )

    def latest_verification(self) -> tuple[Verification, datetime, str] | None:
        """The newest verification kept (of either kind), when it ran and which node ran it
        (``None`` before the first)."""
        found = self.latest_verifications()
        if not found:
            return None
        newest = max(found.values(), key=lambda x: x.at)
        return newest.result, newest.at, newest.node

    def latest_verifications(self) -> dict[str, StoredVerification]:
        """The newest verification of each kind (``full``, ``incremental``) kept."""
        v = ledger_verifications.c
        newest = select(func.max(v.id)).group_by(v.kind).scalar_subquery()
        with self._read() as conn:
            rows = conn.execute(select(ledger_verifications).where(v.id.in_(newest))).all()
        return {str(row.kind): _stored(row) for row in rows}

    def last_verified_head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the newest head a verification of either kind reached with no
        problem (``None`` before the first): where the next incremental pass starts."""
        v = ledger_verifications.c
        query = select(v.head_seq, v.head_hash).where(v.ok).order_by(v.id.desc()).limit(1)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def ledger_head(self) -> LedgerEvent | None:
        """The newest ledger event."""
        with self._read() as conn:
            return head(conn)

    def has_ledger_event(self, kind: str) -> bool:
        """Whether the ledger holds any event of ``kind``."""
        with self._read() as conn:
            row = conn.execute(select(ledger.c.seq).where(ledger.c.kind == kind).limit(1))
            return row.first() is not None
