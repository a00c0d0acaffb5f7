"""Missed reports (漏报): hotline and citizen cases the cell's grid worker walked past.

A hotline or citizen case is **flagged** when the grid worker of its cell patrolled within
``distance_m`` metres of the spot in the ``hours`` before it was reported (a point, or the
straight segment between two of his consecutive points no more than
:data:`~gridmgr.patrols.TRACK_GAP` apart) and no grid-worker report of the same category lies
within ``distance_m`` of the spot in that window. Both edges are inclusive: a track exactly
``distance_m`` away, or exactly ``hours`` before, counts. Distances are measured in the grid's
metric CRS. Pure: frames in, a frame out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from gridmgr.errors import AnalyticsError
from gridmgr.patrols import TRACK_GAP

CALLED_IN = ("hotline", "citizen")
"""Channels of cases residents had to call in (the grid did not find them)."""
FOUND = "grid_worker"
"""The channel of cases the grid found itself."""
MISSED_COLUMNS = ["case_id", "cell", "person_id", "passed_at", "distance_m"]


def missed_reports(
    facts: pd.DataFrame,
    points: pd.DataFrame,
    owners: Mapping[str, str],
    *,
    crs: str,
    distance_m: float,
    hours: float,
    gap: timedelta = TRACK_GAP,
) -> pd.DataFrame:
    """The missed reports among ``facts`` (a case-facts frame): :data:`MISSED_COLUMNS`.

    ``points`` is a patrol-points frame (``person_id``, ``at``, ``lon``, ``lat``) covering
    ``hours`` before the earliest case; ``owners`` maps a tier-3 cell to its grid worker's
    person id. ``passed_at`` is the latest time his track came within ``distance_m``,
    ``distance_m`` the nearest it came in the window.
    """
    if distance_m <= 0 or hours <= 0:
        raise AnalyticsError(f"distance_m and hours must be positive, got {distance_m}, {hours}")
    calls = facts[
        facts["channel"].isin(CALLED_IN) & facts["cell"].notna() & facts["lon"].notna()
    ].copy()
    calls["person_id"] = calls["cell"].map(owners)
    calls = calls[calls["person_id"].notna()].reset_index(drop=True)
    if calls.empty or points.empty:
        return pd.DataFrame(columns=MISSED_COLUMNS)
    window = pd.Timedelta(hours=hours)
    to_metric = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    spots = shapely.points(*to_metric.transform(calls["lon"].to_numpy(float),
                                                calls["lat"].to_numpy(float)))  # fmt: skip
    reported = _utc_ns(calls["reported_at"])
    passes = _passes(calls, spots, reported, points, to_metric, distance_m, window, gap)
    if passes.empty:
        return pd.DataFrame(columns=MISSED_COLUMNS)
    found = _found_nearby(facts, calls, spots, reported, to_metric, distance_m, window)
    passes = passes[~passes["call"].isin(found)]
    out = passes.groupby("call").agg(passed_at=("end", "max"), distance_m=("distance", "min"))
    picked = calls.loc[out.index]
    return pd.DataFrame(
        {
            "case_id": picked["case_id"].to_numpy(),
            "cell": picked["cell"].to_numpy(),
            "person_id": picked["person_id"].to_numpy(),
            "passed_at": out["passed_at"].to_numpy(),
            "distance_m": out["distance_m"].to_numpy(float),
        }
    )[MISSED_COLUMNS].sort_values("case_id", ignore_index=True)


def track_windows(
    facts: pd.DataFrame,
    owners: Mapping[str, str],
    *,
    hours: float,
    gap: timedelta = TRACK_GAP,
) -> pd.DataFrame:
    """The stretches of track :func:`missed_reports` can use: per called-in case, its cell's
    worker from ``hours`` + ``gap`` before the report to ``gap`` after it, merged per person into
    disjoint ``[since, until)`` windows (``person_id``, ``since``, ``until``), so a store reads
    those points only and not the month's.
    """
    calls = facts[facts["channel"].isin(CALLED_IN) & facts["cell"].notna() & facts["lon"].notna()]
    person = calls["cell"].map(owners)
    at = pd.to_datetime(calls["reported_at"], utc=True)
    frame = pd.DataFrame(
        {
            "person_id": person,
            "since": at - pd.Timedelta(hours=hours) - gap,
            "until": at + gap + pd.Timedelta(microseconds=1),  # ``until`` is exclusive
        }
    ).dropna()
    rows: list[tuple[str, pd.Timestamp, pd.Timestamp]] = []
    for p, since, until in frame.sort_values(["person_id", "since"]).itertuples(index=False):
        if rows and rows[-1][0] == p and since <= rows[-1][2]:
            rows[-1] = (p, rows[-1][1], max(rows[-1][2], until))
        else:
            rows.append((str(p), since, until))
    return pd.DataFrame(rows, columns=["person_id", "since", "until"])


def _passes(
    calls: pd.DataFrame,
    spots: np.ndarray,
    reported: np.ndarray,
    points: pd.DataFrame,
    to_metric: Transformer,
    distance_m: float,
    window: pd.Timedelta,
    gap: timedelta,
) -> pd.DataFrame:
    """Pairs (call, piece of the owner's track) within ``distance_m`` and the time window.

    A piece is a point, or the segment ending at a point and joined to the one before. Each call
    is paired only with its owner's points from ``window + gap`` before it to ``gap`` after it
    (sorted by person then time, so a range each), the pairs are narrowed with numpy by time and
    by a box ``distance_m`` (plus a metre) around the spot, and GEOS decides only the few left:
    the same test (``dwithin``) and distance as over every piece, without building geometry
    for the month's tracks or an index over them."""
    empty = pd.DataFrame(columns=["call", "end", "distance"])
    mine = points[points["person_id"].isin(set(calls["person_id"]))]
    mine = mine.sort_values(["person_id", "at"], kind="stable").reset_index(drop=True)
    if mine.empty:
        return empty
    at = _utc_ns(mine["at"])
    person = mine["person_id"].to_numpy(dtype=object)
    joined = np.zeros(len(mine), dtype=bool)  # a point joined to the one before it by a segment
    joined[1:] = (person[1:] == person[:-1]) & (np.diff(at) <= np.timedelta64(gap))
    lo, hi = _call_ranges(person, at, calls, reported, window, gap)
    size = hi - lo
    call_i = np.repeat(np.arange(len(lo)), size)
    end_i = np.arange(int(size.sum())) + np.repeat(lo - (np.cumsum(size) - size), size)
    if not len(end_i):
        return empty
    used = np.zeros(len(mine) + 1, dtype=np.int64)  # the points some call's range holds
    np.add.at(used, lo, 1)
    np.add.at(used, hi, -1)
    keep = np.flatnonzero(np.cumsum(used[:-1]) > 0)
    x, y = np.full(len(mine), np.nan), np.full(len(mine), np.nan)
    x[keep], y[keep] = to_metric.transform(
        mine["lon"].to_numpy(float)[keep], mine["lat"].to_numpy(float)[keep]
    )
    t = reported[call_i]
    since = t - window.to_timedelta64()
    sx, sy = shapely.get_x(spots)[call_i], shapely.get_y(spots)[call_i]
    reach = distance_m + 1.0  # a box test before GEOS's exact one (never narrower than it)
    in_time = (at[end_i] >= since) & (at[end_i] <= t)
    as_point = in_time & (np.abs(x[end_i] - sx) <= reach) & (np.abs(y[end_i] - sy) <= reach)
    seg = joined[end_i]
    b = np.where(seg, end_i - 1, end_i)  # a segment's first point
    as_segment = (
        seg
        & (at[end_i] >= since)
        & (at[b] <= t)
        & (np.minimum(x[b], x[end_i]) - reach <= sx)
        & (np.maximum(x[b], x[end_i]) + reach >= sx)
        & (np.minimum(y[b], y[end_i]) - reach <= sy)
        & (np.maximum(y[b], y[end_i]) + reach >= sy)
    )
    p, s = end_i[as_point], end_i[as_segment]
    geoms = np.concatenate(
        [shapely.points(x[p], y[p]),
         shapely.linestrings(np.stack([np.stack([x[s - 1], y[s - 1]], axis=1),
                                       np.stack([x[s], y[s]], axis=1)], axis=1))]
    ) if len(s) else shapely.points(x[p], y[p])  # fmt: skip
    which = np.concatenate([call_i[as_point], call_i[as_segment]])
    end = np.concatenate([at[p], at[s]])
    shapely.prepare(spots)  # as an STRtree query prepares them
    ok = shapely.dwithin(spots[which], geoms, distance_m)
    which, geoms, end = which[ok], geoms[ok], end[ok]
    return pd.DataFrame(
        {
            "call": which,
            "end": pd.to_datetime(np.minimum(end, reported[which]), utc=True),
            "distance": shapely.distance(spots[which], geoms),
        }
    )


def _call_ranges(
    person: np.ndarray,
    at: np.ndarray,
    calls: pd.DataFrame,
    reported: np.ndarray,
    window: pd.Timedelta,
    gap: timedelta,
) -> tuple[np.ndarray, np.ndarray]:
    """For each call, the range ``[lo, hi)`` of the points (sorted by person, then time) of its
    person from ``window + gap`` before it to ``gap`` after it (empty for a person with none)."""
    codes = {p: i for i, p in enumerate(dict.fromkeys(person))}
    seconds = (at - at.min()).astype("timedelta64[s]").astype(np.int64)
    key = np.array([codes[p] for p in person], dtype=np.int64) << 40 | seconds
    who = calls["person_id"].to_numpy(dtype=object)
    mine = np.array([p in codes for p in who], dtype=bool)
    base = np.array([codes.get(p, 0) for p in who], dtype=np.int64) << 40
    t = (reported - at.min()).astype("timedelta64[s]").astype(np.int64)
    lo = np.searchsorted(key, base + t - int((window + gap).total_seconds()) - 2, side="right")
    hi = np.searchsorted(key, base + t + int(gap.total_seconds()) + 2, side="left")
    hi = np.where(mine, np.maximum(hi, lo), lo)
    return lo, hi


def _found_nearby(
    facts: pd.DataFrame,
    calls: pd.DataFrame,
    spots: np.ndarray,
    reported: np.ndarray,
    to_metric: Transformer,
    distance_m: float,
    window: pd.Timedelta,
) -> set[int]:
    """The calls with a grid-worker report of their category near them in the window."""
    grid = facts[(facts["channel"] == FOUND) & facts["lon"].notna()]
    if grid.empty:
        return set()
    found = shapely.points(*to_metric.transform(grid["lon"].to_numpy(float),
                                                grid["lat"].to_numpy(float)))  # fmt: skip
    call_i, found_i = shapely.STRtree(found).query(spots, predicate="dwithin", distance=distance_m)
    at = _utc_ns(grid["reported_at"])[found_i]
    t = reported[call_i]
    same = (
        grid["category"].to_numpy(dtype=object)[found_i]
        == calls["category"].to_numpy(dtype=object)[call_i]
    )
    ok = same & (at >= t - window.to_timedelta64()) & (at <= t)
    return {int(i) for i in call_i[ok]}


def _utc_ns(times: pd.Series) -> np.ndarray:
    """Aware times as naive UTC ``datetime64[ns]`` (numpy compares those, not Timestamps)."""
    return pd.to_datetime(times, utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")


__all__ = ["CALLED_IN", "FOUND", "MISSED_COLUMNS", "missed_reports", "track_windows"]
