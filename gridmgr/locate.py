"""Exact point location: a two-level lookup raster over the leaf cells with an exact fallback.

The answer for every point is defined by the exact geometric predicate: the point belongs to the
leaf cells whose *closed* polygon covers it, and when several do (a shared border or vertex) the
one with the **lowest code** wins. Tier-2 and tier-1 answers are the ancestors of the tier-3 answer,
which is also the lowest-code cell at those tiers, because children exactly cover their parent.

Speed comes from a precomputed raster whose pixels are labelled only when their closed box touches
no cell boundary, so every point in such a pixel lies in the interior of that pixel's cell. Pixels
touched by a boundary defer to the exact predicate (GEOS, through a ``shapely.STRtree``).

Why this is exact and not approximately right:

- pixel edges are dyadic (multiples of ``2**-k`` degrees) and the raster origin lies within a
  factor of two of every coordinate inside it, so ``floor((lon - x0) * 2**k)`` is computed without
  rounding (Sterbenz); every point is binned into the pixel that really contains it;
- a pixel is marked as touched when any boundary point could lie in its closed box: boundaries are
  sampled every quarter pixel and each sample marks all pixels within a margin that exceeds half
  the sampling step, so marking errs only on the side of more exact tests;
- untouched pixels are labelled per connected component, by locating one pixel centre exactly;
- a fine pixel that exactly one boundary edge comes near, and that the edge surely crosses (a
  separating-axis test with error-bounded orientation signs), answers by the side of that edge:
  the cell on its left or its right. The side is trusted only when the orientation determinant
  exceeds Shewchuk's error bound; points closer to the line than that, and pixels near vertices,
  go to the exact predicate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy import ndimage

OUTSIDE = -1
_AMBIGUOUS = -2
_EDGE = -3  # fine-pixel values <= _EDGE name the one boundary edge -(v + 3) crossing the pixel
_ORIENT_ERRBOUND = (3.0 + 16.0 * 2.0**-53) * 2.0**-53
"""Shewchuk's bound: a determinant larger than this times its terms has the right sign."""

IntArray = NDArray[np.int32]


@dataclass(frozen=True, eq=False)
class LocateIndex:
    """A read-only index from lon/lat (EPSG:4326) to leaf-cell positions.

    Build it with :func:`build_locate_index`; positions index the ``polygons`` passed in, which
    must be sorted by code so that "lowest position" means "lowest code".
    """

    x0: float
    y0: float
    x1: float
    y1: float
    level1_bits: int
    sub_bits: int
    top: NDArray[np.int32]
    blocks: NDArray[np.int16] | NDArray[np.int32]
    edges: NDArray[np.float64]
    edge_sides: NDArray[np.int32]
    tree: shapely.STRtree

    @property
    def nbytes(self) -> int:
        """Bytes held by the lookup arrays (the STRtree and polygons are shared with the grid)."""
        return int(
            self.top.nbytes + self.blocks.nbytes + self.edges.nbytes + self.edge_sides.nbytes
        )

    def points_to_leaves(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> IntArray:
        """Leaf position of every point, ``OUTSIDE`` (-1) where no cell covers it.

        Inputs must be finite float64 arrays of equal shape (the caller validates).
        """
        lon = np.ascontiguousarray(lon, dtype=np.float64).ravel()
        lat = np.ascontiguousarray(lat, dtype=np.float64).ravel()
        inside = (lon >= self.x0) & (lon < self.x1) & (lat >= self.y0) & (lat < self.y1)
        if inside.all():
            sel, x, y = None, lon, lat
        else:
            sel = np.flatnonzero(inside)
            x, y = lon[sel], lat[sel]
        sb = self.sub_bits
        scale = float(2 ** (self.level1_bits + sb))
        # exact (Sterbenz; scale is a power of two), and truncation is floor for x >= x0
        ix = ((x - self.x0) * scale).astype(np.int32)
        iy = ((y - self.y0) * scale).astype(np.int32)
        res: IntArray = self.top.ravel()[(iy >> sb) * self.top.shape[1] + (ix >> sb)]
        blk = np.flatnonzero(res <= _AMBIGUOUS)
        if blk.size:
            mask = (1 << sb) - 1
            key = ((-(res[blk] + 2)) << (2 * sb)) + ((iy[blk] & mask) << sb) + (ix[blk] & mask)
            found = self.blocks.ravel()[key].astype(np.int32)
            edge = np.flatnonzero(found <= _EDGE)
            if edge.size:
                at = blk[edge]
                found[edge] = self._side_of_edge(-(found[edge] + 3), x[at], y[at])
            amb = np.flatnonzero(found == _AMBIGUOUS)
            if amb.size:
                at = blk[amb]
                found[amb] = self.exact_leaves(x[at], y[at])
            res[blk] = found
        if sel is None:
            return res
        out = np.full(lon.shape, OUTSIDE, dtype=np.int32)
        out[sel] = res
        return out

    def _side_of_edge(
        self, e: NDArray[np.integer[Any]], px: NDArray[np.float64], py: NDArray[np.float64]
    ) -> IntArray:
        """The leaf left or right of edge ``e`` (exact), the lower of the two on the edge."""
        ax, ay, bx, by = self.edges[e].T
        sign = orientation_sign(ax, ay, bx, by, px, py)
        left, right = self.edge_sides[e].T
        # on the edge itself both cells cover the point: the lower code wins (OUTSIDE never)
        on = np.where(
            right == OUTSIDE, left, np.where(left == OUTSIDE, right, np.minimum(left, right))
        )
        side: IntArray = np.where(sign > 0, left, np.where(sign < 0, right, on)).astype(np.int32)
        return side

    def point_to_leaf(self, lon: float, lat: float) -> int:
        """Leaf position of one point, or ``OUTSIDE``: the scalar fast path."""
        if not (self.x0 <= lon < self.x1 and self.y0 <= lat < self.y1):
            return OUTSIDE
        scale = 2 ** (self.level1_bits + self.sub_bits)
        ix2 = math.floor((lon - self.x0) * scale)
        iy2 = math.floor((lat - self.y0) * scale)
        v = int(self.top[iy2 >> self.sub_bits, ix2 >> self.sub_bits])
        if v <= _AMBIGUOUS:
            mask = (1 << self.sub_bits) - 1
            v = int(self.blocks[-(v + 2), iy2 & mask, ix2 & mask])
        if v <= _EDGE:
            e = -(v + 3)
            ax, ay, bx, by = self.edges[e].tolist()
            left, right = self.edge_sides[e].tolist()
            sign = _orientation_sign_scalar(ax, ay, bx, by, lon, lat)
            if sign:
                return int(left if sign > 0 else right)
            return int(min(left, right) if OUTSIDE not in (left, right) else max(left, right))
        if v == _AMBIGUOUS:
            hits = self.tree.query(shapely.Point(lon, lat), predicate="intersects")
            return int(hits.min()) if hits.size else OUTSIDE
        return v

    def exact_leaves(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> IntArray:
        """The exact predicate for each point: lowest covering leaf position, else ``OUTSIDE``."""
        pts = shapely.points(lon, lat)
        pi, ti = self.tree.query(pts, predicate="intersects")
        res = np.full(len(pts), np.iinfo(np.int32).max, dtype=np.int64)
        np.minimum.at(res, pi, ti)
        res[res == np.iinfo(np.int32).max] = OUTSIDE
        return res.astype(np.int32)


def build_locate_index(
    polygons: NDArray[np.object_], *, level1_bits: int = 10, sub_bits: int = 3
) -> LocateIndex:
    """Build the lookup raster for ``polygons`` (leaf cells in EPSG:4326, sorted by code).

    ``level1_bits`` sets the coarse pixel to ``2**-level1_bits`` degrees (10: about 100 m); each
    coarse pixel touched by a boundary holds a block of ``2**sub_bits`` squared fine pixels.
    Coordinates must lie where ``lon`` and ``lat`` stay within a factor of two of the raster origin
    (any territory away from the equator and the prime meridian, e.g. all of China).
    """
    polygons = np.asarray(polygons, dtype=object)
    tree = shapely.STRtree(polygons)
    shapely.prepare(polygons)
    cell = 2.0**-level1_bits
    fine_bits = level1_bits + sub_bits
    fine = 2.0**-fine_bits
    minx, miny, maxx, maxy = shapely.total_bounds(polygons)
    x0 = math.floor(minx / cell) * cell - cell
    y0 = math.floor(miny / cell) * cell - cell
    nx1 = math.ceil((maxx - x0) / cell) + 1
    ny1 = math.ceil((maxy - y0) / cell) + 1
    x1, y1 = x0 + nx1 * cell, y0 + ny1 * cell
    if not (x0 > 0 and y0 > 0 and x1 < 2 * x0 and y1 < 2 * y0):
        raise ValueError(
            "the exact locate index needs coordinates that stay within a factor of two of the "
            f"raster origin; bounds {minx, miny, maxx, maxy} are too close to 0 degrees"
        )

    edges, sides = _unique_edges(polygons)
    fx, fy, edge_of = _edge_samples(edges, step=fine / 4)
    # every sample marks the fine pixels within `margin` of it (see the module docstring)
    margin = fine / 8 + fine * 1e-6
    scale = 2.0**fine_bits
    cols = [np.floor((fx + d - x0) * scale).astype(np.int64) for d in (-margin, margin)]
    rows = [np.floor((fy + d - y0) * scale).astype(np.int64) for d in (-margin, margin)]
    mx = np.concatenate([c for c in cols for _ in rows])
    my = np.concatenate([r for _ in cols for r in rows])
    me = np.concatenate([edge_of] * 4)

    sub = 1 << sub_bits
    key1 = (my >> sub_bits) * nx1 + (mx >> sub_bits)
    touched = np.zeros(ny1 * nx1, dtype=bool)
    touched[key1] = True
    block_id = np.cumsum(touched, dtype=np.int64) - 1  # block number of each touched pixel
    touched1 = np.flatnonzero(touched)
    nb = len(touched1)
    fine_key = (block_id[key1] * sub + (my & (sub - 1))) * sub + (mx & (sub - 1))
    marked_flat = np.zeros(nb * sub * sub, dtype=bool)
    marked_flat[fine_key] = True
    # one edge per marked fine pixel, and whether any other edge came near it too
    first = np.full(nb * sub * sub, -1, dtype=np.int64)
    first[fine_key] = me
    several = np.zeros(nb * sub * sub, dtype=bool)
    several[fine_key[me != first[fine_key]]] = True
    marked = marked_flat.reshape(nb, sub, sub)

    top = np.empty(ny1 * nx1, dtype=np.int32)
    free1 = np.ones(ny1 * nx1, dtype=bool)
    free1[touched1] = False
    top[free1] = _label_free_pixels(
        free1.reshape(ny1, nx1)[None], tree, x0, y0, cell, origins=np.zeros((1, 2))
    )[free1.reshape(1, ny1, nx1)]
    top[touched1] = -(np.arange(nb, dtype=np.int32) + 2)
    top = top.reshape(ny1, nx1)

    small = len(polygons) < 2**15 and len(edges) + 3 <= 2**15
    blocks = np.full((nb, sub, sub), _AMBIGUOUS, dtype=np.int16 if small else np.int32)
    origins = np.column_stack([(touched1 % nx1) * cell + x0, (touched1 // nx1) * cell + y0])
    labels = _label_free_pixels(~marked, tree, 0.0, 0.0, fine, origins=origins)
    blocks[~marked] = labels[~marked]
    # a fine pixel crossed by exactly one edge is answered by the side of that edge
    single = np.flatnonzero(marked.ravel() & ~several)
    b, r, c = np.unravel_index(single, marked.shape)
    px0 = origins[b, 0] + c * fine
    py0 = origins[b, 1] + r * fine
    crossing = _certainly_crosses(edges[first[single]], px0, py0, fine)
    flat = blocks.reshape(-1)
    flat[single[crossing]] = -(first[single[crossing]] + 3)
    return LocateIndex(
        x0=x0,
        y0=y0,
        x1=x1,
        y1=y1,
        level1_bits=level1_bits,
        sub_bits=sub_bits,
        top=top,
        blocks=blocks,
        edges=edges,
        edge_sides=sides,
        tree=tree,
    )


def _unique_edges(
    polygons: NDArray[np.object_],
) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """Every boundary segment once, as (ax, ay, bx, by) with a < b, and its (left, right) leaves.

    Rings are oriented so that each polygon's interior lies to the left of its edges; a side
    with no polygon (outside the grid) is ``OUTSIDE``.
    """
    parts, owner = shapely.get_parts(polygons, return_index=True)
    parts = shapely.orient_polygons(parts)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    same = ring_idx[1:] == ring_idx[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    leaf = owner[ring_part[ring_idx[:-1][same]]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo = np.where(swap[:, None], b, a)
    hi = np.where(swap[:, None], a, b)
    seg = np.ascontiguousarray(np.column_stack([lo, hi]))
    edges, inverse = np.unique(seg, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    sides = np.full((len(edges), 2), OUTSIDE, dtype=np.int64)
    np.maximum.at(sides[:, 0], inverse[~swap], leaf[~swap])
    np.maximum.at(sides[:, 1], inverse[swap], leaf[swap])
    return edges, sides.astype(np.int32)


def _edge_samples(
    edges: NDArray[np.float64], *, step: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Points along every edge at most ``step`` apart, both ends included, with their edge."""
    a, b = edges[:, :2], edges[:, 2:]
    n = np.maximum(np.ceil(np.hypot(*(b - a).T) / step).astype(np.int64), 1) + 1
    seg = np.repeat(np.arange(len(edges)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    t = (np.arange(int(n.sum())) - start) / (n[seg] - 1)
    pts = a[seg] + (b[seg] - a[seg]) * t[:, None]
    return pts[:, 0], pts[:, 1], seg


def _certainly_crosses(
    edges: NDArray[np.float64], px0: NDArray[np.float64], py0: NDArray[np.float64], size: float
) -> NDArray[np.bool_]:
    """Whether each segment touches its closed square pixel (exact separating-axis test).

    A segment and a box are disjoint exactly when the x extents, the y extents, or the segment's
    line (all four corners strictly on one side) separates them.
    """
    ax, ay, bx, by = edges.T
    px1, py1 = px0 + size, py0 + size
    overlap = (np.minimum(ax, bx) <= px1) & (np.maximum(ax, bx) >= px0)
    overlap &= (np.minimum(ay, by) <= py1) & (np.maximum(ay, by) >= py0)
    all_pos = np.ones(len(edges), dtype=bool)
    all_neg = np.ones(len(edges), dtype=bool)
    for cx, cy in ((px0, py0), (px1, py0), (px0, py1), (px1, py1)):
        sign = orientation_sign(ax, ay, bx, by, cx, cy)
        all_pos &= sign > 0
        all_neg &= sign < 0
    crosses: NDArray[np.bool_] = overlap & ~all_pos & ~all_neg
    return crosses


def _label_free_pixels(
    free: NDArray[np.bool_],
    tree: shapely.STRtree,
    x0: float,
    y0: float,
    size: float,
    *,
    origins: NDArray[np.float64],
) -> NDArray[np.int32]:
    """Label every free pixel of a stack of rasters with the leaf that contains it, or OUTSIDE.

    ``free`` has shape (stack, rows, cols); raster ``k`` has its lower-left corner at
    ``origins[k] + (x0, y0)`` and square pixels of ``size``. Free pixels touch no boundary, so a
    4-connected component of them lies inside one leaf (or outside all): one exact look-up each.
    """
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    comp, ncomp = ndimage.label(free, structure=structure)
    flat = comp.ravel()
    nz = np.flatnonzero(flat)[::-1]
    first_of = np.empty(ncomp + 1, dtype=np.int64)
    first_of[flat[nz]] = nz  # written last to first, so the first pixel of each label wins
    first = first_of[1:]
    k, r, c = np.unravel_index(first, comp.shape)
    cx = origins[k, 0] + x0 + (c + 0.5) * size
    cy = origins[k, 1] + y0 + (r + 0.5) * size
    pts = shapely.points(cx, cy)
    pi, ti = tree.query(pts, predicate="intersects")
    leaf = np.full(ncomp + 1, OUTSIDE, dtype=np.int64)
    hit = np.full(len(pts), OUTSIDE, dtype=np.int64)
    hit[pi] = ti
    leaf[flat[first]] = hit
    labels: NDArray[np.int32] = leaf[comp].astype(np.int32)
    return labels


def orientation_sign(
    ax: NDArray[np.float64],
    ay: NDArray[np.float64],
    bx: NDArray[np.float64],
    by: NDArray[np.float64],
    px: NDArray[np.float64],
    py: NDArray[np.float64],
) -> NDArray[np.int8]:
    """Exact sign of ``(b - a) x (p - a)``: 1 if p is left of a->b, -1 right, 0 on the line.

    Precondition: each coordinate difference is exact, which holds when the two operands are
    within a factor of two of each other (Sterbenz) — true for every coordinate inside a locate
    raster. A float determinant beyond Shewchuk's error bound decides most cases; the rest are
    decided exactly by expanding both products with Dekker's two-product (Shewchuk, "Adaptive
    Precision Floating-Point Arithmetic and Fast Robust Geometric Predicates", 1997).

    >>> orientation_sign(*np.array([[0.0], [0.0], [1.0], [1.0], [0.5], [0.5 + 2**-50]])).tolist()
    [1]
    """
    dx1, dy2 = bx - ax, py - ay
    dy1, dx2 = by - ay, px - ax
    left, right = dx1 * dy2, dy1 * dx2
    det = left - right
    bound = _ORIENT_ERRBOUND * (np.abs(left) + np.abs(right))
    sign = np.sign(det).astype(np.int8)
    unsure = np.flatnonzero(np.abs(det) <= bound)
    if unsure.size:
        l1, l0 = _two_product(dx1[unsure], dy2[unsure])
        r1, r0 = _two_product(dy1[unsure], dx2[unsure])
        sign[unsure] = _expansion_sign(*_two_two_diff(l1, l0, r1, r0))
    return sign


def _orientation_sign_scalar(
    ax: float, ay: float, bx: float, by: float, px: float, py: float
) -> int:
    """:func:`orientation_sign` for one point, without numpy's per-call overhead."""
    left = (bx - ax) * (py - ay)
    right = (by - ay) * (px - ax)
    det = left - right
    if abs(det) > _ORIENT_ERRBOUND * (abs(left) + abs(right)):
        return 1 if det > 0 else -1
    f = Fraction  # rare: the float sign is not certain, so do it in exact rationals
    exact = (f(bx) - f(ax)) * (f(py) - f(ay)) - (f(by) - f(ay)) * (f(px) - f(ax))
    return (exact > 0) - (exact < 0)


_SPLITTER = 2.0**27 + 1.0


def _split(a: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def _two_product(
    a: NDArray[np.float64], b: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``a * b`` as x + y exactly (Dekker)."""
    x = a * b
    ahi, alo = _split(a)
    bhi, blo = _split(b)
    y = alo * blo - (((x - ahi * bhi) - alo * bhi) - ahi * blo)
    return x, y


def _two_sum(
    a: NDArray[np.float64], b: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = a + b
    bv = x - a
    av = x - bv
    return x, (a - av) + (b - bv)


def _two_diff(
    a: NDArray[np.float64], b: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = a - b
    bv = a - x
    av = x + bv
    return x, (a - av) + (bv - b)


def _two_two_diff(
    a1: NDArray[np.float64],
    a0: NDArray[np.float64],
    b1: NDArray[np.float64],
    b0: NDArray[np.float64],
) -> tuple[NDArray[np.float64], ...]:
    """(a1 + a0) - (b1 + b0) as a nonoverlapping expansion x3 + x2 + x1 + x0, largest first."""
    i, x0 = _two_diff(a0, b0)
    j, zero = _two_sum(a1, i)
    i, x1 = _two_diff(zero, b1)
    x3, x2 = _two_sum(j, i)
    return x3, x2, x1, x0


def _expansion_sign(*components: NDArray[np.float64]) -> NDArray[np.int8]:
    """Sign of a nonoverlapping expansion: the sign of its largest nonzero component."""
    out = np.zeros(len(components[0]), dtype=np.int8)
    for comp in reversed(components):  # smallest first; larger components overwrite
        out = np.where(comp != 0, np.sign(comp), out).astype(np.int8)
    return out
