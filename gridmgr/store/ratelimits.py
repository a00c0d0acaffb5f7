"""Rate-limit counters in the database, so every node counts a client's requests in one place.

One row per key and fixed window: ``(key, expires_at, count)``. A hit is one statement, an
``INSERT … ON CONFLICT (key) DO UPDATE`` that starts a new window when the old one has
expired and adds to it otherwise, and returns the count and the window's end — atomic on
PostgreSQL and on SQLite (3.24+ for the upsert, 3.35+ for ``RETURNING``) without a lock of our
own. Expired rows are deleted by :meth:`RateLimitMethods.sweep_rate_limits`, which the storage
calls now and then. These writes append nothing to the ledger: on PostgreSQL they never wait
for the ledger lock.
"""

from __future__ import annotations

from sqlalchemy import case, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gridmgr.store.schema import rate_limits
from gridmgr.store.transactions import StoreBase

_R = rate_limits.c


class RateLimitMethods(StoreBase):
    """The shared rate-limit counters (:class:`gridmgr.services.ratelimits.DatabaseStorage`)."""

    def hit_rate_limit(
        self, key: str, *, expiry: float, amount: int = 1, now: float
    ) -> tuple[int, float]:
        """Add ``amount`` to ``key``'s window (a new one of ``expiry`` seconds when it has none
        or its window ended before ``now``, epoch seconds); its count and end."""
        insert = pg_insert if self.backend == "postgresql" else sqlite_insert
        new = insert(rate_limits).values(key=key, expires_at=now + expiry, count=amount)
        ended = rate_limits.c.expires_at <= now
        statement = new.on_conflict_do_update(
            index_elements=[_R.key],
            set_={
                "count": case((ended, new.excluded.count), else_=_R.count + new.excluded.count),
                "expires_at": case((ended, new.excluded.expires_at), else_=_R.expires_at),
            },
        ).returning(_R.count, _R.expires_at)
        with self._update() as conn:
            if conn.dialect.name == "postgresql":
                # a counter, not a record: no wait for the WAL flush (a crash may forget the
                # last few hits, never corrupt anything) — the cost of a hit halves
                conn.execute(text("SET LOCAL synchronous_commit = off"))
            count, expires_at = conn.execute(statement).one()
        return int(count), float(expires_at)

    def rate_limit_window(self, key: str, *, now: float) -> tuple[int, float]:
        """``key``'s count and window end; ``(0, now)`` when it has no current window."""
        query = select(_R.count, _R.expires_at).where(_R.key == key, _R.expires_at > now)
        with self._read() as conn:
            row = conn.execute(query).first()
        return (0, now) if row is None else (int(row[0]), float(row[1]))

    def clear_rate_limit(self, key: str) -> None:
        """Forget ``key``'s window."""
        with self._update() as conn:
            conn.execute(delete(rate_limits).where(_R.key == key))

    def clear_rate_limits(self) -> int:
        """Forget every window; how many there were."""
        with self._update() as conn:
            return int(conn.execute(delete(rate_limits)).rowcount)

    def sweep_rate_limits(self, *, now: float) -> int:
        """Delete the windows that ended before ``now``; how many."""
        with self._update() as conn:
            return int(conn.execute(delete(rate_limits).where(_R.expires_at <= now)).rowcount)

    def count_rate_limits(self) -> int:
        """How many windows are kept (current or not yet swept)."""
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(rate_limits)).scalar_one())
