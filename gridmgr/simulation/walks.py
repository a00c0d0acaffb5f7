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

import numpy as np
import shapely

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0
GPS_NOISE_M = 4.0
_TRIES = 100
"""Attempts of 32 points :func:`~gridmgr.simulation.activity.point_in_polygon` makes."""
_LEGS = 20
"""Candidate waypoints tried before a walker stays put for a step."""


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
    here = draws.point()
    xs, ys = [here[0]], [here[1]]
    target = here
    left = 0.0  # metres left on the current leg
    while len(xs) < n:
        if left <= 0.0:
            target = draws.waypoint(here)
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
    draws.finish()
    noise = rng.normal(0.0, GPS_NOISE_M, (2, n))
    lon = np.asarray(xs) + noise[0] / kx
    lat = np.asarray(ys) + noise[1] / _M_PER_DEG_LAT
    times = [start + every * i for i in range(n)]
    return times, lon, lat


class _Draws:
    """The random points of ``polygon`` that successive ``point_in_polygon(rng, polygon, box)``
    calls would return, drawn and tested a block of attempts at a time.

    Each attempt takes 64 doubles from ``rng`` (``uniform`` is ``low + (high - low) *
    random()``, the same double for double); :meth:`finish` puts ``rng`` back just after the
    attempts used, so what is drawn next is what it would have been."""

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
        u = self.rng.random((k, 64))
        xs = x0 + (x1 - x0) * u[:, :32]
        ys = y0 + (y1 - y0) * u[:, 32:]
        inside = shapely.contains_xy(self.polygon, xs, ys)
        hit = inside.any(axis=1)
        first = inside.argmax(axis=1)
        for i in range(k):
            if hit[i]:
                j = int(first[i])
                self._candidate(float(xs[i, j]), float(ys[i, j]), self.tries + i + 1)
            else:
                self.misses += 1
                if self.misses == _TRIES:  # pragma: no cover - a sliver of a polygon
                    p = self.polygon.representative_point()
                    self._candidate(float(p.x), float(p.y), self.tries + i + 1)
        self.tries += k

    def _candidate(self, x: float, y: float, end: int) -> None:
        self.xs.append(x)
        self.ys.append(y)
        self.ends.append(end)
        self.misses = 0

    def _ahead(self, count: int) -> int:
        """Make sure ``count`` candidates are ready past :attr:`next`; the index past them."""
        while len(self.xs) < self.next + count:
            self._more()
        return self.next + count

    def point(self) -> tuple[float, float]:
        """The next random point (one ``point_in_polygon`` call)."""
        self._ahead(1)
        i = self.next
        self.next, self.used = i + 1, self.ends[i]
        return self.xs[i], self.ys[i]

    def waypoint(self, here: tuple[float, float]) -> tuple[float, float]:
        """The first of the next :data:`_LEGS` random points the straight line from ``here``
        to which stays inside the polygon; ``here`` (stay put) if none does."""
        tried = 0
        for count in (2, _LEGS - 2):  # most legs take the first or second candidate
            stop = self._ahead(count)
            a, b = self.next, stop
            coords = np.empty((b - a, 2, 2))
            coords[:, 0, 0], coords[:, 0, 1] = here
            coords[:, 1, 0], coords[:, 1, 1] = self.xs[a:b], self.ys[a:b]
            ok = shapely.contains(self.polygon, shapely.linestrings(coords))
            if ok.any():
                i = a + int(ok.argmax())
                self.next, self.used = i + 1, self.ends[i]
                return self.xs[i], self.ys[i]
            self.next, self.used = b, self.ends[b - 1]
            tried += count
        assert tried == _LEGS
        return here  # stay put (a rare, very concave corner); the next draw tries again

    def finish(self) -> None:
        """Leave the generator just after the attempts used (as the one-by-one calls would)."""
        self.rng.bit_generator.state = self.saved
        if self.used:
            self.rng.random(64 * self.used)
