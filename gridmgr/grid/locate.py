"""Exact point location: a multi-level lookup raster over the leaf cells with an exact fallback.

The answer for every point is defined by the exact geometric predicate: the point belongs to the
leaf cells whose *closed* polygon covers it, and when several do (a shared border or vertex) the
one with the **lowest code** wins. Tier-2 and tier-1 answers are the ancestors of the tier-3 answer,
which is also the lowest-code cell at those tiers, because children exactly cover their parent.

Speed comes from a precomputed raster: coarse pixels (about 100 m) that no cell boundary touches
name their cell; the others hold a block of finer pixels (about 12 m), and fine pixels near a
vertex are refined once more (about 3 m). A pixel that no boundary touches names its cell; a pixel
that exactly one boundary edge crosses answers by which side of that edge the point is on; only
what is left (points within a few metres of a vertex) goes to GEOS through a ``shapely.STRtree``.

Why this is exact and not approximately right:

- pixel edges are dyadic (multiples of ``2**-k`` degrees) and the raster origin lies within a
  factor of two of every coordinate inside it, so ``floor((lon - x0) * 2**k)`` is computed without
  rounding (Sterbenz); every point is binned into the pixel that really contains it;
- a pixel is marked as touched when any boundary point could lie in its closed box: boundaries are
  sampled every quarter pixel and each sample marks all pixels within a margin that exceeds half
  the sampling step, so marking errs only on the side of more exact tests;
- untouched pixels are labelled per connected component, by locating one pixel centre exactly;
- a pixel that only one edge comes near, and that the edge really touches (an exact
  separating-axis test), is split by that edge alone: a point left of it is in the cell on its
  left, and so on. The side is an exact orientation sign (a float determinant beyond Shewchuk's
  error bound, else Dekker's error-free products), and a point exactly on the edge goes to the
  lower code of the two cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy import ndimage

from gridmgr.grid.predicates import orientation_sign, orientation_sign_scalar

OUTSIDE = -1
_AMBIGUOUS = -2
_EDGE = -3  # fine-pixel values <= _EDGE name the one boundary edge -(v + 3) crossing the pixel

IntArray = NDArray[np.int32]
Blocks = NDArray[np.signedinteger[Any]]


@dataclass(frozen=True, eq=False)
class _Level:
    """A deeper level: blocks of finer pixels for some ambiguous pixels of the level above.

    ``keys`` are the flat positions (sorted) of the refined pixels in the level above's blocks;
    block ``i`` refines ``keys[i]``.
    """

    sub_bits: int
    keys: NDArray[np.int64]
    blocks: Blocks


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
    blocks: Blocks
    edges: NDArray[np.float64]
    edge_sides: NDArray[np.int32]
    tree: shapely.STRtree
    deep: tuple[_Level, ...] = ()

    @property
    def nbytes(self) -> int:
        """Bytes held by the lookup arrays (the STRtree and polygons are shared with the grid)."""
        deep = sum(level.keys.nbytes + level.blocks.nbytes for level in self.deep)
        return int(
            self.top.nbytes + self.blocks.nbytes + self.edges.nbytes + self.edge_sides.nbytes + deep
        )

    def points_to_leaves(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> IntArray:
        """Leaf position of every point, ``OUTSIDE`` (-1) where no cell covers it.

        Inputs must be finite float64 arrays of equal shape (the caller validates).
        """
        x = np.ascontiguousarray(lon, dtype=np.float64).ravel()
        y = np.ascontiguousarray(lat, dtype=np.float64).ravel()
        sb = self.sub_bits
        scale = float(2 ** (self.level1_bits + sb))
        ny, nx = self.top.shape
        # exact inside the raster (Sterbenz; scale is a power of two; truncation is floor for
        # x >= x0). Points outside it are clamped into the raster's border ring, all OUTSIDE.
        ix = np.clip((x - self.x0) * scale, 0, (nx << sb) - 1).astype(np.int32)
        iy = np.clip((y - self.y0) * scale, 0, (ny << sb) - 1).astype(np.int32)
        res: IntArray = self.top.ravel()[(iy >> sb) * nx + (ix >> sb)]
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
                amb = self._descend(found, amb, key[amb], blk, x, y)
            if amb.size:
                at = blk[amb]
                found[amb] = self.exact_leaves(x[at], y[at])
            res[blk] = found
        return res

    def _descend(
        self,
        found: IntArray,
        todo: NDArray[np.intp],
        slot: NDArray[np.integer[Any]],
        blk: NDArray[np.intp],
        x: NDArray[np.float64],
        y: NDArray[np.float64],
    ) -> NDArray[np.intp]:
        """Resolve ambiguous points through the deeper levels; return those still ambiguous."""
        bits = self.level1_bits + self.sub_bits
        left_over = []
        for level in self.deep:
            if not todo.size:
                break
            pos = np.minimum(np.searchsorted(level.keys, slot), len(level.keys) - 1)
            refined = level.keys[pos] == slot
            left_over.append(todo[~refined])
            todo, pos = todo[refined], pos[refined]
            sb = level.sub_bits
            bits += sb
            mask = (1 << sb) - 1
            at = blk[todo]
            ix = ((x[at] - self.x0) * float(2**bits)).astype(np.int64)
            iy = ((y[at] - self.y0) * float(2**bits)).astype(np.int64)
            slot = (pos << (2 * sb)) + ((iy & mask) << sb) + (ix & mask)
            value = level.blocks.ravel()[slot].astype(np.int32)
            edge = np.flatnonzero(value <= _EDGE)
            if edge.size:
                value[edge] = self._side_of_edge(-(value[edge] + 3), x[at[edge]], y[at[edge]])
            found[todo] = value
            still = value == _AMBIGUOUS
            todo, slot = todo[still], slot[still]
        left_over.append(todo)
        return np.concatenate(left_over)

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
        sb = self.sub_bits
        bits = self.level1_bits + sb
        ix = math.floor((lon - self.x0) * 2**bits)
        iy = math.floor((lat - self.y0) * 2**bits)
        v = int(self.top[iy >> sb, ix >> sb])
        if v > _AMBIGUOUS:
            return v
        mask = (1 << sb) - 1
        slot = (-(v + 2) << (2 * sb)) + ((iy & mask) << sb) + (ix & mask)
        v = int(self.blocks.ravel()[slot])
        for level in self.deep:
            if v != _AMBIGUOUS:
                break
            pos = int(np.searchsorted(level.keys, slot))
            if pos >= len(level.keys) or int(level.keys[pos]) != slot:
                break
            sb = level.sub_bits
            bits += sb
            mask = (1 << sb) - 1
            ix = math.floor((lon - self.x0) * 2**bits)
            iy = math.floor((lat - self.y0) * 2**bits)
            slot = (pos << (2 * sb)) + ((iy & mask) << sb) + (ix & mask)
            v = int(level.blocks.ravel()[slot])
        if v <= _EDGE:
            e = -(v + 3)
            ax, ay, bx, by = self.edges[e].tolist()
            left, right = self.edge_sides[e].tolist()
            sign = orientation_sign_scalar(ax, ay, bx, by, lon, lat)
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
    polygons: NDArray[np.object_],
    *,
    level1_bits: int = 10,
    sub_bits: int = 3,
    deeper_bits: tuple[int, ...] = (2,),
) -> LocateIndex:
    """Build the lookup raster for ``polygons`` (leaf cells in EPSG:4326, sorted by code).

    ``level1_bits`` sets the coarse pixel to ``2**-level1_bits`` degrees (10: about 100 m); each
    coarse pixel touched by a boundary holds a block of ``2**sub_bits`` squared fine pixels, and
    each fine pixel that stays ambiguous (near a vertex) is refined again by each of
    ``deeper_bits`` in turn (default: once, 4 x 4, about 3 m).
    Coordinates must lie where ``lon`` and ``lat`` stay within a factor of two of the raster origin
    (any territory away from the equator and the prime meridian, e.g. all of China).
    """
    polygons = np.asarray(polygons, dtype=object)
    tree = shapely.STRtree(polygons)
    shapely.prepare(polygons)
    cell = 2.0**-level1_bits
    minx, miny, maxx, maxy = shapely.total_bounds(polygons)
    # a ring of coarse pixels that no cell reaches, not even their closed edge: points from
    # outside the raster are clamped into it and read OUTSIDE
    x0 = math.floor(minx / cell) * cell - 2 * cell
    y0 = math.floor(miny / cell) * cell - 2 * cell
    nx1 = math.floor((maxx - x0) / cell) + 2
    ny1 = math.floor((maxy - y0) / cell) + 2
    x1, y1 = x0 + nx1 * cell, y0 + ny1 * cell
    if not (x0 > 0 and y0 > 0 and x1 < 2 * x0 and y1 < 2 * y0):
        raise ValueError(
            "the exact locate index needs coordinates that stay within a factor of two of the "
            f"raster origin; bounds {minx, miny, maxx, maxy} are too close to 0 degrees"
        )
    edges, sides = _unique_edges(polygons)
    every_edge = np.arange(len(edges))
    small = len(polygons) < 2**15 and len(edges) + 3 <= 2**15
    dtype = np.int16 if small else np.int32
    grid = _Raster(x0=x0, y0=y0, edges=edges, tree=tree, dtype=dtype)

    # coarse pixels any edge comes near get a block; the others are labelled whole
    mx, my, _ = grid.marks(edges, every_edge, level1_bits)
    touched = np.zeros(ny1 * nx1, dtype=bool)
    touched[my * nx1 + mx] = True
    touched1 = np.flatnonzero(touched)
    free1 = ~touched
    top = np.empty(ny1 * nx1, dtype=np.int32)
    top[free1] = _label_free_pixels(
        free1.reshape(ny1, nx1)[None], tree, x0, y0, cell, origins=np.zeros((1, 2))
    )[free1.reshape(1, ny1, nx1)]
    top[touched1] = -(np.arange(len(touched1), dtype=np.int32) + 2)

    blocks, slots, cx, cy, near_pixel, near_edge = grid.refine(
        touched1 % nx1, touched1 // nx1, level1_bits, sub_bits, edges, every_edge
    )
    deep = []
    bits = level1_bits + sub_bits
    for more in deeper_bits:
        if not slots.size:
            break
        pieces, ids = grid.clip(near_edge, cx[near_pixel], cy[near_pixel], bits)
        finer, slots2, cx, cy, near_pixel, near_edge = grid.refine(cx, cy, bits, more, pieces, ids)
        deep.append(_Level(sub_bits=more, keys=slots, blocks=finer))
        slots = slots2
        bits += more
    return LocateIndex(
        x0=x0,
        y0=y0,
        x1=x1,
        y1=y1,
        level1_bits=level1_bits,
        sub_bits=sub_bits,
        top=top.reshape(ny1, nx1),
        blocks=blocks,
        edges=edges,
        edge_sides=sides,
        tree=tree,
        deep=tuple(deep),
    )


@dataclass(frozen=True)
class _Raster:
    """What building every level needs: the dyadic origin, the edges and the exact predicate."""

    x0: float
    y0: float
    edges: NDArray[np.float64]
    tree: shapely.STRtree
    dtype: type[np.int16] | type[np.int32]

    def marks(
        self, segments: NDArray[np.float64], ids: NDArray[np.integer[Any]], bits: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """Pixels of size ``2**-bits`` that ``segments`` (pieces of edges ``ids``) may touch.

        Returns columns, rows and edge ids. Each segment is sampled every quarter pixel and each
        sample marks every pixel within ``margin`` of it, a margin larger than half the sampling
        step: so every pixel whose closed box a segment touches is marked (see the module
        docstring).
        """
        size = 2.0**-bits
        fx, fy, which = _edge_samples(segments, step=size / 4)
        margin = size / 8 + size * 1e-6
        scale = 2.0**bits
        cols = [np.floor((fx + d - self.x0) * scale).astype(np.int64) for d in (-margin, margin)]
        rows = [np.floor((fy + d - self.y0) * scale).astype(np.int64) for d in (-margin, margin)]
        mx = np.concatenate([c for c in cols for _ in rows])
        my = np.concatenate([r for _ in cols for r in rows])
        return mx, my, np.concatenate([np.asarray(ids)[which]] * 4)

    def refine(
        self,
        px: NDArray[np.int64],
        py: NDArray[np.int64],
        parent_bits: int,
        sub_bits: int,
        segments: NDArray[np.float64],
        ids: NDArray[np.integer[Any]],
    ) -> tuple[
        Blocks,
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.int64],
    ]:
        """Blocks of ``2**sub_bits`` squared pixels for parent pixels (``px``, ``py``).

        A child pixel no edge touches gets its leaf (or OUTSIDE); one that exactly one edge
        crosses gets that edge's code; the rest are ambiguous. Returns the blocks, the flat
        positions of the ambiguous children, their pixel coordinates at the child resolution,
        and which edges came near which of them (child number, edge id).
        """
        sub = 1 << sub_bits
        bits = parent_bits + sub_bits
        size = 2.0**-bits
        mx, my, me = self.marks(segments, ids, bits)
        block, inside = _block_of(np.asarray(px), np.asarray(py), mx >> sub_bits, my >> sub_bits)
        child = (block * sub + (my[inside] & (sub - 1))) * sub + (mx[inside] & (sub - 1))
        me = me[inside]
        n = len(px) * sub * sub
        marked = np.zeros(n, dtype=bool)
        marked[child] = True
        first = np.full(n, -1, dtype=np.int64)
        first[child] = me  # one edge per marked pixel ...
        several = np.zeros(n, dtype=bool)
        several[child[me != first[child]]] = True  # ... and whether another came near too

        shape = (len(px), sub, sub)
        blocks = np.full(shape, _AMBIGUOUS, dtype=self.dtype)
        parent_size = 2.0**-parent_bits
        origins = np.column_stack(
            [np.asarray(px) * parent_size + self.x0, np.asarray(py) * parent_size + self.y0]
        )
        free = ~marked.reshape(shape)
        blocks[free] = _label_free_pixels(free, self.tree, 0.0, 0.0, size, origins=origins)[free]
        flat = blocks.reshape(-1)
        single = np.flatnonzero(marked & ~several)
        b, r, c = np.unravel_index(single, shape)
        crossing = _certainly_crosses(
            self.edges[first[single]], origins[b, 0] + c * size, origins[b, 1] + r * size, size
        )
        flat[single[crossing]] = -(first[single[crossing]] + 3)

        slots = np.flatnonzero(flat == _AMBIGUOUS)
        b, r, c = np.unravel_index(slots, shape)
        cx = (np.asarray(px, dtype=np.int64)[b] << sub_bits) + c
        cy = (np.asarray(py, dtype=np.int64)[b] << sub_bits) + r
        near = np.isin(child, slots)
        pair = np.unique(np.searchsorted(slots, child[near]) * len(self.edges) + me[near])
        return (
            blocks,
            slots.astype(np.int64),
            cx.astype(np.int64),
            cy.astype(np.int64),
            pair // len(self.edges),
            pair % len(self.edges),
        )

    def clip(
        self, edge_ids: NDArray[np.int64], px: NDArray[np.int64], py: NDArray[np.int64], bits: int
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """The pieces of edges inside their pixel's box, padded by a quarter pixel (Liang-Barsky).

        Only these pieces can touch the pixel's children, so only they need sampling at the next
        level; the padding dwarfs any rounding of the clip parameters.
        """
        size = 2.0**-bits
        pad = size / 4
        seg = self.edges[edge_ids]
        a, d = seg[:, :2], seg[:, 2:] - seg[:, :2]
        lo = np.column_stack([px * size + self.x0 - pad, py * size + self.y0 - pad])
        hi = lo + size + 2 * pad
        t0 = np.zeros(len(seg))
        t1 = np.ones(len(seg))
        with np.errstate(divide="ignore", invalid="ignore"):
            for k in (0, 1):
                ta, tb = (lo[:, k] - a[:, k]) / d[:, k], (hi[:, k] - a[:, k]) / d[:, k]
                flat = d[:, k] == 0
                inside = (a[:, k] >= lo[:, k]) & (a[:, k] <= hi[:, k])
                t0 = np.where(flat, np.where(inside, t0, 2.0), np.maximum(t0, np.minimum(ta, tb)))
                t1 = np.where(flat, t1, np.minimum(t1, np.maximum(ta, tb)))
        keep = t0 <= t1
        pieces = np.column_stack([a + t0[:, None] * d, a + t1[:, None] * d])[keep]
        return pieces, edge_ids[keep]


def _block_of(
    px: NDArray[np.integer[Any]],
    py: NDArray[np.integer[Any]],
    qx: NDArray[np.int64],
    qy: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """For pixels (``qx``, ``qy``): the number of the parent (``px``, ``py``) each one is, and
    whether it is one (marks in parents that are not refined drop out).

    A dense table when the parents span a small window, a sorted search otherwise.
    """
    x0, y0 = int(px.min()), int(py.min())
    width, height = int(px.max()) - x0 + 1, int(py.max()) - y0 + 1
    if width * height <= 1 << 22:
        table = np.full(width * height, -1, dtype=np.int64)
        table[(py - y0) * width + (px - x0)] = np.arange(len(px))
        ok = (qx >= x0) & (qx < x0 + width) & (qy >= y0) & (qy < y0 + height)
        found = np.full(len(qx), -1, dtype=np.int64)
        found[ok] = table[(qy[ok] - y0) * width + (qx[ok] - x0)]
        inside = found >= 0
        return found[inside], inside
    key = (py.astype(np.int64) << 32) | px.astype(np.int64)
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    wanted = (qy << 32) | qx
    pos = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
    inside = sorted_keys[pos] == wanted
    return order[pos[inside]], inside


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
