"""Patrol pixels: the coverage of every cell kept as bitmaps of 10 m pixels per cell and day.

Every tier-3 cell gets a raster of :data:`PIXEL_M` pixels over its bounding box in the grid's
metric CRS, aligned to one lattice (pixel ``(i, j)`` spans ``[i * 10, (i + 1) * 10)`` metres);
a pixel belongs to the cell when its centre lies inside the cell. A pixel is **covered** on a
day when its centre lies within :data:`~gridmgr.patrols.PATROL_DISTANCE_M` of a track walked
that day (a segment counts on the day of its later point). When points are stored, their
pixels are OR-ed into the ``(cell, day)`` bitmaps, so the coverage of N days is the union of N
stored bitmaps per cell — one query and a few milliseconds of numpy, instead of buffering and
uniting every track again.

It agrees with the exact area computation of :func:`gridmgr.patrols.patrol_coverage` to within
the pixel size along the boundary of the covered area (≈ 1–3 % of a cell's share), the window
is whole days (those the ``days`` before ``now`` touch), and the distance is fixed at 50 m;
other distances use the exact computation. Pure: frames and arrays in, values out.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from gridmgr.patrols import COVERAGE_COLUMNS, PATROL_DISTANCE_M, TRACK_GAP, PatrolError
from gridmgr.responsibility.calendar import TZ

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid

PIXEL_M = 10.0
"""The side of a coverage pixel, in metres."""


@dataclass(frozen=True)
class CellDay:
    """The pixels of one cell covered on one day, with the points that fell in the cell.

    ``raster`` is ``(origin_x, origin_y, width, height)`` in pixels: the cell's raster in the
    grid the bitmap was made for; ``pixels`` is the packed bitmap (row-major, ``width *
    height`` bits, :func:`numpy.packbits` order).
    """

    cell: str
    day: date
    raster: tuple[int, int, int, int]
    pixels: bytes
    points: int
    last_at: datetime | None


@dataclass(frozen=True)
class PatrolCover:
    """What one store of points adds: each point's tier-3 cell (``None`` outside the grid) and
    the covered pixels per cell and day."""

    cells: list[str | None]
    days: list[CellDay]


@dataclass(eq=False)
class PixelRaster:
    """Every tier-3 cell's pixel raster: one flat bit space, cell after cell.

    The inside mask of a cell is computed when a track first comes near it (a few
    milliseconds a cell), so a server that stores a worker's points pays for his cells only.
    """

    codes: NDArray[np.object_]
    geoms: NDArray[np.object_]
    area_m2: NDArray[np.float64]
    x0: NDArray[np.int64]
    y0: NDArray[np.int64]
    width: NDArray[np.int64]
    height: NDArray[np.int64]
    offset: NDArray[np.int64]
    crs: str
    _inside: NDArray[np.bool_] = field(repr=False, default_factory=lambda: np.zeros(0, bool))
    _ready: NDArray[np.bool_] = field(repr=False, default_factory=lambda: np.zeros(0, bool))
    _tree: shapely.STRtree | None = field(repr=False, default=None)
    _lock: threading.Lock = field(repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._inside = np.zeros(int(self.offset[-1]), dtype=bool)
        self._ready = np.zeros(len(self.codes), dtype=bool)
        lo = np.stack([self.x0, self.y0], axis=1) * PIXEL_M
        hi = np.stack([self.x0 + self.width, self.y0 + self.height], axis=1) * PIXEL_M
        self._tree = shapely.STRtree(shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]))
        self._index = {str(c): i for i, c in enumerate(self.codes)}
        self._order = pd.Index(self.codes)
        self._transformer = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)

    def to_metric(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """WGS84 degrees to the grid's metric CRS (metres)."""
        x, y = self._transformer.transform(lon, lat)
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def raster_of(self, i: int) -> tuple[int, int, int, int]:
        """``(origin_x, origin_y, width, height)`` of cell ``i``."""
        return (int(self.x0[i]), int(self.y0[i]), int(self.width[i]), int(self.height[i]))

    def position(self, code: str) -> int | None:
        """The position of cell ``code`` (``None`` if not a tier-3 cell of this grid)."""
        return self._index.get(code)

    def positions(self, codes: NDArray[np.object_]) -> NDArray[np.int64]:
        """The positions of cells ``codes`` (-1 for a code not in this grid's tier 3)."""
        return np.asarray(self._order.get_indexer(pd.Index(codes)), dtype=np.int64)

    def inside(self, cells: NDArray[np.int64]) -> NDArray[np.bool_]:
        """The flat inside mask, with the masks of ``cells`` computed."""
        todo = np.unique(cells[~self._ready[cells]])
        if len(todo):
            with self._lock:
                for i in todo:
                    if not self._ready[i]:
                        mask = self._mask(int(i))
                        self._inside[self.offset[i] : self.offset[i] + len(mask)] = mask
                        self._ready[i] = True
        return self._inside

    def _mask(self, i: int) -> NDArray[np.bool_]:
        """Cell ``i``'s pixels whose centre is inside it: a scanline over its rings' edges
        (even-odd, so holes and several parts are right), in time per edge and row."""
        x0, y0, w, h = self.raster_of(i)
        rings = shapely.get_rings(shapely.get_parts(self.geoms[i]))
        xy, ring = shapely.get_coordinates(rings, return_index=True)
        same = ring[1:] == ring[:-1]
        xa, ya, xb, yb = xy[:-1, 0][same], xy[:-1, 1][same], xy[1:, 0][same], xy[1:, 1][same]
        lo_y, hi_y = np.minimum(ya, yb), np.maximum(ya, yb)
        # rows whose centre line y_c satisfies lo_y <= y_c < hi_y (half-open: a vertex counts once)
        r0 = np.maximum(np.ceil(lo_y / PIXEL_M - 0.5).astype(np.int64) - y0, 0)
        r1 = np.minimum(np.ceil(hi_y / PIXEL_M - 0.5).astype(np.int64) - y0, h)
        n = np.maximum(r1 - r0, 0)
        edge = np.repeat(np.arange(len(n)), n)
        row = r0[edge] + (np.arange(len(edge)) - np.repeat(np.cumsum(n) - n, n))
        yc = (row + y0 + 0.5) * PIXEL_M
        x = xa[edge] + (yc - ya[edge]) * (xb[edge] - xa[edge]) / (yb[edge] - ya[edge])
        order = np.lexsort((x, row))
        row, x = row[order], x[order]
        start, stop, at = x[0::2], x[1::2], row[0::2]
        c0 = np.maximum(np.ceil(start / PIXEL_M - 0.5).astype(np.int64) - x0, 0)
        c1 = np.minimum(np.floor(stop / PIXEL_M - 0.5).astype(np.int64) - x0, w - 1)
        ok = c1 >= c0
        base = at[ok] * w
        paint = np.bincount(base + c0[ok], minlength=w * h + 1)
        paint -= np.bincount(base + c1[ok] + 1, minlength=w * h + 1)
        return np.cumsum(paint[: w * h]) > 0

    def near(
        self, lo: NDArray[np.float64], hi: NDArray[np.float64], group: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """Pairs ``(box, cell)`` of the boxes ``lo``–``hi`` (metres) and the cells' rasters
        that intersect (closed boxes, as shapely's ``intersects`` of two boxes).

        The tree is asked once per ``group`` of boxes (their union's box: a stretch of one
        track), and the boxes of a group are checked against its cells as arrays: a shapely
        box a segment cost more than the rest of the pixels' work."""
        assert self._tree is not None
        order = np.argsort(group, kind="stable")
        g = group[order]
        first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        size = np.diff(np.r_[first, len(g)])
        glo = np.minimum.reduceat(lo[order], first, axis=0)
        ghi = np.maximum.reduceat(hi[order], first, axis=0)
        boxes = shapely.box(glo[:, 0], glo[:, 1], ghi[:, 0], ghi[:, 1])
        g_i, c_i = np.asarray(self._tree.query(boxes, predicate="intersects"), dtype=np.int64)
        n = size[g_i]
        pair = np.repeat(np.arange(len(g_i)), n)
        within = np.arange(len(pair)) - np.repeat(np.cumsum(n) - n, n)
        box = order[np.repeat(first[g_i], n) + within]
        cell = c_i[pair]
        keep = (
            (lo[box, 0] <= (self.x0[cell] + self.width[cell]) * PIXEL_M)
            & (hi[box, 0] >= self.x0[cell] * PIXEL_M)
            & (lo[box, 1] <= (self.y0[cell] + self.height[cell]) * PIXEL_M)
            & (hi[box, 1] >= self.y0[cell] * PIXEL_M)
        )
        return np.stack([box[keep], cell[keep]])


@lru_cache(maxsize=4)
def pixel_raster(grid: Grid) -> PixelRaster:
    """The pixel raster of ``grid``'s tier-3 cells (built once per grid object)."""
    leaves = grid.tier(3)
    crs = grid.meta.metric_crs
    geoms = np.asarray(leaves.to_crs(crs).geometry.values, dtype=object)
    b = shapely.bounds(geoms)
    x0 = np.floor(b[:, 0] / PIXEL_M).astype(np.int64)
    y0 = np.floor(b[:, 1] / PIXEL_M).astype(np.int64)
    width = np.ceil(b[:, 2] / PIXEL_M).astype(np.int64) - x0
    height = np.ceil(b[:, 3] / PIXEL_M).astype(np.int64) - y0
    # whole bytes per cell, so a cell's bitmap is a slice of the packed flat space
    size = (width * height + 7) // 8 * 8
    offset = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
    return PixelRaster(
        codes=leaves["code"].to_numpy(dtype=object),
        geoms=geoms,
        area_m2=np.asarray(shapely.area(geoms), dtype=float),
        x0=x0,
        y0=y0,
        width=width,
        height=height,
        offset=offset,
        crs=crs,
    )


def points_to_cover(
    grid: Grid, points: pd.DataFrame, *, before: pd.DataFrame | None = None
) -> PatrolCover:
    """The cells and covered pixels of new ``points`` (columns ``person_id``, ``at``, ``lon``,
    ``lat``; WGS84), in their order.

    ``before`` holds each person's previous stored point (same columns, at most one a person):
    a track goes on from it when the gap is short enough, as it would have if the points had
    been stored together.
    """
    n = len(points)
    if n == 0:
        return PatrolCover([], [])
    raster = pixel_raster(grid)
    lon, lat = points["lon"].to_numpy(float), points["lat"].to_numpy(float)
    cells = grid.points_to_cells(lon, lat)["tier3"].tolist()
    frame = points[["person_id", "at", "lon", "lat"]].assign(new=True, cell=cells)
    if before is not None and len(before):
        frame = pd.concat([before[["person_id", "at", "lon", "lat"]].assign(new=False), frame])
    frame = frame.sort_values(["person_id", "at"], kind="stable").reset_index(drop=True)
    at = pd.to_datetime(frame["at"], utc=True)
    # Beijing days as numpy days (dates only for the few distinct ones: a date object a
    # point cost more than the pixels)
    day = at.dt.tz_convert(TZ).dt.tz_localize(None).to_numpy("datetime64[D]")
    x, y = raster.to_metric(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    new = frame["new"].to_numpy(bool)
    segments = _segments(frame["person_id"].to_numpy(dtype=object), at, new)
    covered = _covered(raster, x, y, segments, day)
    utc_us = at.dt.tz_localize(None).to_numpy("datetime64[us]").astype(np.int64)
    located = new & frame["cell"].notna().to_numpy(bool)
    pos = np.full(len(frame), -1, dtype=np.int64)
    pos[located] = raster.positions(frame["cell"].to_numpy(dtype=object)[located])
    return PatrolCover(cells, _cell_days(raster, covered, pos, day, utc_us))


@dataclass(frozen=True)
class _Segments:
    """Start and end point indices (equal for a lone point) of the pieces to rasterize."""

    a: NDArray[np.int64]
    b: NDArray[np.int64]
    group: NDArray[np.int64]
    """A stretch of one person's track (at most :data:`_STRETCH` points) per segment."""


def _segments(person: NDArray[np.object_], at: pd.Series, new: NDArray[np.bool_]) -> _Segments:
    """Segments between consecutive points of a person (gap ≤ :data:`TRACK_GAP`) ending at a
    new point, and the new points that are on no such segment (as lone points)."""
    t = at.dt.tz_localize(None).to_numpy("datetime64[ns]")
    joined = np.zeros(len(t), dtype=bool)
    joined[1:] = (person[1:] == person[:-1]) & ((t[1:] - t[:-1]) <= np.timedelta64(TRACK_GAP))
    ends = np.flatnonzero(joined & new)
    on_segment = np.zeros(len(t), dtype=bool)
    on_segment[ends] = True
    on_segment[ends - 1] = True
    lone = np.flatnonzero(new & ~on_segment)
    b = np.concatenate([ends, lone]).astype(np.int64)
    # the points are by person: a new stretch at each person's first point and every
    # _STRETCH points after it
    start = np.ones(len(t), dtype=bool)
    start[1:] = person[1:] != person[:-1]
    since = np.arange(len(t)) - np.maximum.accumulate(np.where(start, np.arange(len(t)), 0))
    stretch = np.cumsum(start | (since % _STRETCH == 0)) - 1
    return _Segments(np.concatenate([ends - 1, lone]).astype(np.int64), b, stretch[b])


_STRETCH = 32
"""Segments whose boxes the cells' tree is asked about together (:meth:`PixelRaster.near`)."""


def _covered(
    raster: PixelRaster,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    seg: _Segments,
    day: NDArray[np.datetime64],
) -> tuple[list[tuple[int, date]], list[NDArray[np.bool_]]]:
    """The covered pixels of every (cell, day) the segments touch: keys and flag rasters.

    Each segment's 50 m capsule is convex, so it meets a row of pixel centres in one run; the
    runs are painted with a difference array and a cumulative sum, which costs per row, not
    per pixel."""
    if not len(seg.a):
        return [], []
    ax, ay, bx, by = x[seg.a], y[seg.a], x[seg.b], y[seg.b]
    r = PATROL_DISTANCE_M
    lo = np.stack([np.minimum(ax, bx) - r, np.minimum(ay, by) - r], axis=1)
    hi = np.stack([np.maximum(ax, bx) + r, np.maximum(ay, by) + r], axis=1)
    s_i, c_i = raster.near(lo, hi, seg.group)
    days, day_of_seg = np.unique(day[seg.b], return_inverse=True)
    day_codes = days.astype(object)  # datetime.date
    key = c_i * len(day_codes) + day_of_seg[s_i]
    slots, slot_of = np.unique(key, return_inverse=True)
    slot_cell = slots // len(day_codes)
    sizes = (raster.width[slot_cell] * raster.height[slot_cell] + 7) // 8 * 8
    start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    # the rows of pixel centres each (segment, cell) pair crosses, within the cell's raster
    y0, h = raster.y0[c_i], raster.height[c_i]
    row0 = np.maximum(np.ceil(lo[s_i, 1] / PIXEL_M - 0.5).astype(np.int64), y0)
    row1 = np.minimum(np.floor(hi[s_i, 1] / PIXEL_M - 0.5).astype(np.int64), y0 + h - 1)
    rows = np.maximum(row1 - row0 + 1, 0)
    pair = np.repeat(np.arange(len(s_i)), rows)
    first = np.repeat(np.cumsum(rows) - rows, rows)
    iy = row0[pair] + (np.arange(len(pair)) - first)
    k = s_i[pair]
    left, right = _run(ax[k], ay[k], bx[k], by[k], (iy + 0.5) * PIXEL_M, r)
    cell = c_i[pair]
    x0, w = raster.x0[cell], raster.width[cell]
    col0 = np.maximum(np.ceil(left / PIXEL_M - 0.5), x0).astype(np.int64)
    col1 = np.minimum(np.floor(right / PIXEL_M - 0.5), x0 + w - 1).astype(np.int64)
    ok = col1 >= col0
    base = start[slot_of[pair]] + (iy - raster.y0[cell]) * w - x0
    flags = _paint_runs(base[ok] + col0[ok], base[ok] + col1[ok] + 1, int(start[-1]))
    inside = raster.inside(slot_cell)
    keys, out = [], []
    for j, c in enumerate(slot_cell):
        size = int(raster.width[c] * raster.height[c])
        part = flags[start[j] : start[j] + size]
        part &= inside[raster.offset[c] : raster.offset[c] + size]
        keys.append((int(c), day_codes[slots[j] % len(day_codes)]))
        out.append(part)
    return keys, out


def _paint_runs(a: NDArray[np.int64], b: NDArray[np.int64], n: int) -> NDArray[np.bool_]:
    """The flags of ``n`` pixels with those in any run ``[a, b)`` set.

    Consecutive capsules of a walk overlap most of their length, so the runs are merged into
    disjoint ones first (a sort of the runs) and only the union is painted: this costs per
    covered pixel, where a difference array over all ``n`` pixels costs per pixel of every
    raster touched (tens of millions an hour of walks)."""
    flags = np.zeros(n, dtype=bool)
    if not len(a):
        return flags
    order = np.argsort(a, kind="stable")
    lo, hi = a[order], np.maximum.accumulate(b[order])
    fresh = np.ones(len(lo), dtype=bool)
    fresh[1:] = lo[1:] > hi[:-1]  # a run that starts after every earlier one ended
    first = np.flatnonzero(fresh)
    starts = lo[first]
    ends = hi[np.append(first[1:] - 1, len(lo) - 1)]
    length = ends - starts
    offsets = np.repeat(starts - (np.cumsum(length) - length), length)
    flags[np.arange(int(length.sum())) + offsets] = True
    return flags


def _run(
    ax: NDArray[np.float64],
    ay: NDArray[np.float64],
    bx: NDArray[np.float64],
    by: NDArray[np.float64],
    yc: NDArray[np.float64],
    r: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Where the line ``y = yc`` meets the capsule of radius ``r`` around segment ``a``–``b``:
    ``(left, right)`` (left > right when it misses).

    The capsule is convex, so its run is the hull of where the line meets its boundary: the two
    end discs and the two long sides (a crossing of a short side lies on a disc's diameter, so
    inside that disc's run)."""
    left = np.full(len(yc), np.inf)
    right = np.full(len(yc), -np.inf)
    for cx, cy in ((ax, ay), (bx, by)):
        h2 = r * r - (yc - cy) ** 2
        hit = h2 >= 0
        half = np.sqrt(np.where(hit, h2, 0.0))
        np.minimum(left, np.where(hit, cx - half, np.inf), out=left)
        np.maximum(right, np.where(hit, cx + half, -np.inf), out=right)
    dx, dy = bx - ax, by - ay
    length = np.hypot(dx, dy)
    steep = dy != 0
    safe_len = np.where(length > 0, length, 1.0)
    safe_dy = np.where(steep, dy, 1.0)
    for side in (-1.0, 1.0):
        # the long side from a + side·r·n to b + side·r·n, n = (-dy, dx) / L
        px = ax - side * r * dy / safe_len
        py = ay + side * r * dx / safe_len
        t = (yc - py) / safe_dy
        hit = steep & (t >= 0) & (t <= 1)
        x = px + t * dx
        np.minimum(left, np.where(hit, x, np.inf), out=left)
        np.maximum(right, np.where(hit, x, -np.inf), out=right)
    return left, right


def _cell_days(
    raster: PixelRaster,
    covered: tuple[list[tuple[int, date]], list[NDArray[np.bool_]]],
    pos: NDArray[np.int64],
    day: NDArray[np.datetime64],
    utc_us: NDArray[np.int64],
) -> list[CellDay]:
    """One :class:`CellDay` per cell and day with covered pixels or new points (``pos``: each
    point's cell position, -1 for none or an old point; ``day``: its Beijing day; ``utc_us``:
    its time in microseconds since the epoch)."""
    flags = dict(zip(covered[0], covered[1], strict=True))
    tally: dict[tuple[int, date], tuple[int, datetime]] = {}
    ok = pos >= 0
    if ok.any():
        c, d, t = pos[ok], day[ok].astype(np.int64), utc_us[ok]
        order = np.lexsort((d, c))
        c, d, t = c[order], d[order], t[order]
        first = np.flatnonzero(np.r_[True, (c[1:] != c[:-1]) | (d[1:] != d[:-1])])
        sizes = np.diff(np.r_[first, len(c)])
        newest = np.maximum.reduceat(t, first)
        dates = d[first].astype("datetime64[D]").astype(object)
        cells, counts, lasts = c[first].tolist(), sizes.tolist(), newest.tolist()
        for i, dd, n, us in zip(cells, dates, counts, lasts, strict=True):
            tally[(i, dd)] = (n, _EPOCH + timedelta(microseconds=us))
    out = []
    for key in sorted(set(flags) | set(tally)):
        i, d0 = key
        part = flags.get(key)
        if part is None:
            part = np.zeros(int(raster.width[i] * raster.height[i]), dtype=bool)
        count, last = tally.get(key, (0, None))
        pixels = np.packbits(part).tobytes()
        out.append(CellDay(str(raster.codes[i]), d0, raster.raster_of(i), pixels, count, last))
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StoredDay:
    """One stored ``(cell, day)`` row as read back for a window."""

    cell: str
    raster: tuple[int, int, int, int]
    pixels: bytes
    points: int


def window_days(now: datetime, days: float) -> tuple[date, date]:
    """The first and last Beijing days the window of ``days`` days before ``now`` touches.

    >>> window_days(datetime(2026, 10, 9, 0, 0, tzinfo=TZ), 7)
    (datetime.date(2026, 10, 2), datetime.date(2026, 10, 8))
    >>> window_days(datetime(2026, 10, 9, 12, 0, tzinfo=TZ), 1)
    (datetime.date(2026, 10, 8), datetime.date(2026, 10, 9))
    """
    if days <= 0:
        raise PatrolError(f"days must be positive, got {days}")
    end = pd.Timestamp(now).tz_convert(TZ)
    first = (end - pd.Timedelta(days=days)).date()
    last = (end - pd.Timedelta(microseconds=1)).date()
    return first, max(first, last)


def coverage_from_days(
    grid: Grid,
    rows: Sequence[StoredDay],
    last_seen: Mapping[str, datetime],
    *,
    cells: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The :func:`gridmgr.patrols.patrol_coverage` frame from stored day bitmaps: per cell the
    union of its days' pixels (rows made for another grid's raster are skipped)."""
    raster = pixel_raster(grid)
    covered = np.zeros(len(raster.codes), dtype=np.int64)
    points = np.zeros(len(raster.codes), dtype=np.int64)
    union: dict[int, NDArray[np.uint8]] = {}
    for row in rows:
        i = raster.position(row.cell)
        if i is None or row.raster != raster.raster_of(i):
            continue
        points[i] += row.points
        bitmap = np.frombuffer(row.pixels, dtype=np.uint8)
        if i in union:
            np.bitwise_or(union[i], bitmap, out=union[i])
        else:
            union[i] = bitmap.copy()
    for i, bitmap in union.items():
        covered[i] = int(np.bitwise_count(bitmap).sum())
    area = raster.area_m2
    covered_m2 = np.minimum(covered * PIXEL_M * PIXEL_M, area)
    out = pd.DataFrame(
        {
            "cell": raster.codes,
            "coverage": np.clip(covered_m2 / np.where(area > 0, area, 1.0), 0.0, 1.0),
            "covered_m2": covered_m2,
            "area_m2": area,
            "points": points,
        }
    )
    out["last_seen"] = pd.to_datetime(
        pd.Series([last_seen.get(str(c)) for c in raster.codes], dtype="object"), utc=True
    )
    if cells is not None:
        out = out[out["cell"].isin(set(cells))]
    return out[COVERAGE_COLUMNS].reset_index(drop=True)


def day_after(d: date) -> date:
    """The next day (for half-open day ranges)."""
    return d + timedelta(days=1)
