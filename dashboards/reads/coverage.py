"""What the coverage review shows: performance per cell, community, town or owner, fairly
ranked; vacant posts; the city's patrol coverage — for callers who see the whole city only.

The figures come from :mod:`gridmgr.analytics` and :mod:`gridmgr.patrols` over the case facts
and patrol points read through :mod:`gridmgr.services`. Case facts and patrol coverage are kept
*per minute* (:class:`MinuteCache`, one per dashboard, keyed by the arguments), so re-ranking,
switching views or exporting does not read the database again, and a new minute's are read
while the last minute's are shown. Patrol coverage is read from
the per-day pixel bitmaps the store keeps up to date, for the whole city at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pandas as pd

from dashboards.permissions import require_city_wide
from gridmgr import analytics
from gridmgr.access import Caller
from gridmgr.errors import ForbiddenError
from gridmgr.services import patrols, queries
from gridmgr.services.context import Services

T = TypeVar("T")
logger = logging.getLogger(__name__)

CACHE_SIZE = 32
"""Entries a review cache keeps (older minutes' entries are dropped when it is full)."""
STALE_FOR = timedelta(minutes=10)
"""How old a remembered value may be and still be shown while this minute's is computed."""


@dataclass
class MinuteCache:
    """Values computed at most once a minute per key (the review's figures change slowly).

    A value of an earlier minute, if at most :data:`STALE_FOR` old, is answered at once while
    this minute's is computed on a thread of its own (one per key), so opening the page in a
    new minute does not wait for the month's case facts; an older one, or none, is computed
    while the caller waits.
    """

    size: int = CACHE_SIZE
    _entries: dict[Hashable, tuple[datetime, Any]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _refreshing: dict[Hashable, threading.Thread] = field(default_factory=dict, repr=False)

    def get(self, key: Hashable, now: datetime, compute: Callable[[], T]) -> T:
        """The value of ``key`` this minute: remembered, or computed now; or the last one
        (at most :data:`STALE_FOR` old) while this minute's is computed."""
        minute = now.replace(second=0, microsecond=0)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == minute:
                return hit[1]  # type: ignore[no-any-return]
            if hit is not None and timedelta(0) < minute - hit[0] <= STALE_FOR:
                if key not in self._refreshing:
                    thread = threading.Thread(
                        target=self._refresh, args=(key, minute, compute), daemon=True
                    )
                    self._refreshing[key] = thread
                    thread.start()
                return hit[1]  # type: ignore[no-any-return]
        value = compute()
        self._keep(key, minute, value, latest=True)
        return value

    def settle(self, timeout: float | None = None) -> None:
        """Wait for the values being computed on threads (tests, shutdown)."""
        with self._lock:
            threads = list(self._refreshing.values())
        for thread in threads:
            thread.join(timeout)

    def _refresh(self, key: Hashable, minute: datetime, compute: Callable[[], Any]) -> None:
        try:
            self._keep(key, minute, compute())
        except Exception:  # the next request computes it again, and then reports the error
            logger.exception("review figures %r not refreshed", key)
            with self._lock:
                self._entries.pop(key, None)
        finally:
            with self._lock:
                self._refreshing.pop(key, None)

    def _keep(self, key: Hashable, minute: datetime, value: Any, *, latest: bool = False) -> None:
        """Remember ``value`` as ``key``'s of ``minute`` (a refresh that finishes late does not
        replace a later minute's; ``latest``: it does, the clock may have been set back)."""
        with self._lock:
            if len(self._entries) >= self.size:
                for old in [k for k, (m, _) in self._entries.items() if m != minute]:
                    self._entries.pop(old, None)
            held = self._entries.get(key)
            if latest or held is None or held[0] <= minute:
                self._entries[key] = (minute, value)


def towns(services: Services) -> list[tuple[str, str]]:
    """(code, name) of the tier-1 cells (towns), by code."""
    tier1 = services.grid.tier(1)
    return [(str(c), str(n)) for c, n in zip(tier1["code"], tier1["name"], strict=True)]


def review_facts(
    services: Services, cache: MinuteCache, caller: Caller, now: datetime, *, days: int
) -> pd.DataFrame:
    """One row per case reported in the last ``days`` days in the caller's scope."""
    require_city_wide(caller)
    since = now - timedelta(days=days)
    return cache.get(
        ("facts", days, caller.scope),
        now,
        lambda: queries.case_facts(services.store, caller, since=since, until=now),
    )


def review_performance(
    services: Services,
    cache: MinuteCache,
    caller: Caller,
    now: datetime,
    *,
    by: str,
    days: int,
    min_cases: int,
    town: str | None = None,
) -> pd.DataFrame:
    """Key figures per cell, community, town or owner, fairly ranked
    (:func:`gridmgr.analytics.performance`), with a ``label`` column to show (callers must not
    change the frame: it is shared)."""
    facts = review_facts(services, cache, caller, now, days=days)

    def rank() -> pd.DataFrame:
        chosen = facts[facts["tier1"] == town] if town else facts
        table = analytics.performance(chosen, by=by, min_cases=min_cases)
        if by == "assignee":
            labels = [f"{n} ({u})" for u, n in zip(table["unit"], table["name"], strict=True)]
        else:
            names = analytics.names_of(services.grid, [str(u) for u in table["unit"]])
            labels = [names[str(u)] for u in table["unit"]]
        table.insert(1, "label", labels)
        return table

    # kept with the facts it was ranked from: a page load or an export ranks nothing again
    key = ("ranking", id(facts), by, min_cases, town)
    source, table = cache.get(key, now, lambda: (facts, rank()))
    return table if source is facts else rank()


def review_vacancies(services: Services, caller: Caller, now: datetime) -> pd.DataFrame:
    """Vacant posts now (:func:`gridmgr.analytics.vacancies`)."""
    require_city_wide(caller)
    return analytics.vacancies(services.grid, services.roster, now)


def review_patrols(
    services: Services,
    cache: MinuteCache,
    caller: Caller,
    now: datetime,
    *,
    town: str | None = None,
    days: int = 7,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patrol coverage over the last ``days`` days of every unit cell of the city and per town
    (area-weighted) — or, given ``town``, of its cells and per community:
    :func:`gridmgr.services.patrols.kept_coverage` (the per-day pixel bitmaps kept as points
    are stored, so the whole city is one query) and :func:`gridmgr.analytics.coverage_by_tier`.
    """
    require_city_wide(caller)
    grid = services.grid
    if town is not None and town not in set(grid.codes(1)):
        raise ForbiddenError(f"no town {town!r} in the current grid")
    city = cache.get(
        ("patrols", days),
        now,
        lambda: patrols.kept_coverage(services.store, grid, now=now, days=days),
    )
    if town is None:
        return city, analytics.coverage_by_tier(grid, city, tier=1, now=now, days=days)
    coverage = city[city["cell"].isin(set(grid.cell_to_descendants(town, 3)))]
    coverage = coverage.reset_index(drop=True)
    return coverage, analytics.coverage_by_tier(grid, coverage, tier=2, now=now, days=days)
