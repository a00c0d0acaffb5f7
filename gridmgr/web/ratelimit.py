"""The rate limiter's in-process counters, without a thread started per request.

``limits``' ``memory://`` storage sweeps expired counters from a ``threading.Timer`` that it
starts again 10 ms after any request finds it stopped — at a few hundred requests a second,
a new thread for nearly every request (≈ 1 ms of CPU each). :class:`SweptMemoryStorage` sweeps
in the calling thread instead, before a counter is touched, at most every
:data:`SWEEP_EVERY` seconds: counters expire as promptly, and no thread is started. Use it as
``storage_uri="gridmgr-memory://"``.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from limits.storage import MemoryStorage

SWEEP_EVERY = 0.01
"""Seconds between two sweeps of expired counters (what ``memory://``'s timer waits)."""


class SweptMemoryStorage(MemoryStorage):
    """``memory://`` with its expiry sweep run inline (see the module docstring)."""

    STORAGE_SCHEME: ClassVar[list[str]] = ["gridmgr-memory"]  # type: ignore[misc]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        self._next_sweep = 0.0
        self._sweeping = threading.Lock()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - overrides a private hook
        now = time.time()
        if now < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + SWEEP_EVERY
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        finally:
            self._sweeping.release()
