"""Reading patrol tracks: the points walked in a period, and where each worker was last seen.

The figures made from them (coverage, who is on patrol) are pure functions of
:mod:`gridmgr.patrols` and :mod:`gridmgr.analytics`; only the reads are here.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gridmgr.store import Store
from gridmgr.store.patrolstore import latest_points, read_points

if TYPE_CHECKING:
    import pandas as pd


def patrol_points(store: Store, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Every patrol point with ``since <= at < until``, by person then time (columns
    ``person_id``, ``at``, ``lon``, ``lat``, ``accuracy_m``)."""
    return read_points(store, since=since, until=until)


def latest_positions(store: Store, *, since: datetime) -> pd.DataFrame:
    """Each person's latest patrol point at or after ``since`` (same columns, one row each)."""
    return latest_points(store, since=since)
