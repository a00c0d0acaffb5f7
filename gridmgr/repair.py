"""Repairing an imported grid: snap away gaps, overlaps and mismatched edges below a tolerance.

Tier-3 cells are cleaned as one polygonal coverage with GEOS's coverage cleaner
(``shapely.coverage_clean``) in the grid's metric CRS: vertices closer than the tolerance are
snapped together, overlaps go to the neighbour with the longest shared border, and gaps narrower
than the tolerance are merged into a neighbour. Tier-2 and tier-1 cells are then rebuilt as the
union of their children, so nesting holds exactly. A change larger than the tolerance (measured as
the Hausdorff distance between a cell before and after) is not a repair: the cell is left as it was
and the validation report still names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from gridmgr.errors import RepairError
from gridmgr.territory import to_metric, to_wgs84

DEFAULT_TOLERANCE_M = 0.5
"""Default repair tolerance in metres: digitising noise and slivers, never a real boundary edit."""


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

    Cells whose repair would move their boundary by more than ``tolerance_m`` are kept as they
    were (the caller re-validates and reports them).
    """
    if tolerance_m <= 0:
        raise RepairError(f"the repair tolerance must be positive metres, got {tolerance_m}")
    out = cells.copy().reset_index(drop=True)
    geoms = np.asarray(out.geometry.values, dtype=object)
    metric = np.asarray(
        to_metric(shapely.make_valid(geoms, method="structure", keep_collapsed=False), metric_crs),
        dtype=object,
    )
    leaf = np.flatnonzero((out["tier"] == 3).to_numpy())
    cleaned = shapely.coverage_clean(
        metric[leaf], gap_width=tolerance_m, snapping_distance=tolerance_m / 10
    )
    moved = shapely.hausdorff_distance(metric[leaf], cleaned)
    ok = moved <= tolerance_m
    metric[leaf[ok]] = cleaned[ok]
    rows_by_parent: dict[str, list[int]] = {}
    for j, parent in enumerate(out["parent_code"]):
        rows_by_parent.setdefault(str(parent), []).append(j)
    for tier in (2, 1):
        for i in np.flatnonzero((out["tier"] == tier).to_numpy()):
            kids = [
                j
                for j in rows_by_parent.get(str(out.at[i, "code"]), [])
                if out.at[j, "tier"] == tier + 1
            ]
            if not kids:
                continue
            rebuilt = shapely.coverage_union_all(metric[kids])
            if shapely.hausdorff_distance(metric[i], rebuilt) <= tolerance_m:
                metric[i] = rebuilt
    before = np.asarray(to_metric(geoms, metric_crs), dtype=object)
    changed = ~shapely.equals_exact(
        shapely.normalize(before), shapely.normalize(metric), tolerance=0.0
    )
    changes = [
        Change(
            code=str(out.at[i, "code"]),
            tier=int(out.at[i, "tier"]),
            moved_m=float(shapely.hausdorff_distance(before[i], metric[i])),
            area_change_m2=float(metric[i].area - before[i].area),
        )
        for i in np.flatnonzero(changed)
    ]
    if changes:  # map every cell back, so vertices shared with unchanged cells stay identical
        out = out.set_geometry(gpd.GeoSeries(to_wgs84(metric, metric_crs), crs=out.crs))
    return out, changes
