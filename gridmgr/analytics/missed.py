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
    """Pairs (call, piece of the owner's track) within ``distance_m`` and the time window."""
    mine = points[points["person_id"].isin(set(calls["person_id"]))]
    mine = mine.sort_values(["person_id", "at"], kind="stable").reset_index(drop=True)
    if mine.empty:
        return pd.DataFrame(columns=["call", "end", "distance"])
    at = _utc_ns(mine["at"])
    person = mine["person_id"].to_numpy(dtype=object)
    # every point, and every segment joining two consecutive points of one walk
    joined = np.zeros(len(mine), dtype=bool)
    joined[1:] = (person[1:] == person[:-1]) & (np.diff(at) <= np.timedelta64(gap))
    # only the points that can matter: the owner's, from ``window + gap`` before a call to
    # ``gap`` after it (a segment ending in the window starts at most ``gap`` before it); a
    # month's tracks shrink to the few hours around the calls before any geometry is built
    near = _near_calls(person, at, calls, reported, window, gap)
    joined &= near & np.roll(near, 1)
    keep = np.flatnonzero(near)
    x, y = np.full(len(mine), np.nan), np.full(len(mine), np.nan)
    x[keep], y[keep] = to_metric.transform(
        mine["lon"].to_numpy(float)[keep], mine["lat"].to_numpy(float)[keep]
    )
    nxt = np.flatnonzero(joined)
    geoms = np.concatenate(
        [shapely.points(x[keep], y[keep]),
         shapely.linestrings(np.stack([np.stack([x[nxt - 1], y[nxt - 1]], axis=1),
                                       np.stack([x[nxt], y[nxt]], axis=1)], axis=1))]
    ) if len(nxt) else shapely.points(x[keep], y[keep])  # fmt: skip
    start = np.concatenate([at[keep], at[nxt - 1]])
    end = np.concatenate([at[keep], at[nxt]])
    who = np.concatenate([person[keep], person[nxt]])
    call_i, piece_i = shapely.STRtree(geoms).query(spots, predicate="dwithin", distance=distance_m)
    t = reported[call_i]
    ok = (
        (who[piece_i] == calls["person_id"].to_numpy(dtype=object)[call_i])
        & (end[piece_i] >= t - window.to_timedelta64())
        & (start[piece_i] <= t)
    )
    call_i, piece_i = call_i[ok], piece_i[ok]
    return pd.DataFrame(
        {
            "call": call_i,
            "end": pd.to_datetime(np.minimum(end[piece_i], t[ok]), utc=True),
            "distance": shapely.distance(spots[call_i], geoms[piece_i]),
        }
    )


def _near_calls(
    person: np.ndarray,
    at: np.ndarray,
    calls: pd.DataFrame,
    reported: np.ndarray,
    window: pd.Timedelta,
    gap: timedelta,
) -> np.ndarray:
    """Which of the points (sorted by person, then time) lie, for one of their person's calls,
    between ``window + gap`` before it and ``gap`` after it."""
    codes = {p: i for i, p in enumerate(dict.fromkeys(person))}
    seconds = (at - at.min()).astype("timedelta64[s]").astype(np.int64)
    key = np.array([codes[p] for p in person], dtype=np.int64) << 40 | seconds
    who = calls["person_id"].to_numpy(dtype=object)
    mine = np.array([p in codes for p in who], dtype=bool)
    base = np.array([codes.get(p, 0) for p in who], dtype=np.int64) << 40
    t = (reported - at.min()).astype("timedelta64[s]").astype(np.int64)
    lo = np.searchsorted(key, base + t - int((window + gap).total_seconds()) - 2, side="right")
    hi = np.searchsorted(key, base + t + int(gap.total_seconds()) + 2, side="left")
    marks = np.zeros(len(key) + 1, dtype=np.int64)
    np.add.at(marks, lo[mine], 1)
    np.add.at(marks, hi[mine], -1)
    return np.cumsum(marks[:-1]) > 0


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
