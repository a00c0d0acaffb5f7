"""What the command center shows: the map's values and points, the KPI tiles, the live feed
and the "nothing escapes the grid" panel, each as far as the caller may see."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dashboards.geo import MapGeometry
from dashboards.reads.live import HeadCache, Stamp, stamp_of
from dashboards.reads.names import place
from gridmgr.access import Caller
from gridmgr.cases import Case
from gridmgr.ledger import LedgerEvent
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import field_post
from gridmgr.services import patrols, queries
from gridmgr.services.context import Services
from gridmgr.services.invariants import Line, check
from gridmgr.services.queries import CaseStats, CellLoad

METRICS = ("open", "overdue", "risk")
"""What the map can be coloured by: open cases, overdue cases, SLA risk."""
DUE_SOON = timedelta(hours=2)
"""SLA risk counts the open cases overdue or due within this."""
ON_TIME_WINDOW = timedelta(days=30)
FEED_LIMIT = 30
FEED_EVENTS = 200
"""Ledger events read per feed update (more waiting: the client asks again at once)."""
MAX_POINTS = 2000
"""Case points of each kind (overdue, recent) on the map at most."""
RECENT = timedelta(hours=2)
ON_PATROL = timedelta(minutes=30)
"""A worker whose latest GPS point is this recent is shown on patrol."""
OVERDUE_GRACE = timedelta(minutes=5)
"""An overdue stage not escalated within this is a broken invariant (the loop runs every 60 s)."""


@dataclass(frozen=True)
class Kpis:
    """The tiles of the command center."""

    open: int
    overdue: int
    escalated: int
    closed_today: int
    on_time_rate: float | None
    """Share of the cases closed in the last 30 days with no stage escalated (None: none closed)."""


Invariant = Line
"""One line of the "nothing escapes the grid" panel."""


@dataclass(frozen=True)
class FeedItem:
    """One line of the live feed."""

    seq: int
    at: str
    kind: str
    case_id: str | None
    number: str
    category: str
    place: str
    text: str
    """Citizen text: shown as text, never HTML."""


@dataclass(frozen=True)
class Changes:
    """What happened since a ledger sequence number, as far as the caller may see."""

    seq: int
    items: list[FeedItem]
    cells: set[str]
    """Tier-3 cells whose open cases changed."""
    points: list[dict[str, Any]]
    """Newly reported cases to add to the map."""
    more: bool
    """Whether more events are waiting (the client asks again at once)."""


# -- the map ----------------------------------------------------------------------------------


def view_codes(geometry: MapGeometry, parent: str | None) -> tuple[int, list[str]]:
    """The cells the map shows under ``parent`` (``None``: all tier-3 cells) and their tier."""
    if parent is None:
        return 3, list(geometry.tier(3).codes)
    grid = geometry.grid
    children = grid.cell_to_children(parent)
    tier = int(grid.cell(children[0])["tier"]) if children else 3
    return tier, list(children)


def cell_load(services: Services, caller: Caller, now: datetime) -> dict[str | None, CellLoad]:
    """Open cases per tier-3 cell in the caller's scope."""
    rows = queries.cell_load(services.store, caller, now=now, soon=DUE_SOON)
    return {r.cell: r for r in rows}


def values(
    services: Services, caller: Caller, codes: Sequence[str], metric: str, now: datetime
) -> list[int | None]:
    """``metric`` for each of ``codes`` (any tier; a parent sums its cells); cells out of
    the caller's scope get ``None`` (drawn blank)."""
    load = cell_load(services, caller, now)
    return values_for(codes, load, metric, in_scope=lambda c: _overlaps(caller, c))


def owners(services: Services, codes: Iterable[str], at: datetime) -> dict[str, str]:
    """Each cell's owner now (name, or 空缺 vacant)."""
    roster = services.roster
    out = {}
    for code in codes:
        person = roster.owner(field_post(code), at)
        out[code] = person.name if person is not None else "空缺 vacant"
    return out


def open_points(services: Services, caller: Caller, now: datetime) -> list[dict[str, Any]]:
    """The cases worth a point on the map: open ones overdue or on the 督办 ladder (coloured
    by their card), and open ones reported in the last :data:`RECENT` (the colours already
    count every open case per cell)."""
    store = services.store
    late = queries.overdue_cases(store, caller, now=now, limit=MAX_POINTS)
    carded = queries.carded_cases(store, caller, limit=MAX_POINTS)
    new = queries.recent_open_cases(store, caller, since=now - RECENT, limit=MAX_POINTS)
    found = {c.case_id: c for c in [*late, *carded, *new]}.values()
    return [point(c, now) for c in found if c.lon is not None and c.lat is not None]


def patrol_positions(services: Services, caller: Caller, now: datetime) -> list[dict[str, Any]]:
    """Where the workers on patrol are: each one's latest point of the last
    :data:`ON_PATROL`, in the caller's scope (name for the hover)."""
    latest = patrols.latest_positions(services.store, since=now - ON_PATROL)
    if latest.empty:
        return []
    lons = latest["lon"].to_numpy(dtype=float)
    lats = latest["lat"].to_numpy(dtype=float)
    cells = services.grid.points_to_cells(lons, lats)["tier3"]
    persons = services.roster.persons
    out = []
    for person_id, lon, lat, cell in zip(latest["person_id"], lons, lats, cells, strict=True):
        if not caller.covers(cell):
            continue
        person = persons.get(str(person_id))
        name = person.name if person is not None else str(person_id)
        out.append({"lon": float(lon), "lat": float(lat), "name": name})
    return out


# -- the tiles and the invariants ---------------------------------------------------------------


def kpis(services: Services, caller: Caller, now: datetime) -> Kpis:
    """The KPI tiles: open, overdue, escalated, closed today, on time (30 days)."""
    stats = _stats(services, caller, now)
    rate = stats.closed_window_on_time / stats.closed_window if stats.closed_window else None
    return Kpis(stats.open, stats.overdue, stats.escalated, stats.closed_since, rate)


def _stats(services: Services, caller: Caller, now: datetime) -> CaseStats:
    local = now.astimezone(TZ)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return queries.case_stats(
        services.store, caller, now=now, since=midnight, window=ON_TIME_WINDOW
    )


def invariants(
    services: Services, caller: Caller, now: datetime, *, verified: Mapping[str, Any]
) -> list[Invariant]:
    """The "nothing escapes the grid" panel, live, for the cases in the caller's scope
    (:func:`gridmgr.services.invariants.check`); ``verified`` is the latest ledger
    verification (:meth:`~gridmgr.services.invariants.LedgerWatch.status`)."""
    return check(services, at=now, scope=caller.scope, verified=verified)


# -- the live feed ----------------------------------------------------------------------------


def changes(services: Services, caller: Caller, since: int, now: datetime) -> Changes:
    """Ledger events after ``since`` that concern cases the caller may see."""
    store = services.store
    events = queries.ledger_since(store, since, limit=FEED_EVENTS)
    seq = events[-1].seq if events else since
    case_ids = [e.subject.removeprefix("case:") for e in events if e.subject.startswith("case:")]
    cases = {c.case_id: c for c in queries.visible_cases_by_id(store, caller, case_ids)}
    items: list[FeedItem] = []
    cells: set[str] = set()
    points: list[dict[str, Any]] = []
    for event in events:
        case = cases.get(event.subject.removeprefix("case:"))
        if case is None:
            continue
        if case.cell is not None:
            cells.add(case.cell)
        items.append(feed_item(services, event, case))
        if event.kind == "case.report" and case.lon is not None and case.lat is not None:
            points.append(point(case, now))
    more = len(events) == FEED_EVENTS
    return Changes(seq, items[::-1][:FEED_LIMIT], cells, points, more=more)


def recent_feed(services: Services, caller: Caller, now: datetime) -> tuple[int, list[FeedItem]]:
    """The last events in scope (for a freshly opened page) and the head sequence."""
    head = queries.ledger_head(services.store)
    if head is None:
        return 0, []
    start = max(0, head.seq - FEED_EVENTS)
    found = changes(services, caller, start, now)
    return found.seq, found.items


def feed_item(services: Services, event: LedgerEvent, case: Case) -> FeedItem:
    """One feed line: when, what, which case where (a cell of an older grid generation is
    named by its code)."""
    payload = json.loads(event.payload)
    details = payload.get("details") or {}
    at = datetime.fromisoformat(event.at).astimezone(TZ).strftime("%H:%M:%S")
    return FeedItem(
        seq=event.seq,
        at=at,
        kind=event.kind.removeprefix("case."),
        case_id=case.case_id,
        number=str(details.get("number", "")),
        category=case.category,
        place=place(services.grid, case.cell),
        text=case.description[:80],
    )


# -- remembered per ledger head ----------------------------------------------------------------


@dataclass(frozen=True)
class LiveReads:
    """The reads above for one request, each remembered per ledger head and minute
    (:class:`~dashboards.reads.live.HeadCache`): every operator opening the command center
    between two changes gets the tiles, the feed, the panel and the map's values at the cost
    of one look at the ledger head. Values handed out are shared: never mutate them."""

    services: Services
    cache: HeadCache
    caller: Caller
    now: datetime
    stamp: Stamp

    @classmethod
    def at(cls, services: Services, cache: HeadCache, caller: Caller, now: datetime) -> LiveReads:
        """The reads of ``caller`` at ``now`` (the ledger head read once, here)."""
        return cls(services, cache, caller, now, stamp_of(services, now))

    def _get(self, name: str, compute: Callable[[], Any], *extra: Hashable) -> Any:
        return self.cache.get((name, self.caller.scope, *extra), self.stamp, compute)

    def kpis(self) -> Kpis:
        result: Kpis = self._get("kpis", lambda: kpis(self.services, self.caller, self.now))
        return result

    def recent_feed(self) -> tuple[int, list[FeedItem]]:
        found: tuple[int, list[FeedItem]] = self._get(
            "feed", lambda: recent_feed(self.services, self.caller, self.now)
        )
        return found

    def invariants(self, verified: Mapping[str, Any]) -> list[Invariant]:
        key = repr(sorted(verified.items()))
        found: list[Invariant] = self._get(
            "invariants",
            lambda: invariants(self.services, self.caller, self.now, verified=verified),
            key,
        )
        return found

    def values(self, codes: Sequence[str], metric: str) -> list[int | None]:
        """:func:`values`, from the remembered load of every cell in scope."""
        load: dict[str | None, CellLoad] = self._get(
            "load", lambda: cell_load(self.services, self.caller, self.now)
        )
        return values_for(codes, load, metric, in_scope=lambda c: _overlaps(self.caller, c))

    def open_points(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get(
            "points", lambda: open_points(self.services, self.caller, self.now)
        )
        return found

    def owners(self, codes: Sequence[str]) -> dict[str, str]:
        """:func:`owners` now (the roster in memory: keyed by its identity and the codes)."""
        key = (id(self.services.roster), tuple(codes))
        found: dict[str, str] = self.cache.get(
            ("owners", key), self.stamp, lambda: owners(self.services, codes, self.now)
        )
        return found


# -- pure helpers -----------------------------------------------------------------------------


def values_for(
    codes: Sequence[str],
    load: Mapping[str | None, CellLoad],
    metric: str,
    *,
    in_scope: Callable[[str], bool] = lambda _: True,
) -> list[int | None]:
    """``metric`` per code: a tier-3 code's own value, a parent's the sum over its cells.

    >>> load = {"111": CellLoad("111", 3, 1, 1, 0), "112": CellLoad("112", 1, 0, 0, 0)}
    >>> values_for(["111", "112", "113"], load, "open")
    [3, 1, 0]
    >>> values_for(["11"], load, "risk")
    [2]
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: one of {', '.join(METRICS)}")

    def value(row: CellLoad) -> int:
        if metric == "open":
            return row.open
        if metric == "overdue":
            return row.overdue
        return row.overdue + row.due_soon

    sums: dict[str, int] = {}
    lengths = {len(c) for c in codes}
    for cell, row in load.items():
        if cell is None:
            continue
        for n in lengths:
            key = cell[:n]
            sums[key] = sums.get(key, 0) + value(row)
    return [sums.get(c, 0) if in_scope(c) else None for c in codes]


def point(case: Case, now: datetime) -> dict[str, Any]:
    """A case as a map point (no citizen text: the hover names category and state only)."""
    overdue = case.due_at is not None and case.due_at <= now and case.state.is_open
    return {
        "id": case.case_id,
        "lon": case.lon,
        "lat": case.lat,
        "category": case.category,
        "state": case.state.value,
        "overdue": overdue,
        "escalated": case.escalation_level > 0,
        "card": case.card,
    }


def _overlaps(caller: Caller, code: str) -> bool:
    """Whether any of ``code``'s cells is in the caller's scope."""
    if caller.scope is None:
        return True
    return any(code.startswith(p) or p.startswith(code) for p in caller.scope)
