"""Patrol points in the ``patrol_points`` table: written in batches with their ledger event, read
back as frames for :mod:`gridmgr.patrols` (:class:`PatrolMethods`).

A batch is one person's points (a phone's upload, a GPX file, a stretch of a simulated walk).
One call stores some batches and one ``patrol.points`` ledger event for them — the count, the
time span and a SHA-256 over the points — in one transaction, so a track cannot be edited
afterwards unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import (
    Connection,
    FromClause,
    Text,
    bindparam,
    func,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.exc import IntegrityError

from gridmgr.errors import PatrolStoreError
from gridmgr.patrolpixels import CellDay, PatrolCover, StoredDay
from gridmgr.store.columns import sqlite_time_text
from gridmgr.store.ledgerstore import append
from gridmgr.store.rawread import points_in_windows
from gridmgr.store.schema import patrol_coverage as coverage_table
from gridmgr.store.schema import patrol_points as points_table
from gridmgr.store.transactions import StoreBase

__all__ = [
    "PATROL_EVENT",
    "POINT_COLUMNS",
    "PatrolBatch",
    "PatrolMethods",
    "PatrolResendError",
    "PatrolStoreError",
    "batch_digest",
]

PATROL_EVENT = "patrol.points"
POINT_COLUMNS = ["person_id", "at", "lon", "lat", "accuracy_m"]
"""The columns of every points frame (``at`` aware, UTC)."""

MAX_BATCH = 10_000
"""The most points one batch may hold."""


class PatrolResendError(PatrolStoreError):
    """A point of the batch (by its client id) was stored by another upload meanwhile."""


@dataclass(frozen=True)
class PatrolBatch:
    """One person's points: times (aware), WGS84 longitudes and latitudes, optional accuracy."""

    person_id: str
    at: Sequence[datetime]
    lon: Sequence[float]
    lat: Sequence[float]
    accuracy_m: Sequence[float | None] | None = None
    source: str = "api"
    client_ids: Sequence[str | None] | None = None
    """The phone's id of each point (unique per person: a resent point is refused)."""

    def __post_init__(self) -> None:
        n = len(self.at)
        if (
            not (len(self.lon) == len(self.lat) == n)
            or (self.accuracy_m is not None and len(self.accuracy_m) != n)
            or (self.client_ids is not None and len(self.client_ids) != n)
        ):
            raise PatrolStoreError(
                "at, lon, lat (and accuracy_m, client_ids) must have the same length"
            )
        if n > MAX_BATCH:
            raise PatrolStoreError(f"a batch holds at most {MAX_BATCH} points, got {n}")
        if any(t.tzinfo is None or t.utcoffset() is None for t in self.at):
            raise PatrolStoreError("patrol point times must be aware (with a time zone)")


def batch_digest(batches: Sequence[PatrolBatch]) -> str:
    """SHA-256 over the batches' points as canonical JSON: ``[person, UTC ISO time, lon, lat]``
    rows (degrees to 7 decimals), batch by batch, in order."""
    return _digest(batches, [_utc_texts(b.at) for b in batches])


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _utc_texts(times: Sequence[datetime]) -> list[str]:
    """The aware ``times`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffff`` (numpy writes them: a
    day of walks is 100,000 times, and ``isoformat`` a time, twice, cost more)."""
    us = np.fromiter(((t - _EPOCH) // _MICROSECOND for t in times), np.int64, len(times))
    texts: list[str] = np.datetime_as_string(us.astype("datetime64[us]"), unit="us").tolist()
    return texts


def _digest(batches: Sequence[PatrolBatch], stamps: Sequence[Sequence[str]]) -> str:
    """:func:`batch_digest` with the times as :func:`_utc_texts` (``stamps[i]`` for
    ``batches[i]``).

    The JSON text is written row by row as ``json.dumps`` writes it (a list of ``[person,
    time, lon, lat]`` lists, no spaces; a finite float as its ``repr``; the time as UTC
    ``isoformat`` writes it, without microseconds when there are none): a day of simulated
    walks is 100,000 points, and the lists of lists cost more than the hash."""
    rows: list[str] = []
    for b, texts in zip(batches, stamps, strict=True):
        person = json.dumps(b.person_id)
        lon = [_json_degrees(float(v)) for v in b.lon]
        lat = [_json_degrees(float(v)) for v in b.lat]
        rows.extend(
            f'[{person},"{t[:19] if t.endswith(".000000") else t}+00:00",{x},{y}]'
            for t, x, y in zip(texts, lon, lat, strict=True)
        )
    return hashlib.sha256(f"[{','.join(rows)}]".encode()).hexdigest()


def _json_degrees(value: float) -> str:
    """``json.dumps(round(value, 7))``."""
    rounded = round(value, 7)
    return repr(rounded) if math.isfinite(rounded) else json.dumps(rounded)


class PatrolMethods(StoreBase):
    """The store's patrol points: batches written with their ledger event, read as frames."""

    def record_patrol_batches(
        self,
        batches: Iterable[PatrolBatch],
        *,
        at: datetime,
        actor: str,
        cover: PatrolCover | None = None,
    ) -> int:
        """Store the batches' points and one ``patrol.points`` ledger event for them all (count,
        persons, time span, :func:`batch_digest`), in one transaction.

        ``cover`` (:func:`gridmgr.patrolpixels.points_to_cover` of the same points, in order)
        gives each point its cell and is OR-ed into the per-cell, per-day coverage bitmaps in
        the same transaction. Returns the number of points written. Empty batches are skipped.
        """
        todo = [b for b in batches if len(b.at)]
        if not todo:
            return 0
        stamps = [_utc_texts(b.at) for b in todo]
        count = sum(len(b.at) for b in todo)
        persons = sorted({b.person_id for b in todo})
        details: dict[str, object] = {
            "count": count,
            "persons": len(persons),
            "first": min(min(b.at) for b in todo).isoformat(),
            "last": max(max(b.at) for b in todo).isoformat(),
            "sha256": _digest(todo, stamps),
            "source": ",".join(sorted({b.source for b in todo})),
        }
        subject = f"person:{persons[0]}" if len(persons) == 1 else "patrols"
        if cover is not None and len(cover.cells) != count:
            raise PatrolStoreError(
                f"the cover names {len(cover.cells)} cells for {count} points; "
                "compute it from the same points"
            )
        cells = cover.cells if cover is not None else None
        try:
            with self._write(cases=()) as conn:
                _insert_points(conn, todo, stamps, cells)
                if cover is not None:
                    _merge_days(conn, cover.days)
                append(
                    conn, at=at, kind=PATROL_EVENT, actor=actor, subject=subject, details=details
                )
        except IntegrityError:
            if any(b.client_ids is not None for b in todo):
                raise PatrolResendError(
                    "some points were stored meanwhile by another upload (same client_id); "
                    "send the batch again"
                ) from None
            raise PatrolStoreError(
                f"{', '.join(persons[:5])}: not on the database's roster; "
                "load the current roster first (gridmgr db sync)"
            ) from None
        return count

    def patrol_points(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        persons: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Patrol points with ``since <= at < until`` (of ``persons`` if given), by person then
        time, as a frame of :data:`POINT_COLUMNS`."""
        t = points_table.c
        # times as the driver gives them (text on SQLite), converted at once by pandas: reading
        # half a million points row by row through the column type takes seconds
        at = type_coerce(t.at, Text)
        query = select(t.person_id, at, t.lon, t.lat, t.accuracy_m).order_by(t.person_id, t.at)
        if since is not None:
            query = query.where(t.at >= since)
        if until is not None:
            query = query.where(t.at < until)
        if persons is not None:
            query = query.where(t.person_id.in_(list(persons)))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return _frame(rows)

    def patrol_points_within(
        self, windows: Sequence[tuple[str, datetime, datetime]]
    ) -> pd.DataFrame:
        """The points of each ``(person_id, since, until)`` window (``since <= at < until``), by
        person then time, as :meth:`patrol_points` gives them: one index range on
        ``(person_id, at)`` a window, joined from a ``VALUES`` list (in chunks;
        :func:`gridmgr.store.rawread.points_in_windows`). Overlapping windows of one person give
        their points twice: merge them first."""
        with self._read() as conn:
            rows = points_in_windows(conn, windows)
        frame = _frame(rows)
        return frame.sort_values(["person_id", "at"], kind="stable", ignore_index=True)

    def latest_patrol_points(
        self, *, persons: Sequence[str] | None = None, since: datetime | None = None
    ) -> pd.DataFrame:
        """Each person's latest patrol point (of those at or after ``since``, when given)."""
        t = points_table.c
        source: FromClause = points_table
        if since is not None:
            # the range on ``at`` first (its index), then grouped: SQLite otherwise groups by
            # walking the whole (person_id, at) index — every point ever stored (≈ 0.1 s a
            # call at 1.6 M points) — to find none of them recent
            source = (
                select(points_table).where(t.at >= since).cte("recent").prefix_with("MATERIALIZED")
            )
        r = source.c
        newest = select(r.person_id, func.max(r.at).label("at")).group_by(r.person_id)
        if persons is not None:
            newest = newest.where(r.person_id.in_(list(persons)))
        sub = newest.subquery()
        query = (
            select(t.person_id, t.at, t.lon, t.lat, t.accuracy_m)
            .join(sub, (sub.c.person_id == t.person_id) & (sub.c.at == t.at))
            .order_by(t.person_id)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        frame = _frame(rows)
        return frame.drop_duplicates("person_id", keep="last").reset_index(drop=True)

    def patrol_points_span(self) -> tuple[datetime, datetime] | None:
        """The times of the first and the last stored patrol point (``None`` without points)."""
        t = points_table.c
        with self._read() as conn:
            first, last = conn.execute(select(func.min(t.at), func.max(t.at))).one()
        return None if first is None else (_aware(first), _aware(last))

    def merge_patrol_coverage(self, days: Sequence[CellDay]) -> None:
        """OR ``days``' pixels into the stored coverage (a rebuild from stored points)."""
        with self._write() as conn:
            _merge_days(conn, days)

    def clear_patrol_coverage(self) -> None:
        """Forget every coverage bitmap (before a rebuild from the stored points)."""
        with self._write() as conn:
            conn.execute(coverage_table.delete())

    def has_patrol_coverage(self) -> tuple[bool, bool]:
        """Whether there are (any patrol points, any coverage bitmaps)."""
        with self._read() as conn:
            points = conn.execute(select(points_table.c.id).limit(1)).first() is not None
            kept = conn.execute(select(coverage_table.c.cell).limit(1)).first() is not None
        return points, kept

    def patrol_coverage_days(self, first: date, last: date) -> list[StoredDay]:
        """The coverage bitmaps of the days ``first`` to ``last`` (inclusive), by cell and day."""
        t = coverage_table.c
        query = (
            select(t.cell, t.origin_x, t.origin_y, t.width, t.height, t.pixels, t.points)
            .where(t.day >= first, t.day <= last)
            .order_by(t.cell, t.day)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [StoredDay(r[0], (r[1], r[2], r[3], r[4]), bytes(r[5]), int(r[6])) for r in rows]

    def patrol_last_seen(self, *, until: date) -> dict[str, datetime]:
        """Each cell's latest patrol point on a day up to ``until`` (inclusive)."""
        t = coverage_table.c
        query = (
            select(t.cell, func.max(t.last_at))
            .where(t.day <= until, t.last_at.is_not(None))
            .group_by(t.cell)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return {str(c): _aware(a) for c, a in rows if a is not None}


_POINT_FIELDS = ("person_id", "at", "lon", "lat", "accuracy_m", "location", "cell", "client_id")
_SQLITE_INSERT_POINTS = (
    f"INSERT INTO patrol_points ({', '.join(_POINT_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in _POINT_FIELDS)})"
)


def _insert_points(
    conn: Connection,
    batches: Sequence[PatrolBatch],
    stamps: Sequence[Sequence[str]],
    cells: Sequence[str | None] | None,
) -> None:
    """Insert the batches' points (``stamps[i]``: batch ``i``'s times as :func:`_utc_texts`;
    ``cells``: each point's cell, in order, when known), with their locations as WKB.

    On SQLite the rows go to the driver as tuples, with the times as the text SQLAlchemy's
    ``DATETIME`` writes: a day of simulated walks is 100,000 points, and SQLAlchemy's per-row
    bind processing (or a dict a row) cost more than SQLite's insert. PostgreSQL takes the
    typed statement (its geometry column needs the PostGIS conversion)."""
    sqlite = conn.dialect.name == "sqlite"
    rows: list[tuple[object, ...]] = []
    done = 0
    for b, texts in zip(batches, stamps, strict=True):
        n = len(b.at)
        done += n
        lon = np.asarray(b.lon, dtype=float)
        lat = np.asarray(b.lat, dtype=float)
        none: list[None] = [None] * n
        acc = (
            none
            if b.accuracy_m is None
            else [None if a is None else float(a) for a in b.accuracy_m]
        )
        # SQLAlchemy's DATETIME text on SQLite (sqlite_time_text); aware UTC times otherwise
        at: Iterable[object] = (
            [f"{t[:10]} {t[11:]}" for t in texts] if sqlite else [t.astimezone(UTC) for t in b.at]
        )
        rows.extend(
            zip(
                [b.person_id] * n,
                at,
                lon.tolist(),
                lat.tolist(),
                acc,
                shapely.to_wkb(shapely.points(lon, lat)).tolist(),
                none if cells is None else cells[done - n : done],
                none if b.client_ids is None else b.client_ids,
                strict=True,
            )
        )
    if sqlite:
        conn.exec_driver_sql(_SQLITE_INSERT_POINTS, rows)
    else:
        typed = [dict(zip(_POINT_FIELDS, r, strict=True)) for r in rows]
        conn.execute(points_table.insert(), typed)


def _aware(value: datetime | str) -> datetime:
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp).to_pydatetime()


def _merge_days(conn: Connection, days: Sequence[CellDay]) -> None:
    """OR the days' pixels into the stored bitmaps (same raster), add their points, keep the
    latest time; a stored row of another raster (an older grid) is replaced."""
    if not days:
        return
    stored = _stored_days(conn, [(d.cell, d.day) for d in days])
    inserts, updates = [], []
    for d in days:
        row = {
            "cell": d.cell,
            "day": d.day,
            "origin_x": d.raster[0],
            "origin_y": d.raster[1],
            "width": d.raster[2],
            "height": d.raster[3],
            "pixels": d.pixels,
            "points": d.points,
            "last_at": d.last_at,
        }
        old = stored.get((d.cell, d.day))
        if old is None:
            inserts.append(row)
            continue
        if old[0] == d.raster and len(old[1]) == len(d.pixels):
            merged = np.bitwise_or(
                np.frombuffer(old[1], np.uint8), np.frombuffer(d.pixels, np.uint8)
            )
            row["pixels"] = merged.tobytes()
            row["points"] = int(old[2]) + d.points
            if old[3] is not None:
                last = _aware(old[3])  # type: ignore[arg-type]
                row["last_at"] = last if d.last_at is None else max(last, d.last_at)
        updates.append({**row, "k_cell": d.cell, "k_day": d.day})
    if conn.dialect.name == "sqlite":
        # to the driver as tuples (a day of walks changes thousands of cell-days): the day as
        # the ISO text and the time as the text SQLAlchemy's Date and DATETIME write
        if inserts:
            conn.exec_driver_sql(_SQLITE_INSERT_DAY, [_day_values(r) for r in inserts])
        if updates:
            rows = [_day_values(r) for r in updates]
            conn.exec_driver_sql(_SQLITE_UPDATE_DAY, [(*r, *r[:2]) for r in rows])
        return
    if inserts:
        conn.execute(coverage_table.insert(), inserts)
    if updates:
        conn.execute(_UPDATE_DAY, updates)


def _day_values(row: dict[str, object]) -> tuple[object, ...]:
    """A coverage row as the SQLite driver takes it (:data:`_DAY_FIELDS`): the day as ISO text
    and the time as the text SQLAlchemy's ``Date`` and ``DATETIME`` write."""
    last, day = row["last_at"], row["day"]
    assert isinstance(day, date)
    text = None if last is None else sqlite_time_text(last)  # type: ignore[arg-type]
    return (row["cell"], day.isoformat(), *(row[c] for c in _DAY_FIELDS[2:-1]), text)


_Stored = tuple[tuple[int, int, int, int], bytes, int, object]
_DAY_FIELDS = (
    "cell", "day", "origin_x", "origin_y", "width", "height", "pixels", "points", "last_at",
)  # fmt: skip
_SQLITE_INSERT_DAY = (
    f"INSERT INTO patrol_coverage ({', '.join(_DAY_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in _DAY_FIELDS)})"
)
_SQLITE_UPDATE_DAY = (
    f"UPDATE patrol_coverage SET {', '.join(f'{c} = ?' for c in _DAY_FIELDS)} "
    "WHERE cell = ? AND day = ?"
)


def _stored_days(
    conn: Connection, keys: Sequence[tuple[str, date]]
) -> dict[tuple[str, date], _Stored]:
    """The stored rows of the ``(cell, day)`` keys: raster, pixels, points, latest time."""
    t = coverage_table.c
    stored: dict[tuple[str, date], _Stored] = {}
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        found = conn.execute(
            select(t.cell, t.day, t.origin_x, t.origin_y, t.width, t.height, t.pixels, t.points,
                   t.last_at).where(tuple_(t.cell, t.day).in_(part))
        ).all()  # fmt: skip
        for r in found:
            stored[(r[0], _as_date(r[1]))] = ((r[2], r[3], r[4], r[5]), bytes(r[6]), r[7], r[8])
    return stored


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


_UPDATE_DAY = (
    coverage_table.update()
    .where(coverage_table.c.cell == bindparam("k_cell"))
    .where(coverage_table.c.day == bindparam("k_day"))
)


def _frame(rows: Sequence[object]) -> pd.DataFrame:
    frame = pd.DataFrame([tuple(r) for r in rows], columns=POINT_COLUMNS)  # type: ignore[arg-type]
    frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
    frame["lon"] = frame["lon"].astype(float)
    frame["lat"] = frame["lat"].astype(float)
    frame["accuracy_m"] = frame["accuracy_m"].astype(float)
    return frame
