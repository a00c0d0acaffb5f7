"""The ledger table: append one event inside the caller's transaction, stream the chain to verify.

Appends are serialized: on SQLite every write transaction begins ``IMMEDIATE`` (the write lock
is taken at once), on PostgreSQL :func:`lock_ledger` takes a transaction-level advisory lock,
so two writers never read the same head and the sequence has no gaps. The table has append and
read operations only; the database refuses UPDATE, DELETE and TRUNCATE (migration 0001).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, text

from gridmgr.ledger import Checkpoint, LedgerEvent, Verification, next_event, verify_chain
from gridmgr.store.engine import LEDGER_LOCK_KEY
from gridmgr.store.schema import LEDGER_COLUMNS, ledger

FETCH = 20_000


def lock_ledger(conn: Connection) -> None:
    """Serialize ledger appends for the rest of this transaction (a no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK_KEY})


def head(conn: Connection) -> LedgerEvent | None:
    """The last event of the ledger, or ``None`` when it is empty."""
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
    return events


_INSERT = insert(ledger)
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


def take_checkpoint(engine: Engine, *, at: datetime) -> Checkpoint:
    """The verified head of the ledger as a checkpoint (refused if the chain does not verify)."""
    result = verify(engine)
    if not result.ok:
        from gridmgr.ledger import LedgerError

        raise LedgerError(
            f"the ledger does not verify, so no checkpoint was taken: {result.problem}"
        )
    from gridmgr.ledger import format_time

    return Checkpoint(
        seq=result.head_seq, hash=result.head_hash, at=format_time(at), count=result.count
    )


def events_by_seq(conn: Connection, seqs: list[int]) -> dict[int, LedgerEvent]:
    """The ledger events with these sequence numbers."""
    if not seqs:
        return {}
    rows = conn.execute(select(ledger).where(ledger.c.seq.in_(seqs))).all()
    return {int(r.seq): LedgerEvent(*(r._mapping[c] for c in LEDGER_COLUMNS)) for r in rows}


def events_after(engine: Engine, since: int, *, limit: int) -> list[LedgerEvent]:
    """Up to ``limit`` events with ``seq > since``, in order (for pollers)."""
    query = select(ledger).where(ledger.c.seq > since).order_by(ledger.c.seq).limit(limit)
    with engine.connect() as conn:
        return [LedgerEvent(*(r._mapping[c] for c in LEDGER_COLUMNS)) for r in conn.execute(query)]
