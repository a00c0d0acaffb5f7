"""Intake rows: channel and source id of a case, the unlocated queue, merged duplicates.

The columns beside the case's own (``channel``, ``source_id``, ``address``, ``queue``, tier
codes, ``merged_into``) are written from the case's events by :func:`apply_event_columns`,
inside the event's transaction — the ledger holds the same values, so the row can be rebuilt.
:class:`IntakeMethods` are the store's reads of them; :class:`IntakeReads` the same reads inside
a side event's transaction (:meth:`gridmgr.store.Store.record_side_events`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, select, tuple_, update

from gridmgr.cases import Action, Case, CaseEvent
from gridmgr.intake.duplicates import OpenCase
from gridmgr.store.casestore import MERGED_QUEUE, OPEN_STATES, row_to_case
from gridmgr.store.columns import sqlite_time_text
from gridmgr.store.rawread import utc_bound
from gridmgr.store.schema import cases
from gridmgr.store.transactions import StoreBase

UNLOCATED = "unlocated"
MERGED = MERGED_QUEUE
"""Queues beside routing's ``cell`` and ``out_of_grid``: reports waiting for a pin on the map,
and duplicates merged into a master case."""

_COLUMNS = ("channel", "source_id", "address", "queue", "tier1", "tier2", "merged_into")


def event_columns(event: CaseEvent) -> dict[str, Any]:
    """The intake columns an event sets (empty when it sets none).

    >>> from gridmgr.cases import Actor, CaseState, Role
    >>> from gridmgr.responsibility.calendar import TZ
    >>> ev = CaseEvent("C1", Action.MERGE, Actor("P1", Role.OPERATOR),
    ...     datetime(2026, 10, 8, tzinfo=TZ), CaseState.REPORTED, CaseState.REPORTED, "dup",
    ...     {"master": "C0", "queue": "merged"}, 2)
    >>> event_columns(ev)
    {'queue': 'merged', 'merged_into': 'C0'}
    """
    d = event.details
    out: dict[str, Any] = {}
    if event.action is Action.REPORT:
        out = {k: d[k] for k in ("channel", "source_id", "address") if d.get(k) is not None}
        if d.get("queue") == UNLOCATED:
            out["queue"] = UNLOCATED
    elif event.action is Action.PLACE:
        out = {k: d.get(k) for k in ("queue", "tier1", "tier2")}
    elif event.action is Action.MERGE:
        out = {"queue": d.get("queue"), "merged_into": d.get("master")}
    elif event.action is Action.UNMERGE:
        out = {"queue": d.get("queue"), "merged_into": None}
    return {k: v for k, v in out.items() if k in _COLUMNS}


def apply_event_columns(conn: Connection, events: Sequence[CaseEvent]) -> None:
    """Write the columns of :func:`event_columns` for each event (caller's transaction)."""
    for event in events:
        values = event_columns(event)
        if values:
            conn.execute(update(cases).where(cases.c.case_id == event.case_id).values(**values))


@dataclass(frozen=True)
class IntakeInfo:
    """The intake columns of one case."""

    case_id: str
    channel: str
    source_id: str | None
    address: str | None
    queue: str
    merged_into: str | None


def intake_info(conn: Connection, case_ids: Iterable[str]) -> dict[str, IntakeInfo]:
    """The intake columns of these cases, by case id."""
    ids = list(case_ids)
    if not ids:
        return {}
    c = cases.c
    rows = conn.execute(
        select(c.case_id, c.channel, c.source_id, c.address, c.queue, c.merged_into).where(
            c.case_id.in_(ids)
        )
    ).all()
    return {r.case_id: IntakeInfo(*r) for r in rows}


def existing_sources(conn: Connection, channel: str, source_ids: Sequence[str]) -> dict[str, str]:
    """Source id → case id of the cases of ``channel`` already imported with these ids."""
    out: dict[str, str] = {}
    for start in range(0, len(source_ids), 500):
        chunk = list(source_ids[start : start + 500])
        rows = conn.execute(
            select(cases.c.source_id, cases.c.case_id).where(
                tuple_(cases.c.channel, cases.c.source_id).in_([(channel, s) for s in chunk])
            )
        ).all()
        out.update({r.source_id: r.case_id for r in rows})
    return out


def duplicates_of(conn: Connection, master_id: str) -> list[str]:
    """The ids of the cases merged into ``master_id``, in report order."""
    rows = conn.execute(
        select(cases.c.case_id).where(cases.c.merged_into == master_id).order_by(cases.c.number)
    )
    return [r.case_id for r in rows]


def select_unlocated(
    conn: Connection, *, limit: int = 200
) -> list[tuple[Case, str | None, str, str | None]]:
    """Open cases waiting in the unlocated queue, oldest first: (case, address, channel,
    source id)."""
    rows = conn.execute(
        select(cases)
        .where(and_(cases.c.queue == UNLOCATED, cases.c.state.in_(OPEN_STATES)))
        .order_by(cases.c.number)
        .limit(limit)
    ).mappings()
    return [(row_to_case(r), r["address"], r["channel"], r["source_id"]) for r in rows]


def open_near(
    conn: Connection,
    *,
    categories: Sequence[str],
    box: tuple[float, float, float, float],
    since: datetime,
    until: datetime,
    limit: int = 200,
) -> list[OpenCase]:
    """Open, unmerged cases of ``categories`` inside ``box`` (lon_min, lon_max, lat_min,
    lat_max) reported in ``[since, until]``: the duplicate lookup's prefilter, one range scan
    per category of the ``(category, lon, lat)`` index.

    Asked on every report, it is sent to the driver as plain SQL: through SQLAlchemy it cost
    several times its query (two expanding lists rendered, times bound and read back through
    their column type). Times are bound as the column holds them (on SQLite
    :func:`~gridmgr.store.columns.sqlite_time_text`) and read back aware, in UTC."""
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    sql = _OPEN_NEAR.format(
        # SQLite has no statistics unless ANALYZE ran, and then prefers the equality on
        # merged_into (all NULL) over the range on lon: name the index. PostgreSQL's planner
        # has statistics.
        indexed=" INDEXED BY ix_cases_category_lon_lat" if sqlite else "",
        categories=", ".join([mark] * len(categories)),
        m=mark,
    )
    bind = sqlite_time_text if sqlite else utc_bound
    times = (bind(since), bind(until))
    rows = conn.exec_driver_sql(sql, (*box, *categories, *times, limit)).all()
    return [
        OpenCase(r[0], r[1], r[2], r[3], r[4], r[5], _utc_time(r[6]), r[7], r[8], r[9])
        for r in rows
    ]


def _utc_time(value: str | datetime) -> datetime:
    """A time as the driver gives it (SQLite: text in UTC; PostgreSQL: aware), aware in UTC."""
    found = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


_OPEN_NEAR = (
    "SELECT case_id, number, category, state, lon, lat, reported_at, description, reporter, "
    "channel FROM cases{indexed} "
    "WHERE lon BETWEEN {m} AND {m} AND lat BETWEEN {m} AND {m} AND category IN ({categories}) "
    "AND state IN (" + ", ".join(f"'{state}'" for state in OPEN_STATES) + ") "
    "AND merged_into IS NULL AND reported_at BETWEEN {m} AND {m} LIMIT {m}"
)


class IntakeReads:
    """The intake columns as one write transaction sees them: what a side event's ``build``
    reads before it decides (see :meth:`gridmgr.store.Store.record_side_events`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def intake_info(self, case_ids: Iterable[str]) -> dict[str, IntakeInfo]:
        """The intake columns of these cases, by case id."""
        return intake_info(self._conn, case_ids)

    def duplicates_of(self, master_id: str) -> list[str]:
        """The ids of the cases merged into ``master_id``, in report order."""
        return duplicates_of(self._conn, master_id)


class IntakeMethods(StoreBase):
    """The store's reads of intake columns: sources, the unlocated queue, duplicates."""

    def intake_info(self, case_ids: Iterable[str]) -> dict[str, IntakeInfo]:
        """The intake columns of these cases, by case id (unknown ids are left out)."""
        with self._read() as conn:
            return intake_info(conn, case_ids)

    def existing_sources(self, channel: str, source_ids: Sequence[str]) -> dict[str, str]:
        """Source id → case id of the cases of ``channel`` already imported with these ids."""
        with self._read() as conn:
            return existing_sources(conn, channel, source_ids)

    def duplicates_of(self, master_id: str) -> list[str]:
        """The ids of the cases merged into ``master_id``, in report order."""
        with self._read() as conn:
            return duplicates_of(conn, master_id)

    def unlocated_cases(
        self, *, limit: int = 200
    ) -> list[tuple[Case, str | None, str, str | None]]:
        """Open cases waiting in the unlocated queue, oldest first: (case, address as reported,
        channel, source id)."""
        with self._read() as conn:
            return select_unlocated(conn, limit=limit)

    def open_cases_near(
        self,
        *,
        categories: Sequence[str],
        box: tuple[float, float, float, float],
        since: datetime,
        until: datetime,
        limit: int = 200,
    ) -> list[OpenCase]:
        """Open, unmerged cases of ``categories`` inside ``box`` (lon_min, lon_max, lat_min,
        lat_max) reported in ``[since, until]``: the duplicate lookup's prefilter."""
        with self._read() as conn:
            return open_near(
                conn, categories=categories, box=box, since=since, until=until, limit=limit
            )
