"""Patrols at the doors: a worker's own GPS points stored, coverage and duty read in a scope.

A person posts only his own points; coverage and duty status are cut to the caller's cells (a
worker his cells, a head his community, a leader his town, operators and managers the city).
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
from gridmgr.store.patrolstore import PatrolBatch, latest_points, read_points, record_batches

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
    return record_batches(services.store, [batch], at=now, actor=me)


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
    points = read_points(services.store, since=now - timedelta(days=days), until=now)
    return patrol_coverage(
        services.grid, points, now=now, days=days, distance_m=distance_m, cells=cells
    )


def duty_in_scope(services: Services, caller: Caller, *, now: datetime) -> pd.DataFrame:
    """Each grid worker in the caller's scope at ``now``: :func:`gridmgr.patrols.duty_status`'s
    frame."""
    frame = duty_status(services.roster, services.calendar, latest_points(services.store), now=now)
    return frame[[caller.covers(str(c)) for c in frame["cell"]]]
