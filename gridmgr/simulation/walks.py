"""Plausible patrol walks: waypoint paths that stay inside a cell, sampled like a phone's GPS.

A walk goes from a random point of the cell to another random point in a straight line, only if
that line stays inside the cell (so a walk never leaves a concave cell), and so on; positions are
sampled every ``every`` at walking speed, with a few metres of GPS noise.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import shapely

from gridmgr.simulation.activity import point_in_polygon

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0
GPS_NOISE_M = 4.0


def walk_in_cell(
    rng: np.random.Generator,
    polygon: shapely.Geometry,
    *,
    start: datetime,
    duration: timedelta,
    every: timedelta,
    speed_mps: float = 1.1,
) -> tuple[list[datetime], np.ndarray, np.ndarray]:
    """Times, longitudes and latitudes of one walk inside ``polygon`` (EPSG:4326).

    >>> from gridmgr.responsibility.calendar import TZ
    >>> cell = shapely.box(120.0, 31.0, 120.01, 31.01)
    >>> t, lon, lat = walk_in_cell(np.random.default_rng(3), cell,
    ...     start=datetime(2026, 10, 9, 9, tzinfo=TZ), duration=timedelta(hours=1),
    ...     every=timedelta(minutes=1))
    >>> len(t), bool(shapely.contains_xy(cell.buffer(0.0003), lon, lat).all())
    (61, True)
    """
    n = int(duration / every) + 1
    box = polygon.bounds
    lat0 = (box[1] + box[3]) / 2
    kx = _M_PER_DEG_LON_EQ * math.cos(math.radians(lat0))
    step_m = speed_mps * every.total_seconds()
    here = point_in_polygon(rng, polygon, box)
    xs, ys = [here[0]], [here[1]]
    target = here
    left = 0.0  # metres left on the current leg
    while len(xs) < n:
        if left <= 0.0:
            target = _next_waypoint(rng, polygon, here, box)
            left = math.hypot((target[0] - here[0]) * kx, (target[1] - here[1]) * _M_PER_DEG_LAT)
            if left < 1.0:
                left = 0.0
                continue
        move = min(step_m, left)
        f = move / left
        here = (here[0] + (target[0] - here[0]) * f, here[1] + (target[1] - here[1]) * f)
        left -= move
        xs.append(here[0])
        ys.append(here[1])
    noise = rng.normal(0.0, GPS_NOISE_M, (2, n))
    lon = np.asarray(xs) + noise[0] / kx
    lat = np.asarray(ys) + noise[1] / _M_PER_DEG_LAT
    times = [start + every * i for i in range(n)]
    return times, lon, lat


def _next_waypoint(
    rng: np.random.Generator,
    polygon: shapely.Geometry,
    here: tuple[float, float],
    box: tuple[float, float, float, float],
) -> tuple[float, float]:
    for _ in range(20):
        target = point_in_polygon(rng, polygon, box)
        if polygon.contains(shapely.LineString([here, target])):
            return target
    return here  # stay put (a rare, very concave corner); the next draw tries again
