"""Patrols: coverage of each cell by workers' GPS tracks, blind spots, and who is out walking now.

**Coverage** of a tier-3 cell over the last ``days`` days is the share of the cell's area lying
within ``distance_m`` (default :data:`PATROL_DISTANCE_M` = 50 m: what a worker on foot sees from
a street) of a track. A track is one person's consecutive points, joined by straight segments
unless :data:`TRACK_GAP` (10 minutes) passes between two points; a lone point counts as a disc.
Everything is measured in the grid's metric CRS (EPSG:4549 for Jiangyin) with shapely 2's
vectorized buffer, intersection and union. A **blind spot** is a cell no point fell in for
``days`` days. Pure: frames in, frames out; ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from gridmgr.errors import GridMgrError, InvalidTableError, RowProblem
from gridmgr.grid.datum import Datum, to_wgs84
from gridmgr.responsibility.roster import PostKind, Role

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.calendar import WorkCalendar
    from gridmgr.responsibility.roster import Roster

PATROL_DISTANCE_M = 50.0
"""How far from a track a cell counts as patrolled, in metres."""
TRACK_GAP = timedelta(minutes=10)
"""Two points of one person further apart in time than this are not joined by a segment."""
ON_PATROL_WITHIN = timedelta(minutes=15)
"""A worker whose latest point is this recent is out patrolling."""
SIMPLIFY_M = 1.0
"""Tracks are simplified to this tolerance (metres) before buffering."""
COVERAGE_COLUMNS = ["cell", "coverage", "covered_m2", "area_m2", "points", "last_seen"]


class PatrolError(GridMgrError, ValueError):
    """Patrol points or parameters that cannot be used as given."""


def points_to_tracks(points: pd.DataFrame, *, crs: str, gap: timedelta = TRACK_GAP) -> np.ndarray:
    """Tracks (LineStrings, or Points for lone points) in ``crs`` from a points frame.

    ``points`` has columns ``person_id``, ``at``, ``lon``, ``lat`` (WGS84).

    >>> from gridmgr.responsibility.calendar import TZ
    >>> t0 = pd.Timestamp("2026-10-09 09:00", tz=TZ)
    >>> frame = pd.DataFrame({"person_id": ["P1"] * 3 + ["P2"],
    ...     "at": [t0, t0 + pd.Timedelta("1min"), t0 + pd.Timedelta("1h"), t0],
    ...     "lon": [120.0, 120.001, 120.002, 120.1], "lat": [31.9] * 4})
    >>> [g.geom_type for g in points_to_tracks(frame, crs="EPSG:4549")]
    ['LineString', 'Point', 'Point']
    """
    if points.empty:
        return np.empty(0, dtype=object)
    _check_columns(points)
    ordered = points.sort_values(["person_id", "at"], kind="stable")
    x, y = _to_metric(ordered["lon"].to_numpy(float), ordered["lat"].to_numpy(float), crs)
    person = ordered["person_id"].to_numpy(dtype=object)
    at = pd.to_datetime(ordered["at"], utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    new = np.ones(len(ordered), dtype=bool)
    new[1:] = (person[1:] != person[:-1]) | ((at[1:] - at[:-1]) > np.timedelta64(gap))
    track = np.cumsum(new) - 1
    sizes = np.bincount(track)
    lone = sizes[track] == 1
    out: list[np.ndarray] = []
    if (~lone).any():
        multi = ~lone
        _, ids = np.unique(track[multi], return_inverse=True)
        out.append(shapely.linestrings(x[multi], y[multi], indices=ids))
    if lone.any():
        out.append(shapely.points(x[lone], y[lone]))
    return np.concatenate(out) if out else np.empty(0, dtype=object)


def patrol_coverage(
    grid: Grid,
    points: pd.DataFrame,
    *,
    now: datetime,
    days: float = 7,
    distance_m: float = PATROL_DISTANCE_M,
    gap: timedelta = TRACK_GAP,
    cells: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Coverage of every tier-3 cell (or of ``cells``) by the tracks of the last ``days`` days
    before ``now``.

    Returns one row per cell, by code: ``cell``, ``coverage`` (0..1), ``covered_m2``,
    ``area_m2``, ``points`` (in the window, in the cell) and ``last_seen`` (the latest point in
    the cell among all ``points`` up to ``now``; ``NaT`` if none).
    """
    if distance_m <= 0 or days <= 0:
        raise PatrolError(f"distance_m and days must be positive, got {distance_m}, {days}")
    crs = grid.meta.metric_crs
    leaves = grid.tier(3)
    chosen = leaves if cells is None else leaves[leaves["code"].isin(set(cells))]
    codes = chosen["code"].to_numpy(dtype=object)
    metric = np.asarray(chosen.to_crs(crs).geometry.values, dtype=object)
    area = shapely.area(metric)
    frame = _until(points, now)
    start = pd.Timestamp(now) - pd.Timedelta(days=days)
    window = frame[frame["at"] >= start]
    covered = np.zeros(len(codes))
    tracks = points_to_tracks(window, crs=crs, gap=gap)
    if len(tracks):
        # a 1 m simplification (far below GPS error) makes buffering walks much cheaper
        tracks = shapely.simplify(tracks, SIMPLIFY_M)
        buffers = shapely.buffer(tracks, distance_m, quad_segs=8)
        cell_i, buf_i = shapely.STRtree(buffers).query(metric, predicate="intersects")
        if len(cell_i):
            pieces = shapely.intersection(metric[cell_i], buffers[buf_i])
            order = np.argsort(cell_i, kind="stable")
            cell_i, pieces = cell_i[order], pieces[order]
            bounds = np.flatnonzero(np.diff(cell_i)) + 1
            for group, part in zip(np.split(cell_i, bounds), np.split(pieces, bounds), strict=True):
                covered[group[0]] = shapely.area(shapely.union_all(part))
    out = pd.DataFrame(
        {
            "cell": codes,
            "coverage": np.clip(covered / np.where(area > 0, area, 1.0), 0.0, 1.0),
            "covered_m2": covered,
            "area_m2": area,
        }
    )
    located = _locate(grid, frame)
    in_window = located[located["at"] >= start].groupby("cell").size()
    out["points"] = [int(in_window.get(c, 0)) for c in codes]
    newest = located.groupby("cell")["at"].max()
    out["last_seen"] = pd.to_datetime(
        pd.Series([newest.get(c, pd.NaT) for c in codes], dtype="datetime64[ns, UTC]"), utc=True
    )
    return out[COVERAGE_COLUMNS]


def blind_spots(coverage: pd.DataFrame, *, now: datetime, days: float = 7) -> pd.DataFrame:
    """Cells of a :func:`patrol_coverage` frame not patrolled for ``days`` days (or never).

    Adds ``days_since`` (``NaN`` for never), most neglected first.

    >>> from gridmgr.responsibility.calendar import TZ
    >>> now = pd.Timestamp("2026-10-09 12:00", tz=TZ)
    >>> cov = pd.DataFrame({"cell": ["a", "b", "c"], "coverage": [0.5, 0.0, 0.0],
    ...     "last_seen": pd.to_datetime([now - pd.Timedelta("1D"), now - pd.Timedelta("9D"),
    ...                                  None], utc=True)})
    >>> blind_spots(cov, now=now, days=7)[["cell", "days_since"]].to_dict("records")
    [{'cell': 'c', 'days_since': nan}, {'cell': 'b', 'days_since': 9.0}]
    """
    last = pd.to_datetime(coverage["last_seen"], utc=True)
    since = (pd.Timestamp(now) - last).dt.total_seconds() / 86400.0
    out = coverage.assign(days_since=since.astype(float))
    out = out[out["last_seen"].isna() | (out["days_since"] >= days)]
    return out.sort_values("days_since", ascending=False, na_position="first").reset_index(
        drop=True
    )


def duty_status(
    roster: Roster,
    calendar: WorkCalendar,
    latest: pd.DataFrame,
    *,
    now: datetime,
    within: timedelta = ON_PATROL_WITHIN,
) -> pd.DataFrame:
    """Each grid worker's status now, from his latest point and his shift (the working hours).

    ``latest`` has one row per person (``person_id``, ``at``, ``lon``, ``lat``), e.g.
    :meth:`gridmgr.store.Store.latest_patrol_points`. Statuses: ``patrolling`` (a point within
    ``within``), ``on_duty`` (working hours, no recent point), ``absent`` (on leave),
    ``off_duty``. One row per primary grid-worker post held at ``now``.
    """
    last: dict[str, tuple[pd.Timestamp, float, float]] = {
        str(p): (pd.Timestamp(t), float(x), float(y))
        for p, t, x, y in zip(
            latest["person_id"], latest["at"], latest["lon"], latest["lat"], strict=True
        )
    }
    working = calendar.is_working_time(now)
    rows = []
    for a in roster.assignments:
        if a.post.kind is not PostKind.GRID_WORKER or a.role is not Role.PRIMARY:
            continue
        if not a.is_active(now):
            continue
        person = roster.persons[a.person_id]
        seen = last.get(a.person_id)
        at = None if seen is None else seen[0]
        if roster.absence(a.person_id, now) is not None:
            status = "absent"
        elif at is not None and pd.Timestamp(now) - at <= within and at <= pd.Timestamp(now):
            status = "patrolling"
        elif working:
            status = "on_duty"
        else:
            status = "off_duty"
        rows.append(
            {
                "person_id": a.person_id,
                "name": person.name,
                "cell": a.post.place,
                "status": status,
                "last_seen": at,
                "lon": None if seen is None else seen[1],
                "lat": None if seen is None else seen[2],
            }
        )
    columns = ["person_id", "name", "cell", "status", "last_seen", "lon", "lat"]
    out = pd.DataFrame(rows, columns=columns)
    out["last_seen"] = pd.to_datetime(out["last_seen"], utc=True)
    return out


def _check_columns(points: pd.DataFrame) -> None:
    missing = {"person_id", "at", "lon", "lat"} - set(points.columns)
    if missing:
        raise PatrolError(f"points need columns person_id, at, lon, lat; missing {sorted(missing)}")


def _until(points: pd.DataFrame, now: datetime) -> pd.DataFrame:
    if points.empty:
        empty = {c: pd.Series(dtype=object) for c in ("person_id", "lon", "lat")}
        return pd.DataFrame(empty).assign(at=pd.Series(dtype="datetime64[ns, UTC]"))
    _check_columns(points)
    frame = points.assign(at=pd.to_datetime(points["at"], utc=True))
    return frame[frame["at"] <= pd.Timestamp(now)]


def _locate(grid: Grid, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame({"cell": pd.Series(dtype=object), "at": frame["at"]})
    codes = grid.points_to_cells(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    located = pd.DataFrame({"cell": codes["tier3"].to_numpy(), "at": frame["at"].to_numpy()})
    located["at"] = pd.to_datetime(located["at"], utc=True)
    return located.dropna(subset=["cell"])


def _to_metric(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(lon, lat)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


# -- track files ----------------------------------------------------------------------------


def rows_to_points(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    *,
    source: str,
    datum: str | Datum = Datum.WGS84,
) -> pd.DataFrame:
    """Points (``at``, ``lon``, ``lat``, ``accuracy_m``; WGS84) from numbered CSV rows.

    Columns: ``at`` (ISO 8601, or ``2026-10-09 09:30`` in Beijing time), ``lon``, ``lat`` (in
    ``datum``) and optionally ``accuracy_m``. Every bad row is reported, with its row number,
    in one :class:`~gridmgr.errors.InvalidTableError`.

    >>> rows_to_points([(2, {"at": "2026-10-09 09:30", "lon": "120.3", "lat": "31.9"})],
    ...                source="t.csv")[["lon", "lat"]].to_dict("records")
    [{'lon': 120.3, 'lat': 31.9}]
    >>> rows_to_points([(2, {"at": "soon", "lon": "120.3", "lat": "31.9"}),
    ...                 (3, {"at": "2026-10-09 09:31", "lon": "120.3", "lat": "91"})],
    ...                source="t.csv")
    Traceback (most recent call last):
    ...
    gridmgr.errors.InvalidTableError: t.csv: 2 problem(s) in the track; nothing was imported
    """
    from gridmgr.responsibility.roster_files import parse_time

    problems: list[RowProblem] = []
    out: list[tuple[datetime, float, float, float | None]] = []
    for row, values in rows:
        try:
            at = parse_time(values.get("at", ""))
        except GridMgrError as exc:
            problems.append(RowProblem(source, row, "at", str(exc)))
            continue
        try:
            lon, lat = float(values.get("lon", "")), float(values.get("lat", ""))
        except ValueError:
            problems.append(RowProblem(source, row, "lon", "lon and lat must be numbers (degrees)"))
            continue
        if not (-180 <= lon <= 180 and -90 <= lat <= 90) or not np.isfinite([lon, lat]).all():
            problems.append(
                RowProblem(source, row, "lat", f"({lon}, {lat}) is not a lon/lat in degrees")
            )
            continue
        text = (values.get("accuracy_m") or "").strip()
        try:
            accuracy = float(text) if text else None
        except ValueError:
            problems.append(RowProblem(source, row, "accuracy_m", f"{text!r} is not a number"))
            continue
        out.append((at, lon, lat, accuracy))
    return _points_frame(out, problems, source=source, datum=datum)


def gpx_to_points(text: str, *, source: str, datum: str | Datum = Datum.WGS84) -> pd.DataFrame:
    """Points from a GPX document's track points (and waypoints); each needs a time.

    A point without a time is reported with its position in the file (track/segment/point).
    """
    import gpxpy
    import gpxpy.gpx

    try:
        gpx = gpxpy.parse(text)
    except gpxpy.gpx.GPXException as exc:
        raise InvalidTableError(f"{source}: not a GPX document ({exc})") from None
    problems: list[RowProblem] = []
    out: list[tuple[datetime, float, float, float | None]] = []
    n = 0
    for ti, track in enumerate(gpx.tracks, start=1):
        for si, segment in enumerate(track.segments, start=1):
            for pi, p in enumerate(segment.points, start=1):
                n += 1
                where = f"track {ti} segment {si} point {pi}"
                if p.time is None:
                    problems.append(RowProblem(source, n, where, "the point has no <time>"))
                    continue
                at = p.time if p.time.tzinfo is not None else p.time.replace(tzinfo=UTC)
                accuracy = None if p.horizontal_dilution is None else 5.0 * p.horizontal_dilution
                out.append((at, float(p.longitude), float(p.latitude), accuracy))
    if not out and not problems:
        problems.append(RowProblem(source, None, None, "the GPX file has no track points"))
    return _points_frame(out, problems, source=source, datum=datum)


def _points_frame(
    out: list[tuple[datetime, float, float, float | None]],
    problems: list[RowProblem],
    *,
    source: str,
    datum: str | Datum,
) -> pd.DataFrame:
    if problems:
        raise InvalidTableError(
            f"{source}: {len(problems)} problem(s) in the track; nothing was imported", problems
        )
    frame = pd.DataFrame(out, columns=["at", "lon", "lat", "accuracy_m"])
    if len(frame):
        lon, lat = to_wgs84(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), datum)
        frame["lon"], frame["lat"] = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame.sort_values("at", kind="stable").reset_index(drop=True)
