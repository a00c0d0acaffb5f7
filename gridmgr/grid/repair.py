"""Repairing an imported grid: snap away gaps, overlaps and mismatched edges below a tolerance.

Children that poke out of their parent by less than the tolerance are first trimmed to it
(parents win small disagreements). Tier-3 cells are then cleaned as one polygonal coverage with
GEOS's coverage cleaner (``shapely.coverage_clean``), in lon/lat so that cells the repair does not
touch keep their exact coordinates: vertices closer than the tolerance are snapped together,
overlaps go to the neighbour with the longest shared border, and gaps narrower than the tolerance
are merged into a neighbour.
Tier-2 and tier-1 cells are then rebuilt as the union of their children, so nesting holds exactly
(a whole tier at once, so neighbouring parents share vertices; not at all if any parent would move
further than the tolerance).

A change larger than the tolerance (the Hausdorff distance between a cell before and after) is not
a repair. Cleaned cells that touch each other depend on each other, so a refusal applies to the
whole connected group of changed cells around it: they all keep their original geometry and the
validation report still names the defect. Distances are judged with 111,320 m per degree in every
direction, an upper bound of the true distance on the ground, so the tolerance is never exceeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gridmgr.errors import RepairError
from gridmgr.grid.territory import to_metric

DEFAULT_TOLERANCE_M = 0.5
"""Default repair tolerance in metres: digitising noise and slivers, never a real boundary edit."""

_MEASURE_STEP_DEG = 2e-3  # ~200 m: an edge bows < 1 mm between these points
M_PER_DEGREE_MAX = 111_320.0
"""Metres per degree of latitude: at least the ground distance of a degree in any direction."""


@dataclass(frozen=True)
class Change:
    """One cell the repair changed, and by how much."""

    code: str
    tier: int
    moved_m: float
    area_change_m2: float

    def __str__(self) -> str:
        return (
            f"tier {self.tier} {self.code}: boundary moved up to {self.moved_m:.3f} m, "
            f"area changed by {self.area_change_m2:+.2f} m²"
        )


def repair_grid(
    cells: gpd.GeoDataFrame,
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    metric_crs: str = "EPSG:4549",
) -> tuple[gpd.GeoDataFrame, list[Change]]:
    """Cells with small coverage defects snapped away, and the list of cells that changed.

    ``cells`` are in EPSG:4326. Groups of cells whose repair would move a boundary by more than
    ``tolerance_m`` are kept as they were (the caller re-validates and reports them).
    ``metric_crs`` is used only to report how far and by how much area each cell changed.
    """
    if not tolerance_m > 0:
        raise RepairError(f"the repair tolerance must be positive metres, got {tolerance_m}")
    tol_deg = tolerance_m / M_PER_DEGREE_MAX
    out = cells.reset_index(drop=True)
    before = np.asarray(out.geometry.values, dtype=object)
    after = np.asarray(
        shapely.make_valid(before, method="structure", keep_collapsed=False), dtype=object
    )
    tier = out["tier"].to_numpy()
    leaf = np.flatnonzero(tier == 3)
    _clip_to_parents(out, after, tol_deg)
    cleaned = np.asarray(
        shapely.coverage_clean(after[leaf], gap_width=tol_deg, snapping_distance=tol_deg / 10),
        dtype=object,
    )
    after[leaf] = _accept_by_group(before[leaf], cleaned, tol_deg)
    for parent_tier in (2, 1):
        _rebuild_parents(out, after, parent_tier, tol_deg)
    changed = np.flatnonzero(
        ~shapely.equals_exact(shapely.normalize(before), shapely.normalize(after), tolerance=0.0)
    )
    if not changed.size:
        return cells, []
    # densify first: an edge straight in degrees is curved in the metric CRS
    m_before = to_metric(shapely.segmentize(before[changed], _MEASURE_STEP_DEG), metric_crs)
    m_after = to_metric(shapely.segmentize(after[changed], _MEASURE_STEP_DEG), metric_crs)
    changes = [
        Change(
            code=str(out.at[i, "code"]),
            tier=int(tier[i]),
            moved_m=float(shapely.hausdorff_distance(b, a)),
            area_change_m2=float(a.area - b.area),
        )
        for i, b, a in zip(changed, m_before, m_after, strict=True)
    ]
    return out.set_geometry(gpd.GeoSeries(after, crs=out.crs)), changes


def _accept_by_group(
    before: NDArray[np.object_], cleaned: NDArray[np.object_], tol_deg: float
) -> NDArray[np.object_]:
    """``cleaned``, except for connected groups of changed cells of which any moved too far."""
    changed = np.flatnonzero(
        ~shapely.equals_exact(shapely.normalize(before), shapely.normalize(cleaned), 0.0)
    )
    if not changed.size:
        return before
    too_far = shapely.hausdorff_distance(before[changed], cleaned[changed]) > tol_deg
    if not too_far.any():
        return cleaned
    shapes = shapely.union(before[changed], cleaned[changed])
    a, b = shapely.STRtree(shapes).query(shapes, predicate="intersects")
    n = len(changed)
    _, group = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)))
    refused = np.isin(group, group[too_far])
    out = cleaned.copy()
    out[changed[refused]] = before[changed[refused]]
    return out


def _rebuild_parents(
    cells: gpd.GeoDataFrame, geoms: NDArray[np.object_], tier: int, tol_deg: float
) -> None:
    """Rebuild tier-``tier`` cells as the union of their children, if any of them needs it.

    All of the tier is rebuilt together, so the shared edges of neighbouring parents carry the
    same vertices (their children's); a parent whose rebuild would move it further than the
    tolerance keeps its geometry.
    """
    tiers = cells["tier"].to_numpy()
    codes = cells["code"].to_numpy(dtype=object)
    kids_of: dict[str, list[int]] = {}
    for j in np.flatnonzero(tiers == tier + 1):
        kids_of.setdefault(str(cells.at[j, "parent_code"]), []).append(int(j))
    parents = [i for i in np.flatnonzero(tiers == tier) if str(codes[i]) in kids_of]
    rebuilt = {}
    for i in parents:
        kids = geoms[kids_of[str(codes[i])]]
        union = (
            shapely.coverage_union_all(kids)
            if shapely.coverage_is_valid(kids)
            else shapely.union_all(kids)
        )
        rebuilt[i] = union
    if all(shapely.equals(geoms[i], union) for i, union in rebuilt.items()):
        return  # nesting already holds: keep every original vertex
    if all(shapely.hausdorff_distance(geoms[i], u) <= tol_deg for i, u in rebuilt.items()):
        for i, union in rebuilt.items():
            geoms[i] = union
    # otherwise a parent is too far from its children: leave the whole tier for the report


def _clip_to_parents(cells: gpd.GeoDataFrame, geoms: NDArray[np.object_], tol_deg: float) -> None:
    """Trim children that poke out of their parent by less than the tolerance.

    Parents win small disagreements: an overlap across a community border goes back to the
    community that contains it, instead of to whichever neighbour has the longer border.
    """
    row = {str(c): i for i, c in enumerate(cells["code"])}
    for j in np.flatnonzero(cells["tier"].to_numpy() > 1):
        p = row.get(str(cells.at[j, "parent_code"]))
        if p is None or not shapely.is_valid(geoms[p]):
            continue
        if shapely.covers(geoms[p], geoms[j]):
            continue
        clipped = shapely.intersection(geoms[j], geoms[p])
        if (
            shapely.get_type_id(clipped) == 3
            and shapely.hausdorff_distance(geoms[j], clipped) <= tol_deg
        ):
            geoms[j] = clipped
