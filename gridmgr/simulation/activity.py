"""The activity model of the demo simulator: when and where incidents arrive, of what kind, and how
fast people respond.

Arrivals are a non-homogeneous Poisson process: the city-wide rate follows an hour-of-day profile
(:data:`HOUR_PROFILE`), and each arrival falls in a tier-3 cell drawn by its weight at that hour.
A cell's weight is a seeded hot-spot factor (log-normal: a few cells get many reports) times the
profile of its kind (market, commercial, industrial or residential — busy at different hours).
Categories follow :data:`CATEGORY_WEIGHTS` (city appearance dominates, as in every digital city
management centre), nudged by the hour (noise at night, cooking fumes at meal times).

Everything is pure and seeded: the same grid, catalog and seed give the same draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import shapely

from gridmgr.grid.datum import Datum

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.catalog import Catalog

HOUR_PROFILE = np.array(
    [
        *(0.15, 0.1, 0.08, 0.08, 0.1, 0.25, 0.6, 1.2, 1.8, 2.0, 1.9, 1.6),
        *(1.2, 1.3, 1.7, 1.8, 1.7, 1.5, 1.3, 1.2, 1.0, 0.7, 0.45, 0.25),
    ]
)
"""Relative arrival rate by hour of day (Beijing time); its mean is 1 after normalisation."""
HOUR_PROFILE = HOUR_PROFILE / HOUR_PROFILE.mean()

_KIND_PROFILES = {
    # market streets: early mornings and evenings
    "market": [0.2] * 5
    + [1.0, 2.5, 3.0, 2.0, 1.2, 1.0, 1.0, 1.0, 0.8, 0.8, 1.0, 1.5, 2.0]
    + [2.5, 2.2, 1.5, 0.8, 0.4, 0.3],
    # commercial centres: afternoons and late evenings
    "commercial": [0.4] * 6
    + [0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 1.3, 1.2, 1.2, 1.3, 1.5, 1.8]
    + [2.2, 2.5, 2.5, 2.0, 1.2, 0.7],
    # industrial parks: working hours
    "industrial": [0.2] * 7
    + [1.5, 2.0, 2.0, 2.0, 1.5, 1.0, 1.8, 2.0, 2.0, 1.8, 1.0]
    + [0.5, 0.4, 0.3, 0.3, 0.2, 0.2],
    "residential": [1.0] * 24,
}
_KINDS = tuple(_KIND_PROFILES)
_KIND_SHARES = (0.15, 0.15, 0.2, 0.5)

CATEGORY_WEIGHTS: dict[str, float] = {
    "street_vending": 14,
    "shop_spillover": 9,
    "exposed_garbage": 12,
    "piled_materials": 6,
    "illegal_outdoor_ad": 4,
    "flyposting": 4,
    "illegal_construction": 3,
    "muck_spillage": 2,
    "shared_bike_parking": 5,
    "abandoned_vehicle": 2,
    "cooking_fume": 3,
    "noise_nuisance": 3,
    "construction_dust": 2,
    "river_floating_debris": 2,
    "garbage_sorting": 3,
    "fire_lane_blocked": 3,
    "ebike_charging": 3,
    "corridor_clutter": 4,
    "streetlight_out": 3,
    "road_damage": 3,
    "sewer_blocked": 2,
    "manhole_cover": 1.5,
    "facility_damage": 2,
    "greenery_damage": 2,
    "neighbour_dispute": 2,
    "property_mgmt_dispute": 1.5,
    "elderly_care": 1.5,
    "hardship_assistance": 1,
    "stray_dogs": 1,
    "inspection_rectification": 0,  # opened by inspection findings, never reported
}
"""Relative frequency of the shipped catalog's categories; any other category weighs 0.5."""
OTHER_CATEGORY_WEIGHT = 0.5

_NIGHT_BOOST = {"noise_nuisance": 5.0, "illegal_fireworks": 3.0, "open_burning": 2.0}
_MEAL_BOOST = {"cooking_fume": 3.0, "street_vending": 1.5, "shop_spillover": 1.5}


class Channel:
    """How a report comes in."""

    WORKER = "worker"
    """A grid worker on patrol, through the native API's report."""
    OPEN311 = "open311"
    """A citizen through the 12345 hotline's partner system (Open311)."""
    OPERATOR = "operator"
    """A command-center operator registering a phone call."""


@dataclass(frozen=True)
class ActivityModel:
    """The shares and delays of simulated activity; the defaults give a plausible county."""

    reports_per_day: float = 1000.0
    """Mean number of reports a day, city-wide."""
    out_of_grid_share: float = 0.01
    open311_share: float = 0.25
    operator_share: float = 0.1
    gcj02_share: float = 0.3
    """Worker reports whose phone sends GCJ-02 coordinates (AMap, Tencent)."""
    reject_share: float = 0.04
    return_share: float = 0.05
    defer_share: float = 0.04
    late_share: float = 0.02
    """Share of timed stages (every stage: 立案 … 结案) finished after their deadline: a
    well-run city keeps most on time, so an alarm on the panel means something."""
    reopen_share: float = 0.08
    evaluate_share: float = 0.5
    patrol_share: float = 0.85
    """Mean share of working days a grid worker patrols (each worker has his own habit)."""
    patrol_point_every: timedelta = timedelta(seconds=90)
    walking_speed_mps: float = 1.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.reports_per_day) and self.reports_per_day >= 0):
            raise ValueError(f"reports_per_day must be ≥ 0, got {self.reports_per_day!r}")


@dataclass(frozen=True)
class Arrival:
    """One simulated report: when, where (``cell`` is ``None`` outside the grid), what, how."""

    at: datetime
    lon: float
    lat: float
    cell: str | None
    category: str
    channel: str
    datum: Datum = Datum.WGS84


def arrival_times(
    rng: np.random.Generator, start: datetime, end: datetime, *, per_day: float
) -> list[datetime]:
    """Poisson arrival times in ``[start, end)`` with the rate ``per_day`` shaped by the hour.

    The interval is cut at whole hours; each piece draws a Poisson count at its hour's rate and
    places the arrivals uniformly (an exact non-homogeneous Poisson process, piecewise constant).

    >>> from gridmgr.responsibility.calendar import TZ
    >>> rng = np.random.default_rng(1)
    >>> t0 = datetime(2026, 10, 9, 0, 0, tzinfo=TZ)
    >>> times = arrival_times(rng, t0, t0 + timedelta(days=1), per_day=1000)
    >>> 900 < len(times) < 1100, times == sorted(times)
    (True, True)
    """
    out: list[datetime] = []
    t = start
    while t < end:
        next_hour = t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        piece_end = min(end, next_hour)
        seconds = (piece_end - t).total_seconds()
        rate = per_day / 86400.0 * float(HOUR_PROFILE[t.hour])
        n = int(rng.poisson(rate * seconds))
        offsets = np.sort(rng.uniform(0.0, seconds, n))
        out.extend(t + timedelta(seconds=float(s)) for s in offsets)
        t = piece_end
    return out


class ArrivalModel:
    """Where and what: seeded cell weights by hour, category mix by hour, territory for outliers."""

    def __init__(
        self, grid: Grid, catalog: Catalog, *, seed: int, model: ActivityModel | None = None
    ) -> None:
        self.model = model or ActivityModel()
        rng = np.random.default_rng([seed, 7])
        leaves = grid.tier(3)
        self.codes: list[str] = leaves["code"].tolist()
        self.geoms = np.asarray(leaves.geometry.values, dtype=object)
        # prepared: the walks and arrivals test thousands of points and legs against each cell
        # (the same answers, several times faster)
        shapely.prepare(self.geoms)
        self.boxes: list[tuple[float, float, float, float]] = [
            (float(x0), float(y0), float(x1), float(y1))
            for x0, y0, x1, y1 in shapely.bounds(self.geoms)
        ]
        """Each cell's bounding box (a report's point is drawn in it)."""
        hot = rng.lognormal(0.0, 0.9, len(self.codes))
        kinds = rng.choice(len(_KINDS), size=len(self.codes), p=_KIND_SHARES)
        profiles = np.array([_KIND_PROFILES[k] for k in _KINDS])  # kinds x 24
        weights = hot[None, :] * profiles[kinds].T  # 24 x cells
        self.cell_p = weights / weights.sum(axis=1, keepdims=True)
        self.kinds = [_KINDS[k] for k in kinds]
        self.categories: list[str] = [c.code for c in catalog]
        base = np.array([CATEGORY_WEIGHTS.get(c, OTHER_CATEGORY_WEIGHT) for c in self.categories])
        hourly = np.tile(base, (24, 1))
        for code, boost in _NIGHT_BOOST.items():
            if code in self.categories:
                j = self.categories.index(code)
                hourly[[22, 23, 0, 1, 2, 3, 4], j] *= boost
        for code, boost in _MEAL_BOOST.items():
            if code in self.categories:
                j = self.categories.index(code)
                hourly[[11, 12, 17, 18, 19], j] *= boost
        self.category_p = hourly / hourly.sum(axis=1, keepdims=True)
        self.territory = shapely.union_all(np.asarray(grid.tier(1).geometry.values, dtype=object))
        shapely.prepare(self.territory)
        self.bounds = leaves.total_bounds

    def draw(self, rng: np.random.Generator, at: datetime) -> Arrival:
        """One arrival at ``at``: its channel, place and category."""
        m = self.model
        j = int(rng.choice(len(self.categories), p=self.category_p[at.hour]))
        category = self.categories[j]
        roll = rng.random()
        if roll < m.out_of_grid_share:
            lon, lat = self._outside(rng)
            channel = Channel.OPEN311 if rng.random() < 0.7 else Channel.OPERATOR
            return Arrival(at, lon, lat, None, category, channel)
        i = int(rng.choice(len(self.codes), p=self.cell_p[at.hour]))
        lon, lat = point_in_polygon(rng, self.geoms[i], self.boxes[i])
        roll = rng.random()
        if roll < m.open311_share:
            channel = Channel.OPEN311
        elif roll < m.open311_share + m.operator_share:
            channel = Channel.OPERATOR
        else:
            channel = Channel.WORKER
        datum = (
            Datum.GCJ02
            if channel == Channel.WORKER and rng.random() < m.gcj02_share
            else (Datum.WGS84)
        )
        return Arrival(at, lon, lat, self.codes[i], category, channel, datum)

    def _outside(self, rng: np.random.Generator) -> tuple[float, float]:
        """A point a little outside the territory (across the Yangtze, in a neighbouring town)."""
        x0, y0, x1, y1 = self.bounds
        pad = 0.03
        for _ in range(1000):
            lon = float(rng.uniform(x0 - pad, x1 + pad))
            lat = float(rng.uniform(y0 - pad, y1 + pad))
            if not shapely.contains_xy(self.territory, lon, lat):
                return lon, lat
        return float(x1 + pad), float(y1 + pad)  # pragma: no cover - a territory filling its box


POINT_ATTEMPTS = 100
"""Attempts :func:`point_in_polygon` makes before it settles for a representative point."""
POINTS_AN_ATTEMPT = 32
"""Random points an attempt draws: :data:`POINTS_AN_ATTEMPT` longitudes, then as many latitudes
(the simulated walks' block draws, :mod:`gridmgr.simulation.walks`, rely on this order)."""


def point_in_polygon(
    rng: np.random.Generator,
    polygon: shapely.Geometry,
    bounds: tuple[float, float, float, float] | None = None,
) -> tuple[float, float]:
    """A uniformly random point inside ``polygon`` (rejection sampling in its bounding box,
    ``bounds`` when the caller knows it: a walk draws thousands of points in one cell).

    >>> rng = np.random.default_rng(0)
    >>> lon, lat = point_in_polygon(rng, shapely.box(120.0, 31.0, 120.1, 31.1))
    >>> 120.0 <= lon <= 120.1 and 31.0 <= lat <= 31.1
    True
    """
    x0, y0, x1, y1 = polygon.bounds if bounds is None else bounds
    for _ in range(POINT_ATTEMPTS):
        xs = rng.uniform(x0, x1, POINTS_AN_ATTEMPT)
        ys = rng.uniform(y0, y1, POINTS_AN_ATTEMPT)
        inside = shapely.contains_xy(polygon, xs, ys)
        if inside.any():
            k = int(np.argmax(inside))
            return float(xs[k]), float(ys[k])
    point = polygon.representative_point()  # pragma: no cover - a sliver of a polygon
    return float(point.x), float(point.y)


def response_fraction(rng: np.random.Generator) -> float:
    """How much of a stage's allowed time an on-time response uses (skewed early)."""
    return float(min(0.95, rng.beta(1.6, 4.0) + 0.02))


def lateness(rng: np.random.Generator, span: timedelta = timedelta(hours=6)) -> timedelta:
    """How long after its deadline a late stage is finished: 5 minutes and an exponential tail
    of half the stage's allowed ``span`` (at most 3 hours on average) — a 30-minute 立案 is a few
    minutes late, a day's 处置 can be hours late.

    >>> rng = np.random.default_rng(0)
    >>> lateness(rng, timedelta(minutes=30)) < lateness(rng, timedelta(days=1))
    True
    """
    mean = min(span.total_seconds() / 60 / 2, 180.0)
    return timedelta(minutes=float(5 + rng.exponential(max(mean, 1.0))))
