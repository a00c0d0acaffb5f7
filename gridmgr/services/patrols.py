"""Patrols: a worker's own GPS points, a track read from a file, and the points, coverage and
duty status read in a caller's scope.

A person posts only his own points; coverage and duty status are cut to the caller's cells (a
worker his cells, a head his community, a leader his town, operators and managers the city). The
figures themselves are pure functions of :mod:`gridmgr.patrols`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd

from gridmgr.access import Caller
from gridmgr.errors import ForbiddenError
from gridmgr.grid.datum import Datum, to_wgs84
from gridmgr.patrols import PatrolError, duty_status, patrol_coverage
from gridmgr.services.context import Services
from gridmgr.store import Store
from gridmgr.store.patrolstore import MAX_BATCH, PatrolBatch

FUTURE_SLACK = timedelta(minutes=5)
"""How far ahead of the server's clock a point's time may be (phone clocks drift)."""


def record_own_points(
    services: Services,
    caller: Caller,
    *,
    at: Sequence[datetime],
    lon: Sequence[float],
    lat: Sequence[float],
    accuracy_m: Sequence[float | None],
    datum: str | Datum = Datum.WGS84,
    person_id: str | None = None,
) -> int:
    """Store the caller's own points (in ``datum``) with their ledger event; how many.

    ``person_id``, if given, must be the caller (:class:`~gridmgr.errors.ForbiddenError`);
    a point later than the server's clock allows is a :class:`~gridmgr.patrols.PatrolError`.
    """
    me = caller.actor.actor_id
    if person_id is not None and person_id != me:
        raise ForbiddenError(f"you are {me}; post your own points only, not {person_id}")
    now = services.now()
    late = [i for i, t in enumerate(at) if t > now + FUTURE_SLACK]
    if late:
        raise PatrolError(
            f"points {late[:10]} are in the future (server time {now.isoformat()}); "
            "check the phone's clock"
        )
    x, y = to_wgs84(list(lon), list(lat), datum)
    batch = PatrolBatch(
        me, list(at), [float(v) for v in x], [float(v) for v in y], list(accuracy_m), source="api"
    )
    return services.store.record_patrol_batches([batch], at=now, actor=me)


def coverage_in_scope(
    services: Services,
    caller: Caller,
    *,
    now: datetime,
    days: float,
    distance_m: float,
    subtree: str | None = None,
) -> pd.DataFrame:
    """Patrol coverage of the unit cells in the caller's scope (and ``subtree``, a cell-code
    prefix) over the ``days`` before ``now``: :func:`gridmgr.patrols.patrol_coverage`'s frame."""
    cells = [c for c in services.grid.codes(3) if caller.covers(c)]
    if subtree is not None:
        cells = [c for c in cells if c.startswith(subtree)]
    points = services.store.patrol_points(since=now - timedelta(days=days), until=now)
    return patrol_coverage(
        services.grid, points, now=now, days=days, distance_m=distance_m, cells=cells
    )


def duty_in_scope(services: Services, caller: Caller, *, now: datetime) -> pd.DataFrame:
    """Each grid worker in the caller's scope at ``now``: :func:`gridmgr.patrols.duty_status`'s
    frame."""
    frame = duty_status(
        services.roster, services.calendar, services.store.latest_patrol_points(), now=now
    )
    return frame[[caller.covers(str(c)) for c in frame["cell"]]]


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
