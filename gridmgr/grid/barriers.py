"""Barriers: roads and rivers that cell borders should follow where they can.

A grid worker walks a block, not a half-block: a border that crosses a busy road or a river
splits what is one place on the ground. The builder therefore cuts each parent cell into
*blocks* along the barrier lines (``shapely.polygonize`` of the parent's outline and the lines
inside it). Blocks of at least ``ATOMIC_SHARE`` of the target cell area share the parent's
children out between them and are split on their own, so the borders between them lie on the
lines; smaller blocks go whole to the neighbouring cell with which they share the longest
border. Where that cannot keep every cell in one piece (or there are more large blocks than
children), the parent's plain Voronoi split is redrawn instead: small blocks go whole to the
cell holding most of them (:func:`cells_following_lines`).
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

from gridmgr.grid.model import Grid
from gridmgr.grid.territory import to_metric

ATOMIC_SHARE = 0.6
"""A block smaller than this share of the target cell area goes whole to one cell."""

MIN_SHARE = 0.1
"""A redrawn cell below this share of the mean area is a sliver: keep the plain split."""


def lines_within(lines: shapely.Geometry | None, poly: shapely.Geometry) -> shapely.Geometry | None:
    """The part of ``lines`` inside ``poly`` (``None`` when nothing is left)."""
    if lines is None or lines.is_empty:
        return None
    inside = shapely.intersection(lines, poly)
    return None if inside.is_empty or inside.length == 0 else inside


def blocks_of(poly: shapely.Geometry, lines: shapely.Geometry | None) -> NDArray[np.object_]:
    """``poly`` cut along ``lines`` into blocks that cover it (dangling lines cut nothing).

    Coordinates are in metres (the builder's plane).
    """
    inside = lines_within(lines, poly)
    if inside is None:
        return np.array([poly], dtype=object)
    noded = shapely.union_all([shapely.boundary(poly), inside])
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    # polygonize also closes rings around holes: keep only the faces inside the polygon
    faces = faces[shapely.within(shapely.point_on_surface(faces), poly)]
    if not len(faces):
        return np.array([poly], dtype=object)
    # polygonize drops the faces of rings it finds invalid: what they covered is a block too
    # (the difference's hairline noise, well below a square metre, is not)
    missing = shapely.difference(poly, shapely.union_all(faces))
    extra = [p for p in shapely.get_parts(missing) if p.geom_type == "Polygon" and p.area > 1.0]
    return np.asarray([*faces, *extra], dtype=object)


def split_blocks(
    poly: shapely.Geometry, lines: shapely.Geometry | None, k: int
) -> tuple[list[shapely.Geometry], list[shapely.Geometry]] | None:
    """The large and the small blocks of ``poly`` cut along ``lines`` for ``k`` children.

    ``None`` when the lines cut nothing, or cut more large blocks than there are children.
    """
    blocks = blocks_of(poly, lines)
    if len(blocks) < 2:
        return None
    large = shapely.area(blocks) >= ATOMIC_SHARE * poly.area / k
    if not large.any() or large.sum() > k:
        return None
    return list(blocks[large]), list(blocks[~large])


def attach_blocks(
    cells: list[shapely.Geometry], small: list[shapely.Geometry]
) -> list[shapely.Geometry] | None:
    """``cells`` grown by the ``small`` blocks, each whole to its longest-bordering neighbour.

    Blocks that touch no cell yet wait for a neighbour to grow; ``None`` if some never touch one
    or a cell would fall apart.
    """
    out = list(cells)
    waiting = list(small)
    while waiting:
        left = []
        for block in waiting:
            border = [shapely.intersection(block.boundary, c).length for c in out]
            j = int(np.argmax(border))
            if border[j] <= 0:
                left.append(block)
                continue
            out[j] = shapely.union(out[j], block)
        if len(left) == len(waiting):
            return None
        waiting = left
    polys = [_one_polygon(c) for c in out]
    if any(c is None for c in polys):
        return None
    kept = [c for c in polys if c is not None]
    return kept if _none_tiny(kept) else None


def _none_tiny(cells: list[shapely.Geometry]) -> bool:
    """Whether every cell has at least ``MIN_SHARE`` of the mean area (no sliver cell)."""
    areas = shapely.area(np.asarray(cells, dtype=object))
    return bool(areas.min() >= MIN_SHARE * areas.mean())


def cells_following_lines(
    poly: shapely.Geometry,
    cells: list[shapely.Geometry],
    lines: shapely.Geometry | None,
    *,
    atomic_share: float = ATOMIC_SHARE,
) -> list[shapely.Geometry]:
    """``cells`` (a partition of ``poly``) redrawn so that borders follow ``lines`` where they can.

    Every block smaller than ``atomic_share`` of the mean cell area goes whole to the cell with
    which it overlaps most; larger blocks keep the cells' own borders inside them. A cell that
    loses everything keeps the piece of its largest block around its point on surface, so no
    cell disappears.
    """
    if len(cells) < 2:
        return cells
    blocks = blocks_of(poly, lines)
    if len(blocks) < 2:
        return cells
    target = poly.area / len(cells)
    cell_arr = np.asarray(cells, dtype=object)
    pieces: list[list[shapely.Geometry]] = [[] for _ in cells]
    small = shapely.area(blocks) < atomic_share * target
    for block, is_small in zip(blocks, small, strict=True):
        overlap = shapely.area(shapely.intersection(cell_arr, block))
        if is_small:
            pieces[int(np.argmax(overlap))].append(block)
            continue
        for i in np.flatnonzero(overlap > 0):
            pieces[i].append(shapely.intersection(cell_arr[i], block))
    if any(not p for p in pieces):
        return cells  # a cell would vanish: keep the plain Voronoi split of this parent
    out = [_one_polygon(shapely.union_all(p)) for p in pieces]
    if any(c is None for c in out):
        return cells  # a cell would fall apart: keep the plain Voronoi split of this parent
    kept = [c for c in out if c is not None]
    return kept if _none_tiny(kept) else cells


def _one_polygon(geom: shapely.Geometry) -> shapely.Geometry | None:
    """``geom`` if it is one polygon, else ``None``."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0]
    return parts[0] if len(parts) == 1 and len(shapely.get_parts(geom)) == 1 else None


def share_on_lines(
    cells: NDArray[np.object_], lines: shapely.Geometry | None, *, within: float
) -> float:
    """Share of the inner border length of ``cells`` lying within ``within`` of ``lines``."""
    if lines is None or not len(cells):
        return 0.0
    outer = shapely.boundary(shapely.union_all(cells))
    borders = shapely.difference(shapely.union_all(shapely.boundary(cells)), outer.buffer(within))
    total = borders.length
    if total == 0:
        return 0.0
    return float(shapely.intersection(borders, shapely.buffer(lines, within)).length / total)


def lines_followed(
    grid: Grid, lines: shapely.Geometry, *, within_m: float = 5.0
) -> dict[int, float]:
    """Share of each tier's inner border length within ``within_m`` metres of ``lines``."""
    crs = grid.meta.metric_crs
    metric_lines = to_metric(shapely.segmentize(lines, 1e-3), crs)
    return {
        tier: share_on_lines(
            np.asarray(to_metric(grid.tier(tier).geometry.values, crs), dtype=object),
            metric_lines,
            within=within_m,
        )
        for tier in (1, 2, 3)
    }
