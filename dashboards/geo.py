"""The grid's static geometry for the map: built once per grid generation, sent once.

Each tier becomes one GeoJSON FeatureCollection (feature ``id`` and ``properties.code`` = the
cell code, plus ``name``), simplified as a *coverage* (``shapely.coverage_simplify`` keeps shared
edges shared, so simplifying never opens a gap or an overlap) and rounded to 1e-5° (~1 m; a
shared vertex rounds the same on both sides). The browser fetches it from a URL that names the
generation, so it can be cached for good; live updates then only change values.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import shapely

from dashboards.figures import Outline
from gridmgr.grid.model import Grid

SIMPLIFY_DEG = 0.0002
"""Coverage simplification tolerance (~20 m): invisible at city zoom."""
DECIMALS = 5


@dataclass(frozen=True)
class TierGeometry:
    """One tier's map geometry: the GeoJSON bytes (plain and gzipped) and per-cell anchors."""

    tier: int
    codes: tuple[str, ...]
    geojson: bytes
    gzipped: bytes
    centers: dict[str, tuple[float, float]]
    """A point inside each cell (``shapely.point_on_surface``), for labels and zooming."""
    bounds: dict[str, tuple[float, float, float, float]]


@dataclass
class MapGeometry:
    """Every tier's map geometry for one grid generation (built lazily, then immutable)."""

    grid: Grid
    _tiers: dict[int, TierGeometry] = field(default_factory=dict, repr=False)
    _features: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def generation(self) -> str:
        """The grid generation this geometry belongs to (part of its URLs)."""
        return self.grid.generation_id

    def tier(self, tier: int) -> TierGeometry:
        """The geometry of ``tier`` (1, 2 or 3)."""
        if tier not in self._tiers:
            self._tiers[tier] = build_tier(self.grid, tier)
        return self._tiers[tier]

    def url(self, tier: int, prefix: str) -> str:
        """Where the browser fetches ``tier``'s GeoJSON (one URL per generation: cacheable)."""
        return f"{prefix}geo/{self.generation}/tier{tier}.json"

    def subset(self, tier: int, codes: Iterable[str]) -> dict[str, Any]:
        """A FeatureCollection of ``codes`` only (of ``tier``), for a map that draws a few
        cells: the browser then parses those, not the whole tier (the city's 1,557 cells are
        0.5 MB of JSON, ≈ 35 ms of Chromium's main thread in Plotly on each page)."""
        if tier not in self._features:
            whole = json.loads(self.tier(tier).geojson)
            self._features[tier] = {f["properties"]["code"]: f for f in whole["features"]}
        features = self._features[tier]
        return {"type": "FeatureCollection", "features": [features[c] for c in codes]}

    def outline(self, prefix: str) -> Outline:
        """The town borders to draw over a map."""
        return Outline(self.url(1, prefix), self.tier(1).codes)

    @cached_property
    def territory_bounds(self) -> tuple[float, float, float, float]:
        """The territory's lon/lat bounds."""
        minx, miny, maxx, maxy = self.grid.tier(1).total_bounds
        return float(minx), float(miny), float(maxx), float(maxy)


def build_tier(grid: Grid, tier: int) -> TierGeometry:
    """Simplify and serialize one tier of ``grid`` (see the module docstring)."""
    cells = grid.tier(tier)
    geoms = shapely.coverage_simplify(cells.geometry.values, SIMPLIFY_DEG)
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, DECIMALS))
    codes = tuple(str(c) for c in cells["code"])
    names = [str(n) for n in cells["name"]]
    features = [
        {
            "type": "Feature",
            "id": code,
            "properties": {"code": code, "name": name},
            "geometry": json.loads(shapely.to_geojson(geom)),
        }
        for code, name, geom in zip(codes, names, geoms, strict=True)
    ]
    body = json.dumps(
        {"type": "FeatureCollection", "features": features},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    inside = shapely.point_on_surface(cells.geometry.values)
    centers = {
        code: (round(float(p.x), DECIMALS), round(float(p.y), DECIMALS))
        for code, p in zip(codes, inside, strict=True)
    }
    bounds = {
        code: tuple(float(v) for v in b)
        for code, b in zip(codes, shapely.bounds(cells.geometry.values), strict=True)
    }
    return TierGeometry(
        tier=tier,
        codes=codes,
        geojson=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        centers=centers,
        bounds=bounds,  # type: ignore[arg-type]
    )


def zoom_for(
    bounds: tuple[float, float, float, float], *, width_px: int = 900, height_px: int = 600
) -> float:
    """A MapLibre zoom (512-px world) that fits ``bounds`` (lon/lat) into the given pixels.

    >>> round(zoom_for((120.0, 31.6, 120.6, 32.0)), 1)
    9.8
    """
    minx, miny, maxx, maxy = bounds
    lat = np.radians((miny + maxy) / 2)
    width = max(maxx - minx, 1e-4)
    height = max((maxy - miny) / max(np.cos(lat), 0.1), 1e-4)  # in equatorial degrees
    zoom = min(np.log2(width_px * 360 / (512 * width)), np.log2(height_px * 360 / (512 * height)))
    return float(np.clip(zoom, 3, 17))
