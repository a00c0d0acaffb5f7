"""Bulk reads for analytics: rows handed to pandas as the driver gives them.

SQLAlchemy processes every value of every row it returns (an aware ``datetime`` built per time
column, a ``Row`` per row); for the hundreds of thousands of rows a month's assessment reads
that costs seconds. These helpers keep SQLAlchemy for building and binding the statement and
take the rows from the DBAPI cursor: times come as text on SQLite and as aware datetimes on
PostgreSQL, and the caller converts whole columns at once (``pandas.to_datetime``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Executable

from gridmgr.errors import TimeError
from gridmgr.store.columns import sqlite_time_text
from gridmgr.store.schema import patrol_points

WINDOW_CHUNK = 5000
"""Windows one query joins (3 bound values each: under SQLite's 32,766 and PostgreSQL's 65,535)."""


def driver_rows(conn: Connection, query: Executable) -> list[tuple[Any, ...]]:
    """The rows of ``query`` as tuples of the driver's values (no per-value processing)."""
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def frame_of(rows: Sequence[tuple[Any, ...]], columns: Sequence[str]) -> pd.DataFrame:
    """``rows`` as a frame of ``columns`` (pandas infers each column's type)."""
    return pd.DataFrame(rows, columns=list(columns))


def points_in_windows(
    conn: Connection, windows: Sequence[tuple[str, datetime, datetime]]
) -> list[tuple[Any, ...]]:
    """The driver's rows (``person_id``, ``at``, ``lon``, ``lat``, ``accuracy_m``) of the patrol
    points of each ``(person_id, since, until)`` window, ``since <= at < until``: one index
    range on ``(person_id, at)`` a window, joined from a ``VALUES`` list of bound values.

    The SQL is written out here rather than built as a SQLAlchemy ``values()`` construct:
    compiling thousands of bound windows took longer than the query."""
    postgres = conn.dialect.name == "postgresql"
    stamp = "CAST(%s AS TIMESTAMP WITH TIME ZONE)"
    row = f"(%s, {stamp}, {stamp})" if postgres else "(?, ?, ?)"
    rows: list[tuple[Any, ...]] = []
    cursor = conn.connection.cursor()
    try:
        for i in range(0, len(windows), WINDOW_CHUNK):
            chunk = windows[i : i + WINDOW_CHUNK]
            params: list[Any] = []
            for person, since, until in chunk:
                if postgres:
                    params += [person, utc_bound(since), utc_bound(until)]
                else:
                    params += [person, sqlite_time_text(since), sqlite_time_text(until)]
            sql = (
                f"WITH windows(person, lo, hi) AS (VALUES {', '.join([row] * len(chunk))}) "
                f"SELECT p.person_id, p.at, p.lon, p.lat, p.accuracy_m "
                f"FROM {patrol_points.name} AS p JOIN windows AS w "
                f"ON p.person_id = w.person AND p.at >= w.lo AND p.at < w.hi"
            )
            cursor.execute(sql, params)
            rows += cursor.fetchall()
    finally:
        cursor.close()
    return rows


def utc_bound(value: datetime) -> datetime:
    """An aware time as a plain ``datetime`` in UTC (what the driver adapts)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimeError(f"{value.isoformat()} has no timezone; the store keeps aware times")
    v = value.astimezone(UTC)
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, UTC)


__all__ = ["WINDOW_CHUNK", "driver_rows", "frame_of", "points_in_windows", "utc_bound"]
