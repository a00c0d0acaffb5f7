"""Case rows and queries of the ``cases`` table.

The conversion between a :class:`gridmgr.cases.Case` and its row is in
:mod:`gridmgr.store.caserows` (re-exported here). :class:`CaseMethods` are the store's
reads of cases (lists, counts, the command center's figures, analytics facts); the writes, each
with its case event and ledger event, are in :mod:`gridmgr.store.caseevents`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, false, func, or_, select
from sqlalchemy import case as sql_case

from gridmgr.cases import Case, unit_inbox
from gridmgr.errors import CaseNotFoundError
from gridmgr.store.caserows import AWAITING_DISPATCH as AWAITING_DISPATCH
from gridmgr.store.caserows import MERGED_QUEUE as MERGED_QUEUE
from gridmgr.store.caserows import OPEN_STATES as OPEN_STATES
from gridmgr.store.caserows import case_to_row as case_to_row
from gridmgr.store.caserows import row_to_case as row_to_case
from gridmgr.store.rawread import driver_rows, frame_of
from gridmgr.store.schema import case_events, cases
from gridmgr.store.transactions import StoreBase

if TYPE_CHECKING:
    import pandas as pd


def load_case(conn: Connection, case_id: str) -> Case:
    """The case with ``case_id``, or :class:`CaseNotFoundError`."""
    row = conn.execute(_LOAD_CASE, {"load_case_id": case_id}).mappings().first()
    if row is None:
        raise CaseNotFoundError(f"no case {case_id!r}")
    return row_to_case(row)


# built once, so SQLAlchemy finds it compiled instead of building a cache key each call
_LOAD_CASE = select(cases).where(cases.c.case_id == bindparam("load_case_id"))


# asked on every report and action (who on duty holds least): sent to the driver as plain SQL
# (the open states are constants, one placeholder per person): SQLAlchemy's expanding list was
# rendered anew on every call and cost several times the query
_STAGES_HELD = (
    "SELECT holder_id, count(*) FROM cases WHERE holder_id IN ({held_by}) AND state IN ("
    + ", ".join(f"'{state}'" for state in OPEN_STATES)
    + ") GROUP BY holder_id"
)


@dataclass(frozen=True)
class CaseFilter:
    """Which cases to list: every given field must match; ``subtree`` is a cell-code prefix."""

    subtree: str | None = None
    states: Sequence[str] = ()
    categories: Sequence[str] = ()
    open_only: bool = False
    overdue_at: datetime | None = None
    assignee_id: str | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    queue: str | None = None
    scope: tuple[str, ...] | None = None
    """Cell-code prefixes the viewer acts in (``None``: everywhere)."""
    visible_to: str | None = None
    """With ``scope``: also the cases this person reported or is assigned."""
    units: Sequence[str] = ()
    """With ``scope``: also the cases in these units' inbox (post ``unit:<unit_id>``)."""
    assignee_post: str | None = None
    """Only the cases taken for this post (``unit:<unit_id>``: a unit's inbox)."""
    case_ids: Sequence[str] | None = None
    """Only these cases (``None``: any)."""
    on_ladder: bool = False
    """Only open cases on the 督办 ladder (with a card)."""


def select_cases(f: CaseFilter) -> Select[Any]:
    """A SELECT of ``cases`` rows matching ``f``, newest first."""
    query = select(cases)
    if f.subtree:
        query = query.where(cases.c.cell.like(_prefix(f.subtree) + "%"))
    if f.states:
        query = query.where(cases.c.state.in_(list(f.states)))
    if f.categories:
        query = query.where(cases.c.category.in_(list(f.categories)))
    if f.open_only:  # a merged duplicate is not open work: it follows its master
        query = query.where(cases.c.state.in_(OPEN_STATES), cases.c.queue != MERGED_QUEUE)
    if f.overdue_at is not None:
        query = query.where(cases.c.due_at <= f.overdue_at, cases.c.state.in_(OPEN_STATES))
    if f.assignee_id:
        query = query.where(cases.c.assignee_id == f.assignee_id)
    if f.assignee_post:
        query = query.where(cases.c.assignee_post == f.assignee_post)
    if f.reported_from is not None:
        query = query.where(cases.c.reported_at >= f.reported_from)
    if f.reported_to is not None:
        query = query.where(cases.c.reported_at < f.reported_to)
    if f.queue:
        query = query.where(cases.c.queue == f.queue)
    if f.case_ids is not None:
        query = query.where(cases.c.case_id.in_(list(f.case_ids)))
    if f.on_ladder:
        query = query.where(cases.c.card.is_not(None), cases.c.state.in_(OPEN_STATES))
    if f.scope is not None:
        allowed: list[ColumnElement[bool]] = [cases.c.cell.like(_prefix(p) + "%") for p in f.scope]
        if f.visible_to:
            allowed += [cases.c.reporter == f.visible_to, cases.c.assignee_id == f.visible_to]
        if f.units:
            allowed.append(cases.c.assignee_post.in_([unit_inbox(u) for u in f.units]))
        query = query.where(or_(*allowed) if allowed else false())
    return query.order_by(cases.c.number.desc())


def _prefix(code: str) -> str:
    """A cell-code prefix safe inside LIKE (codes are digits; anything else is dropped)."""
    return "".join(ch for ch in code if ch.isdigit())


def can_climb() -> ColumnElement[bool]:
    """An open, unmerged case whose running stage has a rung left above it (not 红牌)."""
    return (
        cases.c.state.in_(OPEN_STATES)
        & (cases.c.queue != MERGED_QUEUE)
        & cases.c.stage.is_not(None)
        & (cases.c.card.is_(None) | (cases.c.card != "red"))
    )


def select_to_escalate(now: datetime) -> Select[Any]:
    """Open cases whose running stage (or its rung) is due by ``now`` and can climb a rung."""
    return (
        select(cases)
        .where(can_climb(), cases.c.due_at <= now)
        .order_by(cases.c.due_at, cases.c.number)
    )


@dataclass(frozen=True)
class CellLoad:
    """The open cases of one tier-3 cell (``cell`` ``None``: the out-of-grid queue)."""

    cell: str | None
    open: int
    overdue: int
    due_soon: int
    escalated: int


def select_cell_load(now: datetime, soon: datetime, scope: tuple[str, ...] | None) -> Select[Any]:
    """Open, overdue (due by ``now``), due soon (by ``soon``) and escalated cases per cell."""
    open_ = cases.c.state.in_(OPEN_STATES) & (cases.c.queue != MERGED_QUEUE)
    query = select(
        cases.c.cell,
        func.count(),
        func.sum(sql_case((cases.c.due_at <= now, 1), else_=0)),
        func.sum(sql_case(((cases.c.due_at > now) & (cases.c.due_at <= soon), 1), else_=0)),
        func.sum(sql_case((cases.c.escalation_level > 0, 1), else_=0)),
    ).where(open_)
    return in_scope(query, scope).group_by(cases.c.cell)


@dataclass(frozen=True)
class CaseStats:
    """The command center's key figures over the cases in a scope."""

    open: int
    overdue: int
    escalated: int
    without_owner: int
    """Open cases past dispatch without an assignee or a deadline (the invariant says 0)."""
    awaiting_dispatch: int
    """Open cases with the command center (reported, registered, returned, verified): its duty
    crew owns them until dispatch or closing."""
    out_of_grid: int
    closed_since: int
    """Cases closed (or evaluated) since the ``since`` given (e.g. today 00:00)."""
    closed_window: int
    closed_window_on_time: int
    """Of the cases closed in the on-time window, those never escalated."""


def select_case_stats(
    now: datetime, since: datetime, window_start: datetime, scope: tuple[str, ...] | None
) -> Select[Any]:
    """One row of :class:`CaseStats` figures (see there; merged duplicates are not counted)."""
    open_ = cases.c.state.in_(OPEN_STATES) & (cases.c.queue != MERGED_QUEUE)
    closed = cases.c.state.in_(("closed", "evaluated"))

    def count(cond: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(sql_case((cond, 1), else_=0)), 0)

    query = select(
        count(open_),
        count(open_ & (cases.c.due_at <= now)),
        count(open_ & (cases.c.escalation_level > 0)),
        count(
            open_
            & cases.c.state.not_in(AWAITING_DISPATCH)
            & (cases.c.assignee_id.is_(None) | cases.c.due_at.is_(None))
        ),
        count(cases.c.state.in_(AWAITING_DISPATCH) & (cases.c.queue != MERGED_QUEUE)),
        count(open_ & (cases.c.queue == "out_of_grid")),
        count(closed & (cases.c.updated_at >= since)),
        count(closed & (cases.c.updated_at >= window_start)),
        count(closed & (cases.c.updated_at >= window_start) & (cases.c.escalation_level == 0)),
    )
    return in_scope(query, scope)


def in_scope(query: Select[Any], scope: tuple[str, ...] | None) -> Select[Any]:
    """``query`` limited to cases in the cell-code prefixes ``scope`` (``None``: everywhere)."""
    if scope is None:
        return query
    allowed = [cases.c.cell.like(_prefix(p) + "%") for p in scope]
    return query.where(or_(*allowed) if allowed else false())


CASE_FACT_ACTIONS = {
    "dispatched_at": "dispatch",
    "accepted_at": "accept",
    "handled_at": "handle",
    "closed_at": "close",
}
"""Case-fact columns holding the first time of an action (``MIN(at)`` over the case's events)."""


def select_case_facts(
    since: datetime | None, until: datetime | None, scope: tuple[str, ...] | None
) -> Select[Any]:
    """One row per case reported in ``[since, until)`` and ``scope``: the case's columns, the
    first time of each action of :data:`CASE_FACT_ACTIONS` and its number of escalations —
    one GROUP BY over ``case_events`` with a conditional ``MIN(at)`` per action."""
    ev = case_events.c
    c = cases.c
    firsts = [
        func.min(sql_case((ev.action == action, ev.at), else_=None)).label(name)
        for name, action in CASE_FACT_ACTIONS.items()
    ]
    escalated = sql_case((ev.action == "escalate", 1), else_=0)
    escalations = func.coalesce(func.sum(escalated), 0).label("escalations")
    query = (
        select(
            c.case_id,
            c.number,
            c.category,
            c.state,
            c.queue,
            c.cell,
            c.tier1,
            c.tier2,
            c.assignee_id,
            c.assignee_name,
            c.reported_at,
            *firsts,
            escalations,
            c.escalation_level,
            c.return_count,
            c.reopen_count,
            c.lon,
            c.lat,
            c.channel,
            c.rating,
        )
        .select_from(cases.outerjoin(case_events, ev.case_id == c.case_id))
        .group_by(c.case_id)
        .order_by(c.case_id)
    )
    if since is not None:
        query = query.where(c.reported_at >= since)
    if until is not None:
        query = query.where(c.reported_at < until)
    return in_scope(query, scope)


CASE_OWN_COLUMNS = [
    "case_id", "number", "category", "state", "queue", "cell", "tier1", "tier2",
    "assignee_id", "assignee_name", "reported_at", "escalation_level", "return_count",
    "reopen_count", "lon", "lat", "channel", "rating",
]  # fmt: skip
"""The case-fact columns that are the case's own (the others come from its events)."""


def select_case_columns(
    since: datetime | None, until: datetime | None, scope: tuple[str, ...] | None
) -> Select[Any]:
    """The :data:`CASE_OWN_COLUMNS` of the cases :func:`select_case_facts` reads, in its order."""
    query = select(*(cases.c[name] for name in CASE_OWN_COLUMNS)).order_by(cases.c.case_id)
    if since is not None:
        query = query.where(cases.c.reported_at >= since)
    if until is not None:
        query = query.where(cases.c.reported_at < until)
    return in_scope(query, scope)


def facts_from_events(own: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The case facts of :meth:`CaseMethods.case_facts` from the cases' own columns (a frame of
    the driver's values, :func:`select_case_columns`) and every event of those cases (``case_id``,
    ``action``, ``at`` as the driver gives it): the first time of each action and the number of
    escalations taken in pandas, as the SQL takes them (``MIN`` of the stored values), so a
    reader that needs the events anyway does not scan them twice."""
    import pandas as pd

    from gridmgr.analytics import CASE_FACT_COLUMNS

    frame = own.copy()
    acts = events.loc[events["action"].isin(list(CASE_FACT_ACTIONS.values()))]
    # the row of the least time per case and action, its value kept as the driver gave it
    stamp = pd.to_datetime(acts["at"], utc=True, format="ISO8601")
    least = stamp.groupby([acts["case_id"], acts["action"]], sort=False).idxmin()
    firsts = acts.loc[least.to_numpy(), ["case_id", "action", "at"]]
    for name, action in CASE_FACT_ACTIONS.items():
        first = firsts.loc[firsts["action"] == action].set_index("case_id")["at"]
        # as objects: PostgreSQL's driver gives datetimes, which pandas would not map into NaN
        frame[name] = frame["case_id"].map(first.astype(object)).astype(object)
    escalated = events.loc[events["action"] == "escalate"].groupby("case_id", sort=False).size()
    frame["escalations"] = frame["case_id"].map(escalated).fillna(0)
    return typed_facts(frame[CASE_FACT_COLUMNS])


def typed_facts(frame: pd.DataFrame) -> pd.DataFrame:
    """A case-facts frame of the driver's values with its columns typed (times aware, UTC)."""
    import pandas as pd

    frame = frame.copy()
    for col in ("reported_at", *CASE_FACT_ACTIONS):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    for col in ("number", "escalations", "escalation_level", "return_count", "reopen_count"):
        frame[col] = frame[col].astype("int64")
    for col in ("lon", "lat", "rating"):
        frame[col] = frame[col].astype(float)
    return frame


class CaseMethods(StoreBase):
    """The store's reads of cases."""

    def case(self, case_id: str) -> Case:
        """One case by id (:class:`CaseNotFoundError` if there is none)."""
        held = self._pending()
        if held is not None:  # in a batch: as the batch knows it, else read and remembered
            conn, pending = held
            known = pending.case(case_id)
            if known is not None:
                return known
            pending.flush(conn)
            return pending.remember(load_case(conn, case_id))
        with self._read() as conn:
            return load_case(conn, case_id)

    def cases(
        self, where: CaseFilter | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Case]:
        """Cases matching ``where`` (default: all), newest first."""
        query = select_cases(where or CaseFilter()).limit(limit).offset(offset)
        with self._read() as conn:
            return [row_to_case(r) for r in conn.execute(query).mappings()]

    def count_cases(self, where: CaseFilter | None = None) -> int:
        """How many cases match ``where``."""
        query = select_cases(where or CaseFilter()).order_by(None).subquery()
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(query)).scalar_one())

    def cell_load(
        self, now: datetime, *, soon: timedelta, scope: tuple[str, ...] | None = None
    ) -> list[CellLoad]:
        """Open cases per tier-3 cell in ``scope``: open, overdue, due within ``soon``,
        escalated (the out-of-grid queue is the row with ``cell`` ``None``)."""
        query = select_cell_load(now, now + soon, scope)
        with self._read() as conn:
            return [
                CellLoad(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0))
                for r in conn.execute(query)
            ]

    def case_stats(
        self,
        now: datetime,
        *,
        since: datetime,
        window: timedelta,
        scope: tuple[str, ...] | None = None,
    ) -> CaseStats:
        """Key figures of the cases in ``scope`` (see :class:`CaseStats`)."""
        query = select_case_stats(now, since, now - window, scope)
        with self._read() as conn:
            row = conn.execute(query).one()
        return CaseStats(*(int(v or 0) for v in row))

    def case_facts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        scope: tuple[str, ...] | None = None,
    ) -> pd.DataFrame:
        """One row per case reported in ``[since, until)`` in ``scope``, for analytics
        (:mod:`gridmgr.analytics`): its place, owner, state and counts, and the first time it
        was dispatched, accepted (signed for), handled and closed, and how often a stage of it
        was escalated, how it came in (``channel``) and its 评价 ``rating``. Columns:
        :data:`gridmgr.analytics.CASE_FACT_COLUMNS` (times aware, UTC)."""
        from gridmgr.analytics import CASE_FACT_COLUMNS

        query = select_case_facts(since, until, scope)
        with self._read() as conn:
            rows = driver_rows(conn, query)  # times as the driver gives them, converted at once
        return typed_facts(frame_of(rows, CASE_FACT_COLUMNS))

    def open_stages_held(self, person_ids: Sequence[str]) -> dict[str, int]:
        """How many open stages each of ``person_ids`` holds now (absent: none)."""
        if not person_ids:
            return {}
        batch = self._pending()
        if batch is None:
            with self._read() as conn:
                return self._stages_held(conn, list(dict.fromkeys(person_ids)))
        # in a batch: counted once (the rows as stored, with what the batch holds back), then
        # kept up to date by the batch's changes
        conn, pending = batch
        asked = list(dict.fromkeys(person_ids))
        missing = [p for p in asked if p not in pending.load]
        if missing:
            stored = self._stages_held(conn, missing)
            pending.load.update((p, stored.get(p, 0) + pending.held[p]) for p in missing)
        return {p: pending.load[p] for p in asked if pending.load[p]}

    def _stages_held(self, conn: Connection, person_ids: list[str]) -> dict[str, int]:
        """The stored count of open stages each of ``person_ids`` holds: one plain statement
        to the driver (a placeholder per person; through SQLAlchemy's expanding IN it cost more
        than the query)."""
        mark = "?" if self._engine.dialect.paramstyle == "qmark" else "%s"
        sql = _STAGES_HELD.format(held_by=", ".join([mark] * len(person_ids)))
        rows = conn.exec_driver_sql(sql, tuple(person_ids))
        return {str(r[0]): int(r[1]) for r in rows}

    def to_escalate(self, now: datetime, *, limit: int = 1000) -> list[Case]:
        """Open cases whose running stage is due by ``now`` and not escalated yet."""
        watch = self._open_case_watch()
        if watch is not None and not watch.is_due_by(now):
            return []  # inside a batch, known from memory: nothing to write out and read
        with self._read() as conn:
            rows = conn.execute(select_to_escalate(now).limit(limit)).mappings()
            return [row_to_case(r) for r in rows]

    def cases_due_between(self, start: datetime, end: datetime, *, limit: int = 5000) -> list[Case]:
        """Open cases with a holder whose running stage falls due in ``(start, end]``, soonest
        first (whom to warn that a deadline is near)."""
        query = (
            select(cases)
            .where(
                cases.c.state.in_(OPEN_STATES),
                cases.c.stage.is_not(None),
                cases.c.holder_id.is_not(None),
                cases.c.due_at > start,
                cases.c.due_at <= end,
            )
            .order_by(cases.c.due_at)
            .limit(limit)
        )
        with self._read() as conn:
            return [row_to_case(r) for r in conn.execute(query).mappings()]
