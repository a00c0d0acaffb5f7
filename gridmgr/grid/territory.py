"""The territory under management: its outline, its county code and its real towns.

Values only; :func:`gridmgr.grid.io.read_territory` reads them from ``data/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

from gridmgr.errors import CoordinateError

WGS84 = "EPSG:4326"
"""The exchange CRS: everything gridmgr stores and serves is longitude/latitude on WGS84."""

JIANGYIN_METRIC_CRS = "EPSG:4549"
"""CGCS2000 / 3-degree Gauss-Kruger CM 120E: Jiangyin sits on 120 E, scale error < 0.005 %."""

_GK3_FIRST_EPSG = 4534  # CGCS2000 / 3-degree Gauss-Kruger CM 75E; CM 78E is 4535 ... CM 135E 4554
_GK3_FIRST_CM, _GK3_LAST_CM = 75, 135


def metric_crs_for(lon: float) -> str:
    """The CGCS2000 3-degree Gauss-Krüger CRS whose central meridian is nearest ``lon``.

    These are the "CM" variants (EPSG:4534 CM 75E to EPSG:4554 CM 135E), whose false easting
    carries no zone prefix; within 1.5 degrees of the central meridian the scale error stays
    below 0.03 %.

    >>> metric_crs_for(120.3), metric_crs_for(104.1), metric_crs_for(87.6)
    ('EPSG:4549', 'EPSG:4544', 'EPSG:4538')
    """
    if not 73.5 <= lon <= 136.5:
        raise CoordinateError(
            f"longitude {lon} is outside China's 3-degree Gauss-Kruger zones (73.5-136.5 E): "
            "give the metric CRS with --crs EPSG:XXXX"
        )
    cm = min(max(3 * round(lon / 3), _GK3_FIRST_CM), _GK3_LAST_CM)
    return f"EPSG:{_GK3_FIRST_EPSG + (cm - _GK3_FIRST_CM) // 3}"


@dataclass(frozen=True)
class Town:
    """A real tier-1 unit (镇 town or 街道 subdistrict) used to name and seed a tier-1 cell."""

    code: str
    name: str
    name_en: str
    kind: str
    lon: float
    lat: float

    @property
    def short_name(self) -> str:
        """The name without its 街道/镇 suffix, used to name synthetic communities.

        >>> Town("320281001", "澄江街道", "Chengjiang Jiedao", "subdistrict", 0, 0).short_name
        '澄江'
        """
        for suffix in ("街道", "镇", "乡"):
            if self.name.endswith(suffix) and len(self.name) > len(suffix):
                return self.name[: -len(suffix)]
        return self.name

    @property
    def short_name_en(self) -> str:
        """The pinyin name without its Jiedao/Zhen suffix.

        >>> Town("320281101", "璜土镇", "Huangtu Zhen", "town", 0, 0).short_name_en
        'Huangtu'
        """
        return self.name_en.rsplit(" ", 1)[0] if " " in self.name_en else self.name_en


@dataclass(frozen=True)
class Territory:
    """The area under management, in EPSG:4326, with its county code and its towns.

    ``town_areas`` holds the towns' own polygons when they are known (one per town, in the
    order of ``towns``): they then become the tier-1 cells as given.
    """

    name: str
    county_code: str
    polygon: shapely.Polygon
    towns: tuple[Town, ...]
    metric_crs: str = JIANGYIN_METRIC_CRS
    source: str = ""
    town_areas: tuple[shapely.Polygon, ...] = ()

    @property
    def __geo_interface__(self) -> dict[str, object]:
        return dict(shapely.geometry.mapping(self.polygon))

    def towns_outside_own_area(self) -> list[str]:
        """Names of towns whose point lies outside their own polygon (none if none are known)."""
        return [
            town.name
            for town, area in zip(self.towns, self.town_areas, strict=False)
            if not shapely.intersects_xy(area, town.lon, town.lat)
        ]

    def area_km2(self) -> float:
        """Area in the metric CRS, in square kilometres."""
        return float(to_metric(self.polygon, self.metric_crs).area / 1e6)


@cache
def _transformer(src: str, dst: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def _transform_fn(src: str, dst: str) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    tr = _transformer(src, dst)

    def fn(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return fn


def to_metric(geoms: shapely.Geometry | NDArray[np.object_], crs: str) -> shapely.Geometry:
    """Reproject shapely geometries from EPSG:4326 to the metric ``crs``."""
    return shapely.transform(geoms, _transform_fn(WGS84, crs))


def to_wgs84(geoms: shapely.Geometry | NDArray[np.object_], crs: str) -> shapely.Geometry:
    """Reproject shapely geometries from ``crs`` to EPSG:4326 (equal input vertices stay equal)."""
    return shapely.transform(geoms, _transform_fn(crs, WGS84))
