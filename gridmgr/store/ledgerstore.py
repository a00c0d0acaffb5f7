"""The ledger table: append one event inside the caller's transaction, stream the chain to verify.

Appends are serialized: on SQLite every write transaction begins ``IMMEDIATE`` (the write lock
is taken at once), on PostgreSQL the store's write transaction takes a transaction-level
advisory lock (:mod:`gridmgr.store.transactions`), so two writers never read the same head and
the sequence has no gaps. The table has append and read operations only; the database refuses
UPDATE, DELETE and TRUNCATE (migration 0001). :class:`LedgerMethods` are the store's doors to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select

from gridmgr.ledger import (
    Checkpoint,
    LedgerError,
    LedgerEvent,
    Verification,
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
    prev = head(conn)
    events = []
    for at, kind, actor, subject, details in entries:
        prev = next_event(
            prev=prev, at=at, kind=kind, actor=actor, subject=subject, details=details
        )
        events.append(prev)
    conn.execute(_INSERT, [{c: getattr(e, c) for c in LEDGER_COLUMNS} for e in events])
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

    def record_verification(self, result: Verification, *, at: datetime, node: str) -> None:
        """Keep ``result``, an end-to-end verification run by ``node`` at ``at``, for every
        node's panel (:meth:`latest_verification`)."""
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
                )
            )

    def latest_verification(self) -> tuple[Verification, datetime, str] | None:
        """The newest end-to-end verification kept, when it ran and which node ran it
        (``None`` before the first)."""
        v = ledger_verifications.c
        with self._read() as conn:
            row = conn.execute(select(ledger_verifications).order_by(v.id.desc()).limit(1)).first()
        if row is None:
            return None
        result = Verification(
            ok=bool(row.ok),
            count=int(row.events),
            head_seq=int(row.head_seq),
            head_hash=row.head_hash,
            first_bad_seq=None if row.first_bad_seq is None else int(row.first_bad_seq),
            problem=row.problem,
            checkpoint_ok=None,
        )
        return result, row.at, row.node

    def ledger_head(self) -> LedgerEvent | None:
        """The newest ledger event."""
        with self._read() as conn:
            return head(conn)

    def has_ledger_event(self, kind: str) -> bool:
        """Whether the ledger holds any event of ``kind``."""
        with self._read() as conn:
            row = conn.execute(select(ledger.c.seq).where(ledger.c.kind == kind).limit(1))
            return row.first() is not None
