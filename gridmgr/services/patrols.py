"""Patrol tracks: storing a track read from a file, the points walked in a period, and where
each worker was last seen.

The figures made from them (coverage, who is on patrol) are pure functions of
:mod:`gridmgr.patrols` and :mod:`gridmgr.analytics`; only the reads are here.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gridmgr.store import Store
from gridmgr.store.patrolstore import MAX_BATCH, PatrolBatch

if TYPE_CHECKING:
    import pandas as pd


def patrol_points(store: Store, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Every patrol point with ``since <= at < until``, by person then time (columns
    ``person_id``, ``at``, ``lon``, ``lat``, ``accuracy_m``)."""
    return store.patrol_points(since=since, until=until)


def latest_positions(store: Store, *, since: datetime) -> pd.DataFrame:
    """Each person's latest patrol point at or after ``since`` (same columns, one row each)."""
    return store.latest_patrol_points(since=since)


def import_track(
    store: Store, person_id: str, points: pd.DataFrame, *, source: str, at: datetime, actor: str
) -> int:
    """Store ``person_id``'s ``points`` (columns ``at``, ``lon``, ``lat``, ``accuracy_m``)
    read from the file ``source``; returns how many were written (0 for an empty track)."""
    import pandas as pd

    batches = [
        PatrolBatch(
            person_id,
            [t.to_pydatetime() for t in part["at"]],
            part["lon"].tolist(),
            part["lat"].tolist(),
            [None if pd.isna(a) else float(a) for a in part["accuracy_m"]],
            source=f"file:{source}",
        )
        for part in (points.iloc[i : i + MAX_BATCH] for i in range(0, len(points), MAX_BATCH))
    ]
    return store.record_patrol_batches(batches, at=at, actor=actor)
