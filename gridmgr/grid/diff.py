"""Comparing two grid generations: cells added, removed, renamed and reshaped, and area moved.

Cells are matched by code. At each tier a cell of the new grid is *added* if its code is new,
a cell of the old one *removed* if its code is gone; a cell kept is *renamed* when its name
changed and *reshaped* when its shape did (by more than ``AREA_TOLERANCE_M2``; the same shape
with other vertices on its edges is not reshaped). The area
*moved* at a tier is the part of the territory whose cell code differs between the two grids:
the total area less the overlaps of same-code cells. Areas are measured in the new grid's
metric CRS.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmgr.grid.model import Grid
from gridmgr.grid.territory import WGS84, to_metric

AREA_TOLERANCE_M2 = 1.0
"""A shape whose symmetric difference with the old one is smaller than this is unchanged."""

_MEASURE_STEP_DEG = (
    2e-3  # densify before projecting: an edge straight in degrees is curved in metres
)


class Change(enum.StrEnum):
    """What happened to one cell between two generations."""

    ADDED = "added"
    REMOVED = "removed"
    RENAMED = "renamed"
    RESHAPED = "reshaped"
    RENAMED_RESHAPED = "renamed+reshaped"


@dataclass(frozen=True)
class TierDiff:
    """The changes at one tier: counts of each change, and the area that changed cell."""

    tier: int
    added: int
    removed: int
    renamed: int
    reshaped: int
    unchanged: int
    area_moved_m2: float
    area_total_m2: float

    @property
    def area_moved_pct(self) -> float:
        """The area moved as a percentage of the territory."""
        return 100 * self.area_moved_m2 / self.area_total_m2 if self.area_total_m2 else 0.0


@dataclass(frozen=True)
class GridDiff:
    """Every changed cell (``changes``: a GeoDataFrame in EPSG:4326) and a summary per tier."""

    old_id: str
    new_id: str
    tiers: tuple[TierDiff, ...]
    changes: gpd.GeoDataFrame

    @property
    def is_empty(self) -> bool:
        """Whether the two generations have the same cells, names and shapes."""
        return bool(self.changes.empty)


def diff_grids(old: Grid, new: Grid) -> GridDiff:
    """The differences between ``old`` and ``new``, cell by cell and tier by tier."""
    crs = new.meta.metric_crs
    tiers = []
    frames = []
    for tier in (1, 2, 3):
        summary, frame = _diff_tier(old.tier(tier), new.tier(tier), tier, crs)
        tiers.append(summary)
        frames.append(frame)
    changes = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)
    return GridDiff(old.generation_id, new.generation_id, tuple(tiers), changes)


def _diff_tier(
    old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, tier: int, crs: str
) -> tuple[TierDiff, pd.DataFrame]:
    a = old.set_index("code")
    b = new.set_index("code")
    kept = a.index.intersection(b.index)
    ga = _metric(a.geometry.reindex(kept).values, crs)
    gb = _metric(b.geometry.reindex(kept).values, crs)
    overlap = shapely.area(shapely.intersection(ga, gb))
    sym = shapely.area(ga) + shapely.area(gb) - 2 * overlap
    same = shapely.equals(a.geometry.reindex(kept).values, b.geometry.reindex(kept).values)
    reshaped = (sym > AREA_TOLERANCE_M2) & ~same
    renamed = a["name"].reindex(kept).to_numpy() != b["name"].reindex(kept).to_numpy()
    total = float(shapely.area(_metric(new.geometry.values, crs)).sum())
    rows = []
    for code in sorted(b.index.difference(a.index)):
        rows.append(
            _row(tier, code, Change.ADDED, None, b.at[code, "name"], b.at[code, "geometry"])
        )
    for code in sorted(a.index.difference(b.index)):
        rows.append(
            _row(tier, code, Change.REMOVED, a.at[code, "name"], None, a.at[code, "geometry"])
        )
    for i in np.flatnonzero(reshaped | renamed):
        code = kept[i]
        kind = (
            Change.RENAMED_RESHAPED
            if reshaped[i] and renamed[i]
            else Change.RESHAPED
            if reshaped[i]
            else Change.RENAMED
        )
        moved = shapely.symmetric_difference(a.at[code, "geometry"], b.at[code, "geometry"])
        row = _row(tier, code, kind, a.at[code, "name"], b.at[code, "name"], moved)
        row["area_moved_m2"] = float(sym[i])
        row["area_moved_pct"] = 100 * float(sym[i]) / max(float(shapely.area(ga[i])), 1e-9)
        rows.append(row)
    for row in rows:
        if row["change"] in (Change.ADDED, Change.REMOVED):
            row["area_moved_m2"] = float(shapely.area(_metric(row["geometry"], crs)))
            row["area_moved_pct"] = 100.0
    summary = TierDiff(
        tier=tier,
        added=len(b.index.difference(a.index)),
        removed=len(a.index.difference(b.index)),
        renamed=int(renamed.sum()),
        reshaped=int(reshaped.sum()),
        unchanged=int((~reshaped & ~renamed).sum()),
        area_moved_m2=max(total - float(overlap.sum()), 0.0),
        area_total_m2=total,
    )
    columns = ["tier", "code", "change", "old_name", "new_name", "area_moved_m2", "area_moved_pct"]
    frame = pd.DataFrame(rows, columns=[*columns, "geometry"])
    frame["change"] = frame["change"].astype(str)
    return summary, frame


def _metric(geoms: object, crs: str) -> np.ndarray:
    dense = shapely.segmentize(np.asarray(geoms, dtype=object), _MEASURE_STEP_DEG)
    return np.asarray(to_metric(dense, crs), dtype=object)


def _row(
    tier: int,
    code: str,
    change: Change,
    old_name: object,
    new_name: object,
    geom: shapely.Geometry,
) -> dict[str, object]:
    return {
        "tier": tier,
        "code": str(code),
        "change": change,
        "old_name": old_name,
        "new_name": new_name,
        "geometry": geom,
    }


@dataclass(frozen=True)
class Rehoming:
    """Where located things (cases, posts) of the old grid stand in the new one."""

    code: str
    """The tier-3 code it was located in."""
    new_code: str | None
    """The tier-3 cell of the new grid at its location (``None``: outside the new grid)."""
    cell_gone: bool
    """Its cell no longer exists in the new grid: flag it, suggesting ``new_code``."""

    @property
    def changes_cell(self) -> bool:
        """Whether the new grid puts it in another cell than the one it was located in."""
        return self.new_code != self.code


def rehome_points(
    new: Grid, codes: list[str], lon: list[float], lat: list[float]
) -> list[Rehoming]:
    """For points located in cells ``codes`` of an old grid: their cell in ``new``."""
    if not codes:
        return []
    located = new.points_to_cells(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    known = set(new.codes(3))
    return [
        Rehoming(code=c, new_code=n, cell_gone=c not in known)
        for c, n in zip(codes, located["tier3"], strict=True)
    ]
