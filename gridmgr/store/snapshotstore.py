"""Replay snapshots, and the ledger's state changes read by ``seq`` range and time.

What replay needs of the store (:mod:`gridmgr.services.replay`): the snapshots' marks (where
each stands in the ledger and the range of its changes' times), a snapshot's state, and the
case events that change a state, filtered in SQL by ``seq`` range (the primary key) and time, so
a replay reads only the events between a snapshot and its moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, insert, select

from gridmgr.store.schema import ledger, replay_snapshots
from gridmgr.store.transactions import StoreBase

StateEvent = tuple[int, str, str, str]
"""A ledger event that may change a case's state: (seq, at, subject, payload)."""


@dataclass(frozen=True)
class SnapshotMark:
    """Where a replay snapshot stands: after ledger event :attr:`seq` (hash :attr:`head_hash`),
    the latest change folded in at :attr:`at_max`, the earliest change since the previous
    snapshot at :attr:`min_at` (``None``: no change)."""

    seq: int
    head_hash: str
    at_max: str
    min_at: str | None


class SnapshotMethods(StoreBase):
    """The store's replay snapshots and its read of state changes."""

    def replay_marks(self) -> list[SnapshotMark]:
        """Every replay snapshot's mark, oldest first."""
        s = replay_snapshots.c
        query = select(s.seq, s.head_hash, s.at_max, s.min_at).order_by(s.seq)
        with self._read() as conn:
            rows = conn.execute(query)
            return [SnapshotMark(int(r.seq), r.head_hash, r.at_max, r.min_at) for r in rows]

    def replay_snapshot(self, seq: int) -> bytes | None:
        """The stored state of the snapshot at ``seq`` (compressed JSON), or ``None``."""
        query = select(replay_snapshots.c.state).where(replay_snapshots.c.seq == seq)
        with self._read() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else bytes(value)

    def save_replay_snapshot(self, mark: SnapshotMark, *, cases: int, state: bytes) -> bool:
        """Keep a snapshot; ``False`` if one at that ``seq`` exists (another node made it)."""
        with self._update() as conn:
            if conn.execute(
                select(replay_snapshots.c.seq).where(replay_snapshots.c.seq == mark.seq)
            ).first():
                return False
            conn.execute(
                insert(replay_snapshots).values(
                    seq=mark.seq,
                    head_hash=mark.head_hash,
                    at_max=mark.at_max,
                    min_at=mark.min_at,
                    cases=cases,
                    state=state,
                )
            )
        return True

    def drop_replay_snapshots(self) -> None:
        """Forget every replay snapshot (they are remade from the ledger)."""
        with self._update() as conn:
            conn.execute(replay_snapshots.delete())

    def ledger_hash_of(self, seq: int) -> str | None:
        """The hash of ledger event ``seq``, or ``None``."""
        with self._read() as conn:
            value = conn.execute(select(ledger.c.hash).where(ledger.c.seq == seq)).scalar()
        return None if value is None else str(value)

    def state_events(
        self, *, after: int, upto: int | None = None, until: str | None = None
    ) -> Iterator[StateEvent]:
        """The case events after ``after`` up to ``upto`` (default: the end), stamped at or
        before ``until`` (a :func:`gridmgr.ledger.format_time` text; default: any time), whose
        payload names a ``to_state``: a superset of the state changes, streamed in order."""
        c = ledger.c
        query = select(c.seq, c.at, c.subject, c.payload).where(
            c.seq > after,
            c.subject.like("case:%"),
            c.payload.like('%"to@_state"%', escape="@"),
        )
        if upto is not None:
            query = query.where(c.seq <= upto)
        if until is not None:
            query = query.where(c.at <= until)
        with self._read() as conn:
            rows = conn.execute(query.order_by(c.seq).execution_options(yield_per=20_000))
            for seq, at, subject, payload in rows:
                yield int(seq), at, subject, payload

    def state_min_at(self, *, after: int) -> str | None:
        """The earliest ``at`` of a case event naming a ``to_state`` after ``after``."""
        c = ledger.c
        query = select(func.min(c.at)).where(
            c.seq > after, c.subject.like("case:%"), c.payload.like('%"to@_state"%', escape="@")
        )
        with self._read() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else str(value)

    def ledger_length(self) -> int:
        """How many events the ledger holds."""
        with self._read() as conn:
            return int(conn.execute(select(func.coalesce(func.max(ledger.c.seq), 0))).scalar_one())
