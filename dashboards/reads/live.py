"""Reads remembered while nothing changed: each value is kept for one ledger head and one
minute, so the pages every operator opens (the command center) cost one look at the ledger
head instead of a dozen queries, and every change is seen at once.

Every state change of a case is one ledger event written with it, so a value computed from
the cases is still true while the head has not moved; what changes with the clock alone (a
deadline passing, the day's start, a worker falling silent) is at most a minute old — the
pages refresh those once a minute anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from gridmgr.services import queries
from gridmgr.services.context import Services

T = TypeVar("T")
CACHE_SIZE = 512
"""Values kept at most (keys hold the caller's scope: a few per role and area)."""


@dataclass(frozen=True)
class Stamp:
    """What a remembered value was computed at: the ledger head and the minute."""

    head: int
    minute: datetime


def stamp_of(services: Services, now: datetime) -> Stamp:
    """The stamp of ``now``: the ledger's head sequence (0 when empty) and the minute."""
    head = queries.ledger_head(services.store)
    return Stamp(0 if head is None else head.seq, now.replace(second=0, microsecond=0))


@dataclass
class HeadCache:
    """Values by key, each true for one :class:`Stamp` (a newer stamp computes it anew).

    Shared by every request of a server (it lives on the :class:`~dashboards.context.Dashboard`),
    so keys name everything a value depends on besides the stamp: the caller's scope, the view.
    """

    size: int = CACHE_SIZE
    _entries: dict[Hashable, tuple[Stamp, Any]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, key: Hashable, stamp: Stamp, compute: Callable[[], T]) -> T:
        """The value of ``key`` at ``stamp``: remembered, or computed now (two requests may
        both compute it: the same value, harmless)."""
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            if len(self._entries) >= self.size:
                for old in [k for k, (s, _) in self._entries.items() if s != stamp]:
                    self._entries.pop(old, None)
                if len(self._entries) >= self.size:
                    self._entries.clear()
            self._entries[key] = (stamp, value)
        return value
