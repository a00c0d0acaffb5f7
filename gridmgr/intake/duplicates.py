"""Duplicate detection: is a new report probably the same matter as an open case nearby? (pure)

Candidates are open, unmerged cases of the same category or of a related one (same
``dup_group`` in the catalog) within the category's ``dup_distance_m`` and ``dup_window``; the
store finds them with a bounding-box query on the ``(category, lon, lat)`` index
(:func:`search_box`). Each is scored from 0 to 1 and explained:

====================  ======  ==============================================================
part                  weight  value
====================  ======  ==============================================================
distance              0.35    1 at the same spot, 0 at the category's distance limit
time                  0.25    1 at the same moment, 0 at the window's edge
text                  0.25    ``difflib.SequenceMatcher`` ratio of the two descriptions
same reporter         0.10    1 when the same person or system reported both
same channel          0.05    1 when both came by the same channel
====================  ======  ==============================================================

A related (not the same) category scales the score by 0.85. Suggestions are merged only by an
operator (:func:`gridmgr.services.triage.merge_cases`), or automatically above a score the city sets
(``GRIDMGR_AUTO_MERGE_SCORE``; unset by default).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gridmgr.responsibility.catalog import Catalog, Category
from gridmgr.responsibility.sla import Span

WEIGHTS = {"distance": 0.35, "time": 0.25, "text": 0.25, "reporter": 0.10, "channel": 0.05}
RELATED_FACTOR = 0.85
EARTH_RADIUS_M = 6_371_008.8
MAX_SUGGESTIONS = 5


@dataclass(frozen=True)
class Probe:
    """The new report being checked."""

    category: str
    lon: float
    lat: float
    at: datetime
    description: str
    reporter: str
    channel: str
    case_id: str | None = None


@dataclass(frozen=True)
class OpenCase:
    """An open case near the probe, as the store's prefilter returns it."""

    case_id: str
    number: int
    category: str
    state: str
    lon: float
    lat: float
    reported_at: datetime
    description: str
    reporter: str
    channel: str


@dataclass(frozen=True)
class DuplicateMatch:
    """A probable duplicate: the case, its score (0..1) and why."""

    case_id: str
    number: int
    score: float
    distance_m: float
    minutes_apart: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, as the report's API response carries it."""
        return {
            "case_id": self.case_id,
            "number": self.number,
            "score": round(self.score, 3),
            "distance_m": round(self.distance_m, 1),
            "minutes_apart": round(self.minutes_apart, 1),
            "reasons": list(self.reasons),
        }


def window_of(category: Category) -> timedelta:
    """The category's duplicate window as natural time."""
    return span_to_timedelta(category.dup_window)


def span_to_timedelta(span: Span) -> timedelta:
    """A span on the natural clock.

    >>> span_to_timedelta(Span(3, "d")), span_to_timedelta(Span(90, "m"))
    (datetime.timedelta(days=3), datetime.timedelta(seconds=5400))
    """
    minutes = {"m": 1, "h": 60, "d": 1440}[span.unit]
    return timedelta(minutes=span.value * minutes)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine).

    >>> round(distance_m(120.0, 31.5, 120.001, 31.5), 1)
    94.8
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def search_box(lon: float, lat: float, metres: float) -> tuple[float, float, float, float]:
    """(lon_min, lon_max, lat_min, lat_max) of a box holding every point within ``metres``.

    >>> box = search_box(120.3, 31.8, 100)
    >>> distance_m(120.3, 31.8, box[1], 31.8) >= 100, distance_m(120.3, 31.8, 120.3, box[3]) >= 100
    (True, True)
    """
    dlat = math.degrees(metres / EARTH_RADIUS_M) * 1.001
    dlon = dlat / max(math.cos(math.radians(abs(lat) + dlat)), 1e-6)
    return lon - dlon, lon + dlon, lat - dlat, lat + dlat


def score_duplicate(
    probe: Probe, case: OpenCase, *, category: Category, related: bool = False
) -> DuplicateMatch | None:
    """The score of ``case`` as a duplicate of ``probe`` under ``category``'s limits, or
    ``None`` when it is beyond the distance or the time window (both limits are inclusive).

    >>> from gridmgr.responsibility.catalog_file import read_catalog
    >>> from gridmgr.responsibility.calendar import TZ
    >>> t = datetime(2026, 10, 8, 9, 0, tzinfo=TZ)
    >>> light = read_catalog().category("streetlight_out")
    >>> probe = Probe("streetlight_out", 120.3, 31.8, t, "路灯不亮", "hotline:1", "hotline")
    >>> case = OpenCase("C1", 7, "streetlight_out", "registered", 120.3005, 31.8, t
    ...     - timedelta(hours=5), "人民路路灯不亮", "P1", "grid_worker")
    >>> m = score_duplicate(probe, case, category=light)
    >>> round(m.score, 2), m.reasons[0]
    (0.65, '47 m away (limit 150 m)')
    """
    limit_m = category.dup_distance_m
    window = window_of(category)
    dist = distance_m(probe.lon, probe.lat, case.lon, case.lat)
    apart = abs(probe.at - case.reported_at)
    if dist > limit_m or apart > window:
        return None
    text = difflib.SequenceMatcher(None, probe.description[:200], case.description[:200]).ratio()
    same_reporter = probe.reporter == case.reporter
    same_channel = probe.channel == case.channel
    parts = {
        "distance": 1 - dist / limit_m,
        "time": 1 - apart / window,
        "text": text,
        "reporter": 1.0 if same_reporter else 0.0,
        "channel": 1.0 if same_channel else 0.0,
    }
    score = sum(WEIGHTS[k] * v for k, v in parts.items())
    hours = apart.total_seconds() / 3600
    when = "earlier" if case.reported_at <= probe.at else "later"
    reasons = [
        f"{dist:.0f} m away (limit {limit_m:g} m)",
        f"reported {hours:.1f} h {when} (window {category.dup_window})",
        f"descriptions {text:.0%} alike",
    ]
    if related:
        score *= RELATED_FACTOR
        reasons.append(f"related category {case.category} (group {category.dup_group})")
    else:
        reasons.append("same category")
    if same_reporter:
        reasons.append("same reporter")
    if same_channel:
        reasons.append(f"same channel ({case.channel})")
    return DuplicateMatch(
        case.case_id, case.number, score, dist, apart.total_seconds() / 60, tuple(reasons)
    )


def rank_duplicates(
    probe: Probe, candidates: Iterable[OpenCase], *, catalog: Catalog, limit: int = MAX_SUGGESTIONS
) -> list[DuplicateMatch]:
    """The probe's probable duplicates among ``candidates``, best first (at most ``limit``)."""
    category = catalog.category(probe.category)
    matches = []
    for case in candidates:
        if case.case_id == probe.case_id:
            continue
        match = score_duplicate(
            probe, case, category=category, related=case.category != category.code
        )
        if match is not None:
            matches.append(match)
    matches.sort(key=lambda m: (-m.score, m.number))
    return matches[:limit]
