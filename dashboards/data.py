"""The dashboard's one data-access module: everything a page shows comes through here.

It reads through the store's and the services' public functions (no SQL of its own, no routing
of its own) and always *as a caller*: every function takes the :class:`Caller` and limits what
it returns to his scope. Results are plain view-model values (dicts, lists, dataclasses) that
the pure figure and layout functions turn into components.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from dashboards.geo import MapGeometry
from gridmgr import analytics
from gridmgr.access import Caller, check_report_scope
from gridmgr.cases import Action, Case, CaseState, Role, allowed_actions
from gridmgr.errors import CaseNotFoundError, ForbiddenError
from gridmgr.grid.datum import Datum
from gridmgr.grid.model import Grid
from gridmgr.intake.duplicates import DuplicateMatch
from gridmgr.intake.photos import Photo
from gridmgr.ledger import LedgerEvent
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import Post, PostKind, field_post
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.responsibility.staffing import staffing_report
from gridmgr.services.actions import act
from gridmgr.services.notices import mark_notifications_read, notifications_for
from gridmgr.services.reports import Ingestor, report_incident
from gridmgr.services.triage import (
    Unlocated,
    find_duplicates,
    merge_cases,
    merge_view,
    place_case,
    unlocated_queue,
)
from gridmgr.store import CaseFilter, Store, TrailEntry
from gridmgr.store.attachments import AttachmentRow
from gridmgr.store.casestore import CaseStats, CellLoad
from gridmgr.store.outboxstore import DeliveryStatus, Notification

METRICS = ("open", "overdue", "risk")
"""What the map can be coloured by: open cases, overdue cases, SLA risk."""
DUE_SOON = timedelta(hours=2)
"""SLA risk counts the open cases overdue or due within this."""
ON_TIME_WINDOW = timedelta(days=30)
FEED_LIMIT = 30
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


@dataclass(frozen=True)
class Invariant:
    """One line of the "nothing escapes the grid" panel."""

    key: str
    ok: bool
    value: str
    link: str | None = None
    """Where the offending items are listed (when broken)."""
    details: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class CaseView:
    """Everything the case page shows."""

    case: Case
    number: int | None
    path: list[tuple[str, str]]
    """(code, name) from the town down to the cell."""
    chain: list[dict[str, str]]
    """The owner chain at the time of the report: post, who held it then."""
    trail: list[TrailEntry]
    actions: list[Action]
    photos: list[AttachmentRow]
    overdue: bool
    triage: TriageView | None = None


@dataclass
class DashData:
    """The data access of one running dashboard (one per app; read-only state only)."""

    store: Store
    context: RoutingContext
    clock: Callable[[], datetime]
    data_dir: Path
    geometry: MapGeometry
    ingestor: Ingestor | None = None
    _verified: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def grid(self) -> Grid:
        return self.geometry.grid

    # -- the map ------------------------------------------------------------------------------

    def view_codes(self, parent: str | None) -> tuple[int, list[str]]:
        """The cells the map shows under ``parent`` (``None``: all tier-3 cells) and their tier."""
        if parent is None:
            return 3, list(self.geometry.tier(3).codes)
        children = self.grid.cell_to_children(parent)
        tier = int(self.grid.cell(children[0])["tier"]) if children else 3
        return tier, list(children)

    def cell_load(self, caller: Caller, now: datetime) -> dict[str | None, CellLoad]:
        """Open cases per tier-3 cell in the caller's scope."""
        rows = self.store.cell_load(now, soon=DUE_SOON, scope=caller.scope)
        return {r.cell: r for r in rows}

    def values(
        self, caller: Caller, codes: Sequence[str], metric: str, now: datetime
    ) -> list[int | None]:
        """``metric`` for each of ``codes`` (any tier; a parent sums its cells); cells out of
        the caller's scope get ``None`` (drawn blank)."""
        load = self.cell_load(caller, now)
        return values_for(codes, load, metric, in_scope=lambda c: _overlaps(caller, c))

    def owners(self, codes: Iterable[str], at: datetime) -> dict[str, str]:
        """Each cell's owner now (name, or 空缺 vacant)."""
        roster = self.context.roster
        out = {}
        for code in codes:
            person = roster.owner(field_post(code), at)
            out[code] = person.name if person is not None else "空缺 vacant"
        return out

    def open_points(self, caller: Caller, now: datetime) -> list[dict[str, Any]]:
        """The cases worth a point on the map: open ones overdue, and open ones reported in the
        last :data:`RECENT` (the colours already count every open case per cell)."""
        mine = {"scope": caller.scope, "visible_to": caller.actor.actor_id}
        late = self.store.cases(CaseFilter(overdue_at=now, **mine), limit=MAX_POINTS)  # type: ignore[arg-type]
        new = self.store.cases(
            CaseFilter(open_only=True, reported_from=now - RECENT, **mine),  # type: ignore[arg-type]
            limit=MAX_POINTS,
        )
        found = {c.case_id: c for c in [*late, *new]}.values()
        return [point(c, now) for c in found if c.lon is not None and c.lat is not None]

    def patrol_positions(self, caller: Caller, now: datetime) -> list[dict[str, Any]]:
        """Where the workers on patrol are: each one's latest point of the last
        :data:`ON_PATROL`, in the caller's scope (name for the hover)."""
        latest = self.store.latest_patrol_points(since=now - ON_PATROL)
        if latest.empty:
            return []
        lons = latest["lon"].to_numpy(dtype=float)
        lats = latest["lat"].to_numpy(dtype=float)
        cells = self.grid.points_to_cells(lons, lats)["tier3"]
        persons = self.context.roster.persons
        out = []
        for person_id, lon, lat, cell in zip(latest["person_id"], lons, lats, cells, strict=True):
            if not caller.covers(cell):
                continue
            person = persons.get(str(person_id))
            name = person.name if person is not None else str(person_id)
            out.append({"lon": float(lon), "lat": float(lat), "name": name})
        return out

    # -- figures of the command center ----------------------------------------------------------

    def kpis(self, caller: Caller, now: datetime) -> Kpis:
        stats = self._stats(caller, now)
        rate = stats.closed_window_on_time / stats.closed_window if stats.closed_window else None
        return Kpis(stats.open, stats.overdue, stats.escalated, stats.closed_since, rate)

    def _stats(self, caller: Caller, now: datetime) -> CaseStats:
        local = now.astimezone(TZ)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return self.store.case_stats(now, since=midnight, window=ON_TIME_WINDOW, scope=caller.scope)

    def invariants(self, caller: Caller, now: datetime) -> list[Invariant]:
        """The "nothing escapes the grid" panel, live (DESIGN.md's invariants)."""
        grid = self.grid
        out: list[Invariant] = []
        counts = grid.counts
        out.append(
            Invariant(
                "coverage",
                True,  # a grid that fails validation is refused at load: this one passed
                f"{counts[1]} / {counts[2]} / {counts[3]}",
            )
        )
        report = staffing_report(grid, self.context.roster, now)
        owned = report.owned_cells
        vacancies = report.of_kind("vacancy")
        owned3, all3 = owned[3]
        out.append(
            Invariant(
                "owners",
                not vacancies,
                f"{owned3}/{all3}",
                link=None if not vacancies else "/dashboard/coverage#vacancies",
                details=tuple(f.message for f in vacancies[:5]),
            )
        )
        stats = self._stats(caller, now)
        crew = self.context.roster.on_duty(now)
        unowned = stats.without_owner + (0 if crew else stats.awaiting_dispatch)
        out.append(
            Invariant(
                "owned_cases",
                unowned == 0,
                f"{stats.open - unowned}/{stats.open}",
                link=None if unowned == 0 else "/dashboard/wall",
                details=()
                if crew or not stats.awaiting_dispatch
                else ("no duty crew on shift for the cases awaiting dispatch",),
            )
        )
        late = [
            c for c in self.store.to_escalate(now - OVERDUE_GRACE, limit=50) if caller.may_see(c)
        ]
        out.append(
            Invariant(
                "escalated",
                not late,
                str(len(late)),
                link=None if not late else f"/dashboard/case/{late[0].case_id}",
            )
        )
        out.append(
            Invariant(
                "out_of_grid",
                True,  # a queue, not a breach: shown with its size and a link
                str(stats.out_of_grid),
                link="/dashboard/wall#out-of-grid" if stats.out_of_grid else None,
            )
        )
        verified = self.ledger_status()
        out.append(
            Invariant(
                "ledger",
                bool(verified.get("ok", True)),  # not verified yet (first run under way): no alarm
                str(verified.get("at", "…")),
                details=(str(verified["problem"]),) if verified.get("problem") else (),
            )
        )
        return out

    def ledger_status(self) -> dict[str, Any]:
        """The latest ledger verification (run by :meth:`verify_ledger`)."""
        return dict(self._verified)

    def verify_ledger(self) -> None:
        """Verify the ledger end to end and remember when and how it went (background job)."""
        result = self.store.verify_ledger()
        now = self.clock().astimezone(TZ)
        self._verified.update(
            ok=result.ok,
            at=now.strftime("%H:%M"),
            events=result.count,
            problem=None if result.ok else f"event {result.first_bad_seq}: {result.problem}",
        )

    def changes(self, caller: Caller, since: int, now: datetime) -> Changes:
        """Ledger events after ``since`` that concern cases the caller may see."""
        events = self.store.ledger_since(since, limit=200)
        seq = events[-1].seq if events else since
        case_ids = [
            e.subject.removeprefix("case:") for e in events if e.subject.startswith("case:")
        ]
        cases = {}
        if case_ids:
            found = self.store.cases(
                CaseFilter(
                    case_ids=sorted(set(case_ids)),
                    scope=caller.scope,
                    visible_to=caller.actor.actor_id,
                ),
                limit=len(case_ids),
            )
            cases = {c.case_id: c for c in found}
        items: list[FeedItem] = []
        cells: set[str] = set()
        points: list[dict[str, Any]] = []
        for event in events:
            case_id = event.subject.removeprefix("case:")
            case = cases.get(case_id)
            if case is None:
                continue
            if case.cell is not None:
                cells.add(case.cell)
            items.append(self._feed_item(event, case))
            if event.kind == "case.report" and case.lon is not None and case.lat is not None:
                points.append(point(case, now))
        return Changes(seq, items[::-1][:FEED_LIMIT], cells, points, more=len(events) == 200)

    def recent_feed(self, caller: Caller, now: datetime) -> tuple[int, list[FeedItem]]:
        """The last events in scope (for a freshly opened page) and the head sequence."""
        head = self.store.ledger_head()
        if head is None:
            return 0, []
        start = max(0, head.seq - 200)
        changes = self.changes(caller, start, now)
        return changes.seq, changes.items

    def _feed_item(self, event: LedgerEvent, case: Case) -> FeedItem:
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
            place=self.place(case.cell),
            text=case.description[:80],
        )

    # -- names ----------------------------------------------------------------------------------

    def category_name(self, code: str, lang: str = "zh") -> str:
        """A category's name in ``lang`` (its code if the catalog no longer has it)."""
        if code not in self.context.catalog:
            return code
        category = self.context.catalog.category(code)
        return category.name_zh if lang == "zh" else category.name_en

    def categories(self, lang: str = "zh") -> list[tuple[str, str]]:
        """(code, name) of every category, for pickers."""
        return [(c.code, c.name_zh if lang == "zh" else c.name_en) for c in self.context.catalog]

    def place(self, cell: str | None) -> str:
        """A cell's name with its town (or 网格外 out of grid)."""
        if cell is None:
            return "网格外 out of grid"
        try:
            town = self.grid.cell_to_ancestors(cell)
            names = [str(self.grid.cell(c)["name"]) for c in [*town[:1], cell]]
        except (KeyError, IndexError):
            return cell
        return " · ".join(dict.fromkeys(names))

    # -- the case page --------------------------------------------------------------------------

    def case_view(self, caller: Caller, case_id: str) -> CaseView:
        """A case the caller may see (else :class:`CaseNotFoundError`, as for a missing one)."""
        case = self.visible_case(caller, case_id)
        now = self.clock()
        trail = self.store.trail(case.case_id)
        path: list[tuple[str, str]] = []
        if case.cell is not None:
            for code in [*self.grid.cell_to_ancestors(case.cell), case.cell]:
                path.append((code, str(self.grid.cell(code)["name"])))
        chain: list[dict[str, str]] = []
        number: int | None = None
        if trail:
            details = trail[0].details
            number = details.get("number") if isinstance(details.get("number"), int) else None
            roster = self.context.roster
            at = trail[0].at
            posts = {p.key: p for p in roster.posts}
            for key in details.get("chain", []) or []:
                post = posts.get(key)
                person = None if post is None else roster.owner(post, at)
                if post is not None and post.kind is PostKind.OPERATOR:
                    person = None  # the duty crew of the moment, not one named person
                    who = "值班组 duty crew"
                else:
                    who = person.name if person is not None else "空缺 vacant"
                chain.append({"post": str(key), "label": self.post_label(post, key), "person": who})
        actions: list[Action] = [
            a
            for a in allowed_actions(case, caller.actor, at=now)
            if a not in (Action.ESCALATE, Action.REPORT)
        ]
        overdue = case.state.is_open and case.due_at is not None and case.due_at <= now
        return CaseView(
            case,
            number,
            path,
            chain,
            trail,
            actions,
            self.store.attachments_of(case.case_id),
            overdue,
            self.triage(caller, case),
        )

    def post_label(self, post: Post | None, key: str) -> str:
        """A post as people say it: 网格员 · 澄江01社区01网格."""
        if post is None:
            return key
        label = post.kind.label_zh
        if post.place:
            try:
                label += " · " + str(self.grid.cell(post.place)["name"])
            except (KeyError, IndexError):
                label += " · " + post.place
        return label

    def person_name(self, actor_id: str) -> str:
        """A roster person's name (system actors and unknown ids as they are)."""
        person = self.context.roster.persons.get(actor_id)
        return actor_id if person is None else f"{person.name} ({actor_id})"

    def inspections(self, *, draw_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Plans, draws, and the visits and results of ``draw_id`` (default: the newest run
        draw) — for city-wide roles (the page checks)."""
        from gridmgr.services.inspections import inspection_page

        return inspection_page(self.store, draw_id=draw_id)

    # -- intake, duplicates, notifications (#10) ---------------------------------------------------

    def triage(self, caller: Caller, case: Case) -> TriageView:
        """Where a case came from, its merge links, probable duplicates (open cases, for the
        command center) and its notices' delivery (city-wide roles)."""
        merges = merge_view(self.store, case.case_id)
        info = merges.info
        candidates: list[DuplicateMatch] = []
        if caller.city_wide and case.state.is_open and merges.master is None:
            channel = info.channel if info is not None else "grid_worker"
            candidates = [
                m
                for m in find_duplicates(self.store, self.context, case, channel=channel)
                if m.case_id != case.case_id
            ][:5]
        deliveries: list[DeliveryStatus] = []
        if caller.city_wide:
            deliveries = self.store.deliveries_of(case.case_id)
        return TriageView(
            channel=None if info is None else info.channel,
            source_id=None if info is None else info.source_id,
            address=None if info is None else info.address,
            unlocated=info is not None and info.queue == "unlocated" and case.lon is None,
            master=merges.master,
            duplicates=merges.duplicates,
            candidates=candidates,
            deliveries=deliveries,
        )

    def place_case(
        self, caller: Caller, case_id: str, *, lon: float, lat: float, comment: str
    ) -> Case:
        """Place an unlocated case (operators only; a ledger event routes it)."""
        require_operator(caller)
        case = self.visible_case(caller, case_id)
        return place_case(
            self.store,
            self.context,
            case.case_id,
            lon=lon,
            lat=lat,
            actor=caller.actor,
            at=self.clock(),
            comment=comment,
        )

    def merge(self, caller: Caller, duplicate_id: str, master_id: str, comment: str) -> None:
        """Merge a duplicate into its master (operators only; both trails record it)."""
        require_operator(caller)
        dup = self.visible_case(caller, duplicate_id)
        master = self.visible_case(caller, master_id)
        merge_cases(
            self.store,
            dup.case_id,
            master.case_id,
            actor=caller.actor,
            at=self.clock(),
            comment=comment,
        )

    def unlocated(self, caller: Caller) -> list[Unlocated]:
        """The unlocated queue (city-wide roles)."""
        return unlocated_queue(self.store) if caller.city_wide else []

    def notifications(self, caller: Caller, *, limit: int = 50) -> list[Notification]:
        """The caller's in-app notices, newest first (operators: the command center's too)."""
        return notifications_for(self.store, caller.actor, limit=limit)

    def unread(self, caller: Caller) -> int:
        """How many of the caller's notices are unread (capped at 100)."""
        return len(notifications_for(self.store, caller.actor, unread_only=True, limit=100))

    def mark_read(self, caller: Caller, ids: list[int]) -> int:
        """Mark the caller's notices read; how many were unread."""
        return mark_notifications_read(self.store, caller.actor, ids, at=self.clock())

    def visible_case(self, caller: Caller, case_id: str) -> Case:
        try:
            case = self.store.case(case_id)
        except CaseNotFoundError:
            case = None
        if case is None or not caller.may_see(case):
            raise CaseNotFoundError(f"no case {case_id} visible to you")
        return case

    def photo(self, caller: Caller, attachment_id: str) -> bytes:
        """A photo of a case the caller may see."""
        row, data = self.store.read_attachment(self.data_dir, attachment_id)
        self.visible_case(caller, row.case_id)
        return data

    def act(self, caller: Caller, case_id: str, action: Action, comment: str) -> Case:
        """Apply ``action`` as the caller (the state machine's guards decide)."""
        case = self.visible_case(caller, case_id)
        return act(
            self.store,
            self.context,
            case.case_id,
            action,
            actor=caller.actor,
            at=self.clock(),
            comment=comment,
        )

    # -- lists ----------------------------------------------------------------------------------

    def overdue(self, caller: Caller, now: datetime, *, limit: int = 300) -> list[Case]:
        """Overdue or escalated open cases in scope, latest deadline misses first."""
        where = CaseFilter(overdue_at=now, scope=caller.scope, visible_to=caller.actor.actor_id)
        found = self.store.cases(where, limit=limit)
        return sorted(found, key=lambda c: c.due_at or now)

    def out_of_grid(self, caller: Caller, *, limit: int = 100) -> list[Case]:
        if not caller.city_wide:
            return []
        return self.store.cases(CaseFilter(open_only=True, queue="out_of_grid"), limit=limit)

    def my_cases(self, caller: Caller, *, limit: int = 100) -> list[Case]:
        """The caller's open cases (assigned to him), soonest deadline first."""
        found = self.store.cases(
            CaseFilter(open_only=True, assignee_id=caller.actor.actor_id), limit=limit
        )
        far = datetime.max.replace(tzinfo=TZ)
        return sorted(found, key=lambda c: c.due_at or far)

    def my_cells(self, caller: Caller) -> list[tuple[str, str]]:
        """(code, name) of the tier-3 cells the caller acts in (workers: his own cells)."""
        if caller.scope is None:
            return []
        out = []
        for prefix in caller.scope:
            for code in self.grid.cell_to_descendants(prefix, 3) or [prefix]:
                out.append((code, str(self.grid.cell(code)["name"])))
        return out[:200]

    # -- reporting ------------------------------------------------------------------------------

    def report(
        self,
        caller: Caller,
        *,
        lon: float,
        lat: float,
        category: str,
        description: str,
        photo: Photo | None,
        datum: Datum = Datum.WGS84,
    ) -> Case:
        """Report an incident as the caller (in his cells unless city-wide), with a photo."""
        now = self.clock()
        check_report_scope(
            self.context, caller, category=category, lon=lon, lat=lat, datum=datum, at=now
        )
        result = report_incident(
            self.store,
            self.context,
            reporter=caller.actor,
            category=category,
            at=now,
            description=description,
            lon=lon,
            lat=lat,
            datum=datum,
            ingestor=self.ingestor,
        )
        if photo is not None:
            self.store.save_attachment(
                self.data_dir,
                result.case.case_id,
                photo,
                at=self.clock(),
                actor=caller.actor.actor_id,
            )
        return result.case

    # == coverage review (gridmgr.analytics) ===================================================
    # Added for the coverage review page (issue #9). Figures come from gridmgr.analytics over
    # the store's case facts and patrol points, for callers who see the whole city only.
    # Case facts and patrol coverage are cached *per minute* in this instance (keyed by the
    # arguments), so re-ranking, switching views or exporting does not re-read the database;
    # patrol coverage (≈ 9 s city-wide for 7 days) is computed for one town at a time.

    REVIEW_CACHE_SIZE = 32

    def _review_cache(self) -> dict[tuple[Any, ...], tuple[datetime, Any]]:
        # created on first use: the dataclass's fields belong to the dashboard's owner
        cache: dict[tuple[Any, ...], tuple[datetime, Any]] = self.__dict__.setdefault(
            "_review_cache_store", {}
        )
        return cache

    def _per_minute(self, key: tuple[Any, ...], now: datetime, compute: Callable[[], Any]) -> Any:
        minute = now.replace(second=0, microsecond=0)
        cache = self._review_cache()
        hit = cache.get(key)
        if hit is not None and hit[0] == minute:
            return hit[1]
        value = compute()
        if len(cache) >= self.REVIEW_CACHE_SIZE:
            for old in [k for k, (m, _) in list(cache.items()) if m != minute]:
                cache.pop(old, None)
        cache[key] = (minute, value)
        return value

    def towns(self) -> list[tuple[str, str]]:
        """(code, name) of the tier-1 cells (towns), by code."""
        tier1 = self.grid.tier(1)
        return [(str(c), str(n)) for c, n in zip(tier1["code"], tier1["name"], strict=True)]

    def review_facts(self, caller: Caller, now: datetime, *, days: int) -> pd.DataFrame:
        """One row per case reported in the last ``days`` days (``Store.case_facts``)."""
        require_city_wide(caller)
        since = now - timedelta(days=days)
        return self._per_minute(  # type: ignore[no-any-return]
            ("facts", days, caller.scope),
            now,
            lambda: self.store.case_facts(since=since, until=now, scope=caller.scope),
        )

    def review_performance(
        self,
        caller: Caller,
        now: datetime,
        *,
        by: str,
        days: int,
        min_cases: int,
        town: str | None = None,
    ) -> pd.DataFrame:
        """Key figures per cell, community, town or owner, fairly ranked
        (:func:`gridmgr.analytics.performance`), with a ``label`` column to show."""
        facts = self.review_facts(caller, now, days=days)
        if town:
            facts = facts[facts["tier1"] == town]
        table = analytics.performance(facts, by=by, min_cases=min_cases)
        if by == "assignee":
            labels = [f"{n} ({u})" for u, n in zip(table["unit"], table["name"], strict=True)]
        else:
            names = analytics.names_of(self.grid, [str(u) for u in table["unit"]])
            labels = [names[str(u)] for u in table["unit"]]
        table.insert(1, "label", labels)
        return table

    def review_vacancies(self, caller: Caller, now: datetime) -> pd.DataFrame:
        """Vacant posts now (:func:`gridmgr.analytics.vacancies`)."""
        require_city_wide(caller)
        return analytics.vacancies(self.grid, self.context.roster, now)

    def review_patrols(
        self, caller: Caller, now: datetime, *, town: str, days: int = 7
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Patrol coverage of ``town``'s cells over the last ``days`` days, and of its
        communities (area-weighted): :func:`gridmgr.patrols.patrol_coverage` and
        :func:`gridmgr.analytics.coverage_by_tier`. Only the points within the town's bounds
        (plus a margin) are read into the computation."""
        require_city_wide(caller)
        if town not in set(self.grid.codes(1)):
            raise ForbiddenError(f"no town {town!r} in the current grid")

        def compute() -> tuple[pd.DataFrame, pd.DataFrame]:
            from gridmgr.patrols import PATROL_DISTANCE_M, patrol_coverage

            points = self.store.patrol_points(since=now - timedelta(days=days), until=now)
            minx, miny, maxx, maxy = self.grid.tier(1).set_index("code").loc[town].geometry.bounds
            margin = 2 * PATROL_DISTANCE_M / 90_000  # degrees; generous at this latitude
            near = points[
                points["lon"].between(minx - margin, maxx + margin)
                & points["lat"].between(miny - margin, maxy + margin)
            ]
            cells = self.grid.cell_to_descendants(town, 3)
            coverage = patrol_coverage(self.grid, near, now=now, days=days, cells=cells)
            communities = analytics.coverage_by_tier(
                self.grid, coverage, tier=2, now=now, days=days
            )
            return coverage, communities

        return self._per_minute(("patrols", town, days), now, compute)  # type: ignore[no-any-return]


def values_for(
    codes: Sequence[str],
    load: dict[str | None, CellLoad],
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
    }


def _overlaps(caller: Caller, code: str) -> bool:
    """Whether any of ``code``'s cells is in the caller's scope."""
    if caller.scope is None:
        return True
    return any(code.startswith(p) or p.startswith(code) for p in caller.scope)


def require_operator(caller: Caller) -> None:
    if caller.actor.role is not Role.OPERATOR:
        raise ForbiddenError("only the command center's operators place and merge cases")


@dataclass(frozen=True)
class TriageView:
    """A case's intake and merge facts for its page."""

    channel: str | None
    source_id: str | None
    address: str | None
    unlocated: bool
    master: Case | None
    duplicates: list[Case]
    candidates: list[DuplicateMatch]
    deliveries: list[DeliveryStatus]


def require_city_wide(caller: Caller) -> None:
    if not caller.city_wide:
        raise ForbiddenError("this page is for the command center and managers")


__all__ = [
    "METRICS",
    "CaseState",
    "CaseView",
    "Changes",
    "DashData",
    "FeedItem",
    "Invariant",
    "Kpis",
    "point",
    "require_city_wide",
    "values_for",
]
