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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Text, func, select, type_coerce
from sqlalchemy.exc import IntegrityError

from gridmgr.errors import PatrolStoreError
from gridmgr.store.ledgerstore import append
from gridmgr.store.schema import patrol_points as points_table
from gridmgr.store.transactions import StoreBase

__all__ = [
    "PATROL_EVENT",
    "POINT_COLUMNS",
    "PatrolBatch",
    "PatrolMethods",
    "PatrolStoreError",
    "batch_digest",
]

PATROL_EVENT = "patrol.points"
POINT_COLUMNS = ["person_id", "at", "lon", "lat", "accuracy_m"]
"""The columns of every points frame (``at`` aware, UTC)."""

MAX_BATCH = 10_000
"""The most points one batch may hold."""


@dataclass(frozen=True)
class PatrolBatch:
    """One person's points: times (aware), WGS84 longitudes and latitudes, optional accuracy."""

    person_id: str
    at: Sequence[datetime]
    lon: Sequence[float]
    lat: Sequence[float]
    accuracy_m: Sequence[float | None] | None = None
    source: str = "api"

    def __post_init__(self) -> None:
        n = len(self.at)
        if not (len(self.lon) == len(self.lat) == n) or (
            self.accuracy_m is not None and len(self.accuracy_m) != n
        ):
            raise PatrolStoreError("at, lon, lat (and accuracy_m) must have the same length")
        if n > MAX_BATCH:
            raise PatrolStoreError(f"a batch holds at most {MAX_BATCH} points, got {n}")
        if any(t.tzinfo is None or t.utcoffset() is None for t in self.at):
            raise PatrolStoreError("patrol point times must be aware (with a time zone)")


def batch_digest(batches: Sequence[PatrolBatch]) -> str:
    """SHA-256 over the batches' points as canonical JSON: ``[person, UTC ISO time, lon, lat]``
    rows (degrees to 7 decimals), batch by batch, in order."""
    rows = [
        [b.person_id, t.astimezone(UTC).isoformat(), round(float(x), 7), round(float(y), 7)]
        for b in batches
        for t, x, y in zip(b.at, b.lon, b.lat, strict=True)
    ]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


class PatrolMethods(StoreBase):
    """The store's patrol points: batches written with their ledger event, read as frames."""

    def record_patrol_batches(
        self, batches: Iterable[PatrolBatch], *, at: datetime, actor: str
    ) -> int:
        """Store the batches' points and one ``patrol.points`` ledger event for them all (count,
        persons, time span, :func:`batch_digest`), in one transaction.

        Returns the number of points written. Empty batches are skipped.
        """
        todo = [b for b in batches if len(b.at)]
        if not todo:
            return 0
        rows: list[dict[str, object]] = []
        for b in todo:
            acc = b.accuracy_m if b.accuracy_m is not None else [None] * len(b.at)
            points = shapely.points(np.asarray(b.lon, dtype=float), np.asarray(b.lat, dtype=float))
            rows.extend(
                {
                    "person_id": b.person_id,
                    "at": t,
                    "lon": float(x),
                    "lat": float(y),
                    "accuracy_m": None if a is None else float(a),
                    "location": p,
                }
                for t, x, y, a, p in zip(b.at, b.lon, b.lat, acc, points, strict=True)
            )
        persons = sorted({b.person_id for b in todo})
        details: dict[str, object] = {
            "count": len(rows),
            "persons": len(persons),
            "first": min(min(b.at) for b in todo).isoformat(),
            "last": max(max(b.at) for b in todo).isoformat(),
            "sha256": batch_digest(todo),
            "source": ",".join(sorted({b.source for b in todo})),
        }
        subject = f"person:{persons[0]}" if len(persons) == 1 else "patrols"
        try:
            with self._write() as conn:
                conn.execute(points_table.insert(), rows)
                append(
                    conn, at=at, kind=PATROL_EVENT, actor=actor, subject=subject, details=details
                )
        except IntegrityError:
            raise PatrolStoreError(
                f"{', '.join(persons[:5])}: not on the database's roster; "
                "load the current roster first (gridmgr db sync)"
            ) from None
        return len(rows)

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

    def latest_patrol_points(
        self, *, persons: Sequence[str] | None = None, since: datetime | None = None
    ) -> pd.DataFrame:
        """Each person's latest patrol point (of those at or after ``since``, when given)."""
        t = points_table.c
        newest = select(t.person_id, func.max(t.at).label("at")).group_by(t.person_id)
        if persons is not None:
            newest = newest.where(t.person_id.in_(list(persons)))
        if since is not None:
            newest = newest.where(t.at >= since)
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


def _frame(rows: Sequence[object]) -> pd.DataFrame:
    frame = pd.DataFrame([tuple(r) for r in rows], columns=POINT_COLUMNS)  # type: ignore[arg-type]
    frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
    frame["lon"] = frame["lon"].astype(float)
    frame["lat"] = frame["lat"].astype(float)
    frame["accuracy_m"] = frame["accuracy_m"].astype(float)
    return frame
