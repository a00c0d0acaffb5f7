"""Plausible patrol walks: waypoint paths that stay inside a cell, sampled like a phone's GPS.

A walk goes from a random point of the cell to another random point in a straight line, only if
that line stays inside the cell (so a walk never leaves a concave cell), and so on; positions are
sampled every ``every`` at walking speed, with a few metres of GPS noise.

The random points are drawn exactly as :func:`gridmgr.simulation.activity.point_in_polygon`
draws them one call after another (32 longitudes, then 32 latitudes, until one falls inside), but
tested in blocks (:class:`_Draws`): a walk needs dozens of waypoints, and a shapely call per
candidate point and per leg cost more than the rest of the simulated day's walks. The generator
ends where the one-by-one draws would have left it, so the same seed gives the same walks.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import shapely

from gridmgr.simulation.activity import POINT_ATTEMPTS, POINTS_AN_ATTEMPT

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0
GPS_NOISE_M = 4.0
_TRIES, _N = POINT_ATTEMPTS, POINTS_AN_ATTEMPT  # as point_in_polygon draws


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
    draws = _Draws(rng, polygon, box)
    xs, ys = _path(draws, n, kx, step_m)
    draws.finish()
    noise = rng.normal(0.0, GPS_NOISE_M, (2, n))
    lon = np.asarray(xs) + noise[0] / kx
    lat = np.asarray(ys) + noise[1] / _M_PER_DEG_LAT
    times = [start + step for step in _steps(every, n)]
    return times, lon, lat


@lru_cache(maxsize=64)
def _steps(every: timedelta, n: int) -> tuple[timedelta, ...]:
    """``every * i`` for ``i < n`` (walks of the same length share them)."""
    return tuple(every * i for i in range(n))


def _path(draws: _Draws, n: int, kx: float, step_m: float) -> tuple[list[float], list[float]]:
    """The ``n`` positions of a walk from the first random point, leg by leg: each leg to the
    next random point the straight line to which stays inside the polygon.

    The legs are walked first as if every line stayed inside, then all the lines are tested in
    one shapely call; from the first that leaves the polygon the walk is taken again without
    it (from the same place, with the next point). A walk has dozens of legs and few refused,
    so this is one or two calls instead of one a leg. (The walk drawn leg by leg stayed put
    after 20 refused points and went on trying from the same place: the same points.)"""
    here = draws.point()
    xs, ys = [here[0]], [here[1]]
    j = draws.next  # the next candidate waypoint
    while True:
        legs: list[tuple[float, float, int, int]] = []  # here, candidate, positions before
        at = here
        while len(xs) < n:
            target = draws.candidate(j)
            legs.append((at[0], at[1], j, len(xs)))
            j += 1
            left = math.hypot((target[0] - at[0]) * kx, (target[1] - at[1]) * _M_PER_DEG_LAT)
            if left < 1.0:
                continue
            while left > 0.0 and len(xs) < n:
                move = min(step_m, left)
                f = move / left
                at = (at[0] + (target[0] - at[0]) * f, at[1] + (target[1] - at[1]) * f)
                left -= move
                xs.append(at[0])
                ys.append(at[1])
        refused = draws.refused(legs)
        if refused is None:
            draws.take(legs[-1][2] if legs else j - 1)
            return xs, ys
        x, y, j, kept = legs[refused]
        here = (x, y)
        del xs[kept:], ys[kept:]
        j += 1


class _Draws:
    """The random points of ``polygon`` that successive ``point_in_polygon(rng, polygon, box)``
    calls would return, drawn and tested a block of attempts at a time.

    Each attempt takes ``2 * POINTS_AN_ATTEMPT`` doubles from ``rng`` (``uniform`` is ``low +
    (high - low) * random()``, the same double for double); :meth:`finish` puts ``rng`` back
    just after the attempts used, so what is drawn next is what it would have been."""

    def __init__(
        self,
        rng: np.random.Generator,
        polygon: shapely.Geometry,
        box: tuple[float, float, float, float],
    ) -> None:
        self.rng, self.polygon, self.box = rng, polygon, box
        self.saved = rng.bit_generator.state
        self.tries = 0  # attempts drawn
        self.used = 0  # attempts consumed
        self.misses = 0  # attempts of the running call without a point inside
        self.xs: list[float] = []  # per candidate: its point and its attempts' end
        self.ys: list[float] = []
        self.ends: list[int] = []
        self.next = 0  # the next candidate to hand out

    def _more(self) -> None:
        """Draw and test another block of attempts (more, the more a walk has needed)."""
        k = max(16, self.tries)
        x0, y0, x1, y1 = self.box
        u = self.rng.random((k, 2 * _N))
        xs = x0 + (x1 - x0) * u[:, :_N]
        ys = y0 + (y1 - y0) * u[:, _N:]
        inside = shapely.contains_xy(self.polygon, xs, ys)
        hit = inside.any(axis=1)
        first = inside.argmax(axis=1)
        rows = np.flatnonzero(hit)
        gaps = np.diff(rows, prepend=-1 - self.misses) - 1  # the misses before each hit
        if (gaps < _TRIES).all() and self.misses + k - len(rows) < _TRIES:
            self.xs += xs[rows, first[rows]].tolist()
            self.ys += ys[rows, first[rows]].tolist()
            self.ends += (rows + self.tries + 1).tolist()
            self.misses = k - 1 - int(rows[-1]) if len(rows) else self.misses + k
        else:  # pragma: no cover - a sliver of a polygon: 100 attempts without a point
            for i in range(k):
                if hit[i]:
                    j = int(first[i])
                    self._candidate(float(xs[i, j]), float(ys[i, j]), self.tries + i + 1)
                else:
                    self.misses += 1
                    if self.misses == _TRIES:
                        p = self.polygon.representative_point()
                        self._candidate(float(p.x), float(p.y), self.tries + i + 1)
        self.tries += k

    def _candidate(self, x: float, y: float, end: int) -> None:
        self.xs.append(x)
        self.ys.append(y)
        self.ends.append(end)
        self.misses = 0

    def point(self) -> tuple[float, float]:
        """The next random point (one ``point_in_polygon`` call), taken."""
        i = self.next
        x, y = self.candidate(i)
        self.take(i)
        return x, y

    def candidate(self, i: int) -> tuple[float, float]:
        """The ``i``-th random point (drawn if need be; not taken)."""
        while len(self.xs) <= i:
            self._more()
        return self.xs[i], self.ys[i]

    def take(self, i: int) -> None:
        """Take the random points up to the ``i``-th: the next is the one after it."""
        self.next, self.used = i + 1, self.ends[i]

    def refused(self, legs: list[tuple[float, float, int, int]]) -> int | None:
        """The first of ``legs`` (from ``(x, y)`` to candidate ``i``) whose straight line does
        not stay inside the polygon (``None``: they all do)."""
        if not legs:
            return None
        coords = np.empty((len(legs), 2, 2))
        coords[:, 0, :] = [(x, y) for x, y, _, _ in legs]
        coords[:, 1, 0] = [self.xs[i] for _, _, i, _ in legs]
        coords[:, 1, 1] = [self.ys[i] for _, _, i, _ in legs]
        inside = shapely.contains(self.polygon, shapely.linestrings(coords))
        return None if inside.all() else int(np.argmin(inside))

    def finish(self) -> None:
        """Leave the generator just after the attempts used (as the one-by-one calls would)."""
        self.rng.bit_generator.state = self.saved
        if self.used:
            self.rng.random(2 * _N * self.used)
