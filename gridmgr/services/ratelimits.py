"""Rate limits counted in the database, so they hold across every node and worker process.

flask-limiter counts through a ``limits`` storage; its shared ones are Redis, Memcached,
MongoDB and etcd. :class:`DatabaseStorage` is one more, registered under the scheme
``gridmgr-database://``, that counts in the store's ``rate_limits`` table
(:mod:`gridmgr.store.ratelimits`): one UPSERT per limit hit, so with N web nodes of W workers a
client gets the configured rate, not N × W times it. The app passes the store in
``storage_options={"store": store}`` (:func:`limiter_storage`).

It implements the fixed-window strategy (flask-limiter's default), the one gridmgr uses. The
``X-RateLimit-*`` headers read the window the same request has just counted: this thread's last
hit of a key answers them for :data:`MEMO_SECONDS` instead of two more reads.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from limits.storage import Storage
from sqlalchemy.exc import SQLAlchemyError

from gridmgr.settings import Settings
from gridmgr.store import Store

SWEEP_EVERY = 60.0
"""Seconds between two deletions of ended windows by one process."""
MEMO_SECONDS = 1.0
"""How long this thread's last hit of a key answers :meth:`DatabaseStorage.get` and
:meth:`~DatabaseStorage.get_expiry` (the response headers of the request that hit it)."""


class DatabaseStorage(Storage):
    """A ``limits`` storage on the store's ``rate_limits`` table (see the module docstring)."""

    STORAGE_SCHEME: ClassVar[list[str]] = ["gridmgr-database"]  # type: ignore[misc]

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        *,
        store: Store,
        **options: float | str | bool,
    ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._store = store
        self._memo = threading.local()
        self._next_sweep = 0.0
        self._sweeping = threading.Lock()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """What a failing database raises (flask-limiter may swallow these when told to)."""
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Count ``amount`` more hits of ``key`` in its window (a new window of ``expiry``
        seconds when the last one ended); the window's count."""
        now = time.time()
        self._sweep(now)
        count, expires_at = self._store.hit_rate_limit(key, expiry=expiry, amount=amount, now=now)
        self._remember(key, count, expires_at)
        return count

    def get(self, key: str) -> int:
        """The count of ``key``'s current window (0 when it has none)."""
        return self._window(key)[0]

    def get_expiry(self, key: str) -> float:
        """When ``key``'s current window ends (epoch seconds; now when it has none)."""
        return self._window(key)[1]

    def check(self) -> bool:
        """Whether the database answers."""
        try:
            self._store.count_rate_limits()
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        """Forget every window (of every node); how many there were."""
        self._memo = threading.local()
        return self._store.clear_rate_limits()

    def clear(self, key: str) -> None:
        """Forget ``key``'s window."""
        self._memo.__dict__.pop(key, None)
        self._store.clear_rate_limit(key)

    def _remember(self, key: str, count: int, expires_at: float) -> None:
        memo = self._memo.__dict__
        if len(memo) > 16:  # a request hits a few keys: keep no more than its own
            memo.clear()
        memo[key] = (count, expires_at, time.monotonic() + MEMO_SECONDS)

    def _window(self, key: str) -> tuple[int, float]:
        memo = self._memo.__dict__.get(key)
        now = time.time()
        if memo is not None and time.monotonic() < memo[2] and memo[1] > now:
            return memo[0], memo[1]
        return self._store.rate_limit_window(key, now=now)

    def _sweep(self, now: float) -> None:
        """Delete ended windows, at most every :data:`SWEEP_EVERY` seconds per process, in the
        calling thread (no timer thread); a sweep under way elsewhere is not waited for."""
        if now < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + SWEEP_EVERY
            self._store.sweep_rate_limits(now=now)
        finally:
            self._sweeping.release()


def uses_database_limits(settings: Settings, store: Store | None) -> bool:
    """Whether the rate limits are counted in the database: as ``GRIDMGR_RATE_LIMIT_STORAGE``
    says, else on PostgreSQL (where several nodes may share it) and not on SQLite (one machine:
    each process's memory is cheaper, see the README)."""
    if store is None:
        return False
    if settings.rate_limit_storage is not None:
        return settings.rate_limit_storage == "database"
    return store.backend == "postgresql"


def limiter_storage(settings: Settings, store: Store | None) -> tuple[str, dict[str, object]]:
    """flask-limiter's ``storage_uri`` and ``storage_options`` for this deployment: the shared
    :class:`DatabaseStorage`, or each process's memory (``gridmgr-memory://``,
    :mod:`gridmgr.web.ratelimit`)."""
    if uses_database_limits(settings, store):
        return "gridmgr-database://", {"store": store}
    return "gridmgr-memory://", {}
