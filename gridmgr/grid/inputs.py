"""The grid builder's inputs read from files: a boundary, towns, workload points and lines.

Any vector file GDAL reads (GeoJSON, GeoPackage, Shapefile) with a declared CRS is accepted and
reprojected to EPSG:4326; workload points may also be a CSV of ``lon,lat[,weight]`` in WGS84,
and towns the ``towns.json`` list shipped with Jiangyin. Towns given as polygons are fitted to
the boundary by :func:`fit_town_areas` before they become tier-1 cells.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from gridmgr.errors import GridError, GridFileError
from gridmgr.grid.repair import M_PER_DEGREE_MAX
from gridmgr.grid.territory import WGS84, Territory, Town, metric_crs_for
from gridmgr.grid.workload import Workload

_CODE_COLUMNS = ("code", "mca_code", "adcode", "town_code")
_NAME_EN_COLUMNS = ("name_en", "pinyin", "name_pinyin")
_KIND_COLUMNS = ("kind", "type")


def read_vector(path: Path, *, what: str) -> gpd.GeoDataFrame:
    """A vector file's features in EPSG:4326; a clear error for a missing file or CRS."""
    try:
        frame = gpd.read_file(path)
    except (OSError, pyogrio.errors.DataSourceError, ValueError) as exc:
        raise GridFileError(f"cannot read the {what} file {path}: {exc}") from None
    if frame.crs is None:
        raise GridFileError(f"{path} declares no CRS: re-export the {what} with a CRS")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.empty:
        raise GridFileError(f"{path} holds no {what} geometry")
    return frame.to_crs(WGS84)


def read_boundary(path: Path) -> tuple[shapely.Geometry, dict[str, Any]]:
    """The outline (union of every feature, made valid) and the first feature's attributes."""
    frame = read_vector(path, what="boundary")
    geoms = shapely.make_valid(frame.geometry.values)
    outline = shapely.union_all(geoms)
    outline = shapely.union_all([p for p in shapely.get_parts(outline) if p.geom_type == "Polygon"])
    if outline.is_empty:
        raise GridFileError(f"{path}: the boundary has no polygon")
    if outline.geom_type == "MultiPolygon" and len(outline.geoms) == 1:
        outline = outline.geoms[0]
    if outline.geom_type != "Polygon":
        parts = sorted(outline.geoms, key=lambda g: -g.area)
        where = shapely.point_on_surface(parts[1])
        raise GridFileError(
            f"{path}: the boundary is in {len(parts)} separate pieces (one near lon "
            f"{where.x:.5f}, lat {where.y:.5f}); every cell is one piece, so a territory must be "
            "too: join the pieces (an island to the bank it is administered from) in QGIS"
        )
    props = {k: v for k, v in frame.iloc[0].items() if k != frame.geometry.name}
    return outline, props


@dataclass(frozen=True)
class TownsInput:
    """Towns as read: one :class:`Town` each, and their polygons when the file has polygons."""

    towns: tuple[Town, ...]
    areas: tuple[shapely.Geometry, ...] = ()


def read_towns(path: Path, *, county_code: str | None) -> TownsInput:
    """Towns from a vector file of points or polygons, or a ``towns.json`` list.

    Columns: ``code`` (or ``mca_code``; else numbered in reading order after ``county_code``),
    ``name``, ``name_en`` (or ``pinyin``) and ``kind`` (``town`` or ``subdistrict``); polygons
    may carry their town's point in ``approx_lon``/``approx_lat``.
    """
    if path.suffix.lower() == ".json" and _is_plain_list(path):
        raw = json.loads(path.read_text(encoding="utf-8"))
        return TownsInput(tuple(_town_from_record(r, i, county_code) for i, r in enumerate(raw)))
    frame = read_vector(path, what="towns")
    kinds = set(frame.geometry.geom_type)
    if kinds <= {"Point"}:
        xy = shapely.get_coordinates(frame.geometry.values)
        areas: tuple[shapely.Geometry, ...] = ()
    elif kinds <= {"Polygon", "MultiPolygon"}:
        areas = tuple(shapely.make_valid(frame.geometry.values))
        xy = shapely.get_coordinates(shapely.point_on_surface(np.asarray(areas, dtype=object)))
    else:
        raise GridFileError(
            f"{path}: towns must be all points or all polygons, found {sorted(kinds)}"
        )
    if "name" not in {c.lower() for c in frame.columns}:
        raise GridFileError(f"{path}: towns need a 'name' column; it has {list(frame.columns)}")
    records = []
    for i, (row, (lon, lat)) in enumerate(zip(frame.to_dict("records"), xy, strict=True)):
        rec = {k.lower(): v for k, v in row.items() if k != frame.geometry.name}
        for key, value in zip(("approx_lon", "approx_lat"), (lon, lat), strict=True):
            # a polygon town may name its own point (its seat); else its point on surface
            rec[key] = rec[key] if _given(rec.get(key)) else float(value)
        records.append(_town_from_record(rec, i, county_code))
    return TownsInput(tuple(records), areas)


def _is_plain_list(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_text(encoding="utf-8")), list)
    except (OSError, ValueError):
        return False


def _given(value: Any) -> bool:
    return value is not None and value != "" and not (isinstance(value, float) and value != value)


def _town_from_record(rec: dict[str, Any], i: int, county_code: str | None) -> Town:
    code = next((str(rec[c]) for c in _CODE_COLUMNS if _given(rec.get(c))), None)
    if code is None:
        if county_code is None:
            raise GridFileError(
                f"town {rec.get('name', i + 1)!r} has no code: give the towns a 'code' column "
                "or the county with --county-code"
            )
        code = f"{county_code}{i + 1:03d}"
    code = code.split(".")[0]  # a spreadsheet's 320281001.0
    name = str(rec["name"]) if _given(rec.get("name")) else f"第{i + 1:02d}镇"
    name_en = next((str(rec[c]) for c in _NAME_EN_COLUMNS if _given(rec.get(c))), name)
    kind = next((str(rec[c]) for c in _KIND_COLUMNS if _given(rec.get(c))), "town")
    try:
        lon, lat = float(rec["approx_lon"]), float(rec["approx_lat"])
    except (KeyError, TypeError, ValueError):
        raise GridFileError(f"town {name!r} has no approx_lon/approx_lat") from None
    return Town(code=code, name=name, name_en=name_en, kind=kind, lon=lon, lat=lat)


def read_workload(path: Path, *, column: str = "weight") -> tuple[np.ndarray, np.ndarray]:
    """Workload points as ``(lonlat (n, 2), weight (n,))``; no weight column: each weighs 1."""
    if path.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise GridFileError(f"cannot read the weights file {path}: {exc}") from None
        cols = {c.lower(): c for c in frame.columns}
        lon = next((cols[c] for c in ("lon", "lng", "longitude", "x") if c in cols), None)
        lat = next((cols[c] for c in ("lat", "latitude", "y") if c in cols), None)
        if lon is None or lat is None:
            raise GridFileError(f"{path}: a weights CSV needs lon and lat columns (WGS84)")
        xy = frame[[lon, lat]].to_numpy(dtype=float)
    else:
        frame = read_vector(path, what="weights")
        if set(frame.geometry.geom_type) - {"Point"}:
            frame = frame.set_geometry(frame.geometry.representative_point())
        xy = shapely.get_coordinates(frame.geometry.values)
        cols = {c.lower(): c for c in frame.columns}
    if column.lower() in cols:
        weight = pd.to_numeric(frame[cols[column.lower()]], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(weight).all():
            raise GridFileError(f"{path}: column {column!r} must hold numbers on every row")
    else:
        weight = np.ones(len(xy))
    return xy, weight


def workload_in(territory: shapely.Geometry, xy: np.ndarray, weight: np.ndarray) -> Workload:
    """The workload points inside the territory (others are dropped, and must not be all)."""
    inside = shapely.contains_xy(territory, xy[:, 0], xy[:, 1])
    if not inside.any():
        raise GridError(
            "no workload point lies inside the boundary: check that the weights are in lon/lat "
            "(WGS84) and belong to this territory"
        )
    return Workload(xy[inside], weight[inside])


def read_lines(path: Path, territory: shapely.Geometry) -> shapely.Geometry | None:
    """Roads and rivers inside the territory, as one (multi)line; polygons give their outline."""
    frame = read_vector(path, what="lines")
    geoms = frame.geometry.values
    polys = np.isin(shapely.get_type_id(geoms), (3, 6))
    geoms = np.where(polys, shapely.boundary(geoms), geoms)
    lines = shapely.intersection(shapely.line_merge(shapely.union_all(geoms)), territory)
    return None if lines.is_empty else lines


def resolve_metric_crs(crs: str, territory: shapely.Geometry) -> str:
    """``auto``: the CGCS2000 3-degree Gauss-Krüger zone of the centroid; else a checked CRS."""
    if crs.lower() == "auto":
        return metric_crs_for(float(territory.centroid.x))
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise GridError(
            f"unknown CRS {crs!r}: give 'auto' or an EPSG code such as EPSG:4549"
        ) from None
    if not parsed.is_projected:
        raise GridError(f"{crs} is not a projected CRS: areas need metres, e.g. EPSG:4549")
    return crs.upper()


def fit_town_areas(
    outline: shapely.Geometry, areas: Sequence[shapely.Geometry], *, tolerance_m: float
) -> tuple[list[shapely.Geometry], list[str]]:
    """Town polygons clipped to ``outline`` and cleaned into one coverage of it, and the notes.

    Overlaps and gaps narrower than ``tolerance_m`` go to a neighbour (``shapely.coverage_clean``
    in lon/lat, so untouched edges keep their coordinates); parts of the outline no town covers
    are refused unless thinner than the tolerance.
    """
    tol = tolerance_m / M_PER_DEGREE_MAX
    clipped = shapely.intersection(np.asarray(areas, dtype=object), outline)
    notes = []
    for i, geom in enumerate(clipped):
        parts = sorted(
            (p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"), key=lambda p: -p.area
        )
        if not parts:
            raise GridError(f"town polygon {i + 1} lies outside the boundary")
        if len(parts) > 1:
            notes.append(f"town {i + 1}: {len(parts) - 1} detached part(s) given to neighbours")
        clipped[i] = parts[0]
    cleaned = list(shapely.coverage_clean(clipped, gap_width=tol, snapping_distance=tol / 10))
    leftover = shapely.difference(outline, shapely.union_all(cleaned))
    for piece in shapely.get_parts(leftover):
        if piece.area < 1e-14:
            continue
        if not shapely.buffer(piece, -tol / 2).is_empty:
            p = shapely.point_on_surface(piece)
            km2 = piece.area * M_PER_DEGREE_MAX**2 * np.cos(np.radians(p.y)) / 1e6
            raise GridError(
                f"no town covers {km2:.3f} km² of the boundary near lon {p.x:.5f}, lat "
                f"{p.y:.5f}: fix the towns or the boundary, or raise --tolerance"
            )
        border = [shapely.intersection(piece.boundary, c).length for c in cleaned]
        j = int(np.argmax(border))
        cleaned[j] = shapely.union(cleaned[j], piece)
    for i, (before, after) in enumerate(zip(areas, cleaned, strict=True)):
        moved = shapely.hausdorff_distance(before, after) * M_PER_DEGREE_MAX
        if moved > 1e-3:
            notes.append(f"town {i + 1}: border moved up to {moved:.1f} m to fit the boundary")
    return [_largest_polygon(c) for c in cleaned], notes


def _largest_polygon(geom: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]
    if len(parts) == 1:
        return parts[0]
    merged = shapely.union_all(parts)
    if merged.geom_type != "Polygon":
        raise GridError("a town polygon is in several pieces after fitting; fix it in QGIS")
    return merged


def territory_from_files(
    boundary: Path,
    towns: Path | None,
    *,
    crs: str,
    county_code: str | None,
    tolerance_m: float,
) -> tuple[Territory, list[str]]:
    """A :class:`Territory` from a boundary and optional towns file, and the fitting notes."""
    outline, props = read_boundary(boundary)
    county = county_code or _county_from(props)
    found = read_towns(towns, county_code=county) if towns else TownsInput(())
    if county is None and found.towns:
        county = found.towns[0].code[:6]
    if county is None or not (county.isdigit() and len(county) == 6):
        raise GridError(
            f"county code {county!r}: give the 6-digit GB/T 2260 code with --county-code "
            "(or an 'adcode' attribute on the boundary)"
        )
    notes: list[str] = []
    areas: tuple[shapely.Geometry, ...] = ()
    if found.areas:
        fitted, notes = fit_town_areas(outline, found.areas, tolerance_m=tolerance_m)
        areas = tuple(fitted)
        outline = shapely.coverage_union_all(np.asarray(fitted, dtype=object))
    order = np.argsort([t.code for t in found.towns], kind="stable")
    name = str(props.get("name_en") or props.get("name") or boundary.stem)
    return (
        Territory(
            name=name,
            county_code=county,
            polygon=outline,
            towns=tuple(found.towns[i] for i in order),
            metric_crs=resolve_metric_crs(crs, outline),
            source=str(props.get("source") or boundary),
            town_areas=tuple(areas[i] for i in order) if areas else (),
        ),
        notes,
    )


def _county_from(props: dict[str, Any]) -> str | None:
    for key in ("adcode", "county_code", "code"):
        value = props.get(key)
        if _given(value):
            return str(value).split(".")[0]
    return None
