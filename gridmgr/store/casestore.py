"""Case rows: converting between :class:`gridmgr.cases.Case` and the ``cases`` table, and queries.

The conversion is the only place that knows both shapes; the store's methods (in
:mod:`gridmgr.store`) wrap these in transactions with their ledger events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    bindparam,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import case as sql_case

from gridmgr.cases import Assignee, Case, CaseEvent, CaseState
from gridmgr.errors import CaseNotFoundError, ConcurrentUpdateError
from gridmgr.responsibility.sla import Stage
from gridmgr.store.schema import case_events, cases

OPEN_STATES = tuple(s.value for s in CaseState if s.is_open)
AWAITING_DISPATCH = (
    CaseState.REPORTED.value,
    CaseState.REGISTERED.value,
    CaseState.RETURNED.value,
    CaseState.VERIFIED.value,
)
"""States in which a case is with the command center (to register, dispatch or close), not
with a field owner on a stage clock."""
MERGED_QUEUE = "merged"
"""The queue of duplicates merged into a master case (:mod:`gridmgr.services.triage`)."""


def case_to_row(case: Case) -> dict[str, Any]:
    """The ``cases`` columns of ``case`` (without ``number``, ``queue`` and the tier codes)."""
    a = case.assignee
    return {
        "case_id": case.case_id,
        "category": case.category,
        "state": case.state.value,
        "reported_at": case.reported_at,
        "updated_at": case.updated_at,
        "reporter": case.reporter,
        "description": case.description,
        "lon": case.lon,
        "lat": case.lat,
        "location": None
        if case.lon is None or case.lat is None
        else shapely.Point(case.lon, case.lat),
        "cell": case.cell,
        "generation_id": case.generation_id,
        "assignee_id": None if a is None else a.person_id,
        "assignee_post": None if a is None else a.post,
        "assignee_name": None if a is None else a.name,
        "handler": case.handler,
        "stage": None if case.stage is None else case.stage.value,
        "stage_started_at": case.stage_started_at,
        "due_at": case.due_at,
        "stage_seq": case.stage_seq,
        "escalation_level": case.escalation_level,
        "escalated_stage_seq": case.escalated_stage_seq,
        "reopen_count": case.reopen_count,
        "return_count": case.return_count,
        "deferrals": case.deferrals,
        "rating": case.rating,
        "version": case.version,
    }


def row_to_case(row: Mapping[Any, Any]) -> Case:
    """The :class:`Case` a ``cases`` row holds."""
    assignee = (
        None
        if row["assignee_id"] is None
        else Assignee(row["assignee_id"], row["assignee_post"] or "", row["assignee_name"] or "")
    )
    return Case(
        case_id=row["case_id"],
        category=row["category"],
        state=CaseState(row["state"]),
        reported_at=row["reported_at"],
        updated_at=row["updated_at"],
        reporter=row["reporter"],
        description=row["description"],
        lon=row["lon"],
        lat=row["lat"],
        cell=row["cell"],
        generation_id=row["generation_id"],
        assignee=assignee,
        handler=row["handler"],
        stage=None if row["stage"] is None else Stage(row["stage"]),
        stage_started_at=row["stage_started_at"],
        due_at=row["due_at"],
        escalation_level=row["escalation_level"],
        escalated_stage_seq=row["escalated_stage_seq"],
        stage_seq=row["stage_seq"],
        reopen_count=row["reopen_count"],
        return_count=row["return_count"],
        deferrals=row["deferrals"],
        rating=row["rating"],
        version=row["version"],
    )


def insert_cases(
    conn: Connection, rows: Sequence[tuple[Case, str, str | None, str | None]]
) -> list[int]:
    """Insert new cases ``(case, queue, tier1, tier2)`` in one statement; returns their numbers
    (1, 2, 3 … in report order)."""
    first = int(conn.execute(_NEXT_NUMBER).scalar_one()) + 1
    numbers = list(range(first, first + len(rows)))
    conn.execute(
        _INSERT_CASE,
        [
            {**case_to_row(case), "number": n, "queue": queue, "tier1": t1, "tier2": t2}
            for n, (case, queue, t1, t2) in zip(numbers, rows, strict=True)
        ],
    )
    return numbers


# statements built once: parameters travel separately, so SQLAlchemy's compiled cache is hit
_NEXT_NUMBER = select(func.coalesce(func.max(cases.c.number), 0))
_INSERT_CASE = insert(cases)
_UPDATE_CASE = (
    update(cases)
    .where(cases.c.case_id == bindparam("where_case_id"))
    .where(cases.c.version == bindparam("where_version"))
)
_INSERT_EVENT = insert(case_events)


def update_case(conn: Connection, before: Case, after: Case) -> None:
    """Write ``after`` over ``before``, only if nobody changed the case meanwhile."""
    values = case_to_row(after)
    del values["case_id"]
    values.update(where_case_id=before.case_id, where_version=before.version)
    result = conn.execute(_UPDATE_CASE, values)
    if result.rowcount != 1:
        raise ConcurrentUpdateError(
            f"case {before.case_id} changed while it was being updated (version {before.version}); "
            "read it again and retry"
        )


def insert_events(conn: Connection, events: Sequence[tuple[CaseEvent, int]]) -> None:
    """Record case events ``(event, ledger_seq)`` beside the ledger events that prove them."""
    conn.execute(
        _INSERT_EVENT,
        [
            {
                "case_id": event.case_id,
                "ledger_seq": seq,
                "action": event.action.value,
                "actor": event.actor.actor_id,
                "at": event.at,
                "from_state": None if event.from_state is None else event.from_state.value,
                "to_state": event.to_state.value,
                "comment": event.comment,
                "details": dict(event.details),
            }
            for event, seq in events
        ],
    )


def load_case(conn: Connection, case_id: str) -> Case:
    """The case with ``case_id``, or :class:`CaseNotFoundError`."""
    row = conn.execute(select(cases).where(cases.c.case_id == case_id)).mappings().first()
    if row is None:
        raise CaseNotFoundError(f"no case {case_id!r}")
    return row_to_case(row)


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
    case_ids: Sequence[str] | None = None
    """Only these cases (``None``: any)."""


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
    if f.reported_from is not None:
        query = query.where(cases.c.reported_at >= f.reported_from)
    if f.reported_to is not None:
        query = query.where(cases.c.reported_at < f.reported_to)
    if f.queue:
        query = query.where(cases.c.queue == f.queue)
    if f.case_ids is not None:
        query = query.where(cases.c.case_id.in_(list(f.case_ids)))
    if f.scope is not None:
        allowed: list[ColumnElement[bool]] = [cases.c.cell.like(_prefix(p) + "%") for p in f.scope]
        if f.visible_to:
            allowed += [cases.c.reporter == f.visible_to, cases.c.assignee_id == f.visible_to]
        query = query.where(or_(*allowed) if allowed else false())
    return query.order_by(cases.c.number.desc())


def _prefix(code: str) -> str:
    """A cell-code prefix safe inside LIKE (codes are digits; anything else is dropped)."""
    return "".join(ch for ch in code if ch.isdigit())


def select_to_escalate(now: datetime) -> Select[Any]:
    """Open cases whose running stage is due by ``now`` and not yet escalated."""
    return (
        select(cases)
        .where(
            cases.c.state.in_(OPEN_STATES),
            cases.c.stage.is_not(None),
            cases.c.due_at <= now,
            or_(
                cases.c.escalated_stage_seq.is_(None),
                cases.c.escalated_stage_seq != cases.c.stage_seq,
            ),
        )
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
    return _scoped(query, scope).group_by(cases.c.cell)


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
    return _scoped(query, scope)


def _scoped(query: Select[Any], scope: tuple[str, ...] | None) -> Select[Any]:
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
        )
        .select_from(cases.outerjoin(case_events, ev.case_id == c.case_id))
        .group_by(c.case_id)
        .order_by(c.case_id)
    )
    if since is not None:
        query = query.where(c.reported_at >= since)
    if until is not None:
        query = query.where(c.reported_at < until)
    return _scoped(query, scope)
