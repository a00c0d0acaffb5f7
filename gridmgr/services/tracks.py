"""Patrol tracks as files bring them: a person's points stored in batches, and points read back.

A track read from a GPX or CSV file (:func:`gridmgr.patrols.gpx_to_points`,
:func:`gridmgr.patrols.rows_to_points`) is stored by :func:`import_track` in one transaction with
one ledger event, however many batches it takes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gridmgr.store import Store
from gridmgr.store.patrolstore import MAX_BATCH, PatrolBatch

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["import_track", "track_points"]


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


def track_points(store: Store, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Every person's points with ``since <= at < until``, by person then time."""
    return store.patrol_points(since=since, until=until)
