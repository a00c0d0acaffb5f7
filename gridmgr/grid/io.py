"""Grid and territory files: GeoPackage, GeoJSON (RFC 7946) and Shapefile, read and written.

A grid file is either three layers ``tier1``, ``tier2``, ``tier3`` (a GeoPackage, or a folder of
``tier1.*``/``tier2.*``/``tier3.*`` files) or one layer with a ``tier`` column. Every layer needs a
``code`` and a ``parent_code`` column (Shapefile's truncated ``parent_cod`` and plain ``parent`` are
accepted) and a declared CRS; any CRS is reprojected to EPSG:4326. ``name`` and ``name_en`` are
optional. The GeoPackage written here also carries a ``gridmgr_meta`` table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj
import shapely

from gridmgr.errors import GridError, GridFileError
from gridmgr.grid.model import CELL_COLUMNS, Grid, GridMeta, tier_counts
from gridmgr.grid.territory import WGS84, Territory, Town
from gridmgr.shipped import shipped_data_dir

META_LAYER = "gridmgr_meta"
TIER_LAYERS = {1: "tier1", 2: "tier2", 3: "tier3"}
_PARENT_ALIASES = ("parent_code", "parent_cod", "parent", "parentcode")
_VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp")


def default_grid_path() -> Path:
    """The shipped default grid (Jiangyin, 17 / 271 / 1557)."""
    return shipped_data_dir() / "jiangyin" / "grid.gpkg"


def read_territory(folder: Path | None = None, *, shipped_seeds: bool = False) -> Territory:
    """Read ``boundary.geojson`` and ``towns.json`` from a territory folder (default: Jiangyin).

    ``shipped_seeds`` puts each town at the point the shipped grid was seeded with where that
    differs (``shipped_grid_seed``: a point corrected since), to rebuild the shipped generation.
    """
    folder = folder or shipped_data_dir() / "jiangyin"
    try:
        outline = gpd.read_file(folder / "boundary.geojson")
        towns_raw = json.loads((folder / "towns.json").read_text(encoding="utf-8"))
    except (OSError, pyogrio.errors.DataSourceError, ValueError) as exc:
        raise GridFileError(f"cannot read territory from {folder}: {exc}") from None
    if outline.crs is None:
        raise GridFileError(f"{folder / 'boundary.geojson'} declares no CRS")
    outline = outline.to_crs(WGS84)
    polygon = shapely.union_all(outline.geometry.values)
    if polygon.geom_type == "MultiPolygon" and len(polygon.geoms) == 1:
        polygon = polygon.geoms[0]
    props = outline.iloc[0]
    county = str(props.get("adcode", "320281"))
    towns = tuple(
        Town(
            code=str(t["mca_code"]),
            name=t["name"],
            name_en=t.get("pinyin", t["name"]),
            kind=t.get("type", "town"),
            lon=float(t["shipped_grid_seed"][0] if seeded else t["approx_lon"]),
            lat=float(t["shipped_grid_seed"][1] if seeded else t["approx_lat"]),
        )
        for t in sorted(towns_raw, key=lambda t: str(t["mca_code"]))
        for seeded in [shipped_seeds and "shipped_grid_seed" in t]
    )
    return Territory(
        name=str(props.get("name_en", props.get("name", folder.name))),
        county_code=county,
        polygon=polygon,
        towns=towns,
        source=str(props.get("source", folder)),
    )


# -- reading grids ----------------------------------------------------------------------------


@dataclass
class GridSource:
    """A grid file as read, before validation: its cells in EPSG:4326 and what was noticed."""

    path: Path
    cells: gpd.GeoDataFrame
    meta: dict[str, str] = field(default_factory=dict)
    crs_problems: list[str] = field(default_factory=list)


def read_grid_source(path: Path, *, crs: str | None = None) -> GridSource:
    """Read a grid file (any supported layout) into one cells table in EPSG:4326.

    ``crs`` declares the CRS for layers that carry none; a layer that declares one is reprojected
    from it. Problems with the CRS are collected in ``crs_problems`` for the validation report.
    """
    path = Path(path)
    if not path.exists():
        raise GridFileError(f"{path} does not exist")
    if crs is not None:
        try:
            pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError:
            raise GridError(
                f"unknown CRS {crs!r}: give an EPSG code such as EPSG:4326 or EPSG:4549"
            ) from None
    layers = _tier_layers(path)
    problems: list[str] = []
    frames = []
    for tier, (src, layer) in layers.items():
        frame = _read_layer(src, layer)
        frame = _normalize_columns(frame, src, layer, tier)
        frames.append(_to_wgs84(frame, f"{src.name}:{layer or ''}", crs, problems))
    cells = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)
    meta: dict[str, str] = {}
    if path.suffix.lower() == ".gpkg" and META_LAYER in _layer_names(path):
        table = pyogrio.read_dataframe(path, layer=META_LAYER, read_geometry=False)
        meta = dict(zip(table["key"].astype(str), table["value"].astype(str), strict=True))
    return GridSource(path=path, cells=cells, meta=meta, crs_problems=problems)


def _layer_names(path: Path) -> list[str]:
    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except pyogrio.errors.DataSourceError as exc:
        raise GridFileError(f"cannot open {path} as a vector file: {exc}") from None


def _tier_layers(path: Path) -> dict[int | None, tuple[Path, str | None]]:
    """Where each tier's cells are: ``{tier: (file, layer)}``, or ``{None: ...}`` for one layer."""
    if path.is_dir():
        found: dict[int | None, tuple[Path, str | None]] = {}
        for tier, stem in TIER_LAYERS.items():
            files = [
                p
                for p in sorted(path.iterdir())
                if p.stem == stem and p.suffix.lower() in _VECTOR_SUFFIXES
            ]
            if files:
                found[tier] = (files[0], None)
        if len(found) != 3:
            raise GridFileError(
                f"folder {path} must hold tier1, tier2 and tier3 files (.gpkg/.geojson/.shp); "
                f"found {sorted(TIER_LAYERS[t] for t in found if t) or 'none'}"
            )
        return found
    names = _layer_names(path)
    if all(TIER_LAYERS[t] in names for t in (1, 2, 3)):
        return {t: (path, TIER_LAYERS[t]) for t in (1, 2, 3)}
    cell_layers = [n for n in names if n != META_LAYER]
    if len(cell_layers) == 1:
        return {None: (path, cell_layers[0])}
    raise GridFileError(
        f"{path} has layers {names}: expected layers tier1, tier2, tier3, or a single layer "
        "with a 'tier' column"
    )


def _read_layer(src: Path, layer: str | None) -> gpd.GeoDataFrame:
    try:
        return gpd.read_file(src, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise GridFileError(f"cannot read {src} layer {layer}: {exc}") from None


def _normalize_columns(
    frame: gpd.GeoDataFrame, src: Path, layer: str | None, tier: int | None
) -> gpd.GeoDataFrame:
    where = f"{src.name}" + (f" layer {layer}" if layer else "")
    cols = {c.lower(): c for c in frame.columns}
    parent = next((cols[a] for a in _PARENT_ALIASES if a in cols), None)
    missing = [n for n, c in (("code", cols.get("code")), ("parent_code", parent)) if c is None]
    if tier is None and "tier" not in cols:
        missing.append("tier")
    if missing:
        raise GridFileError(
            f"{where} lacks column(s) {', '.join(missing)}; it has {list(frame.columns)}. "
            "Each cell needs code, parent_code (and tier, in a single-layer file)"
        )
    out = pd.DataFrame(
        {
            "code": _as_code_strings(frame[cols["code"]]),
            "parent_code": _as_code_strings(frame[parent]),
            "tier": frame[cols["tier"]] if tier is None else tier,
            "name": frame[cols["name"]] if "name" in cols else None,
            "name_en": frame[cols["name_en"]] if "name_en" in cols else None,
        }
    )
    try:
        out["tier"] = pd.to_numeric(out["tier"]).astype("int64")
    except (ValueError, TypeError):
        raise GridFileError(f"{where}: column 'tier' must hold 1, 2 or 3") from None
    out["name"] = out["name"].astype(object).where(out["name"].notna(), None)
    out["name_en"] = out["name_en"].astype(object).where(out["name_en"].notna(), None)
    return gpd.GeoDataFrame(out, geometry=frame.geometry.values, crs=frame.crs)


def _as_code_strings(values: pd.Series) -> pd.Series:
    """Codes as strings; integer codes (as spreadsheets write them) become digit strings."""

    def one(v: Any) -> Any:
        if v is None or (isinstance(v, float) and v != v):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    return values.astype(object).map(one)


def _to_wgs84(
    frame: gpd.GeoDataFrame, where: str, declared: str | None, problems: list[str]
) -> gpd.GeoDataFrame:
    if frame.crs is None:
        if declared is None:
            problems.append(
                f"{where} declares no CRS: re-export it with a CRS, or pass --crs EPSG:XXXX"
            )
            return frame.set_crs(WGS84, allow_override=True)  # unchecked: validation stops at CRS
        frame = frame.set_crs(declared)
    elif declared is not None and not frame.crs.equals(declared):
        problems.append(f"{where} declares {frame.crs.to_string()} but --crs says {declared}")
    frame = frame.to_crs(WGS84)
    b = frame.total_bounds
    if len(frame) and not (-180 <= b[0] <= b[2] <= 180 and -90 <= b[1] <= b[3] <= 90):
        problems.append(
            f"{where}: coordinates {b.round(1).tolist()} are not longitude/latitude after "
            "reprojection to EPSG:4326; the declared CRS is probably wrong"
        )
    return frame


def read_grid(
    path: Path | None = None,
    *,
    crs: str | None = None,
    max_cell_vertices: int | None = None,
    max_total_vertices: int | None = None,
) -> Grid:
    """Read and validate a grid file; raise :class:`InvalidGridError` with the report if invalid.

    The vertex limits default to those of :mod:`gridmgr.grid.validate`.
    """
    return grid_from_source(
        read_grid_source(path or default_grid_path(), crs=crs),
        max_cell_vertices=max_cell_vertices,
        max_total_vertices=max_total_vertices,
    )


def grid_from_source(
    source: GridSource,
    *,
    territory: shapely.Geometry | None = None,
    max_cell_vertices: int | None = None,
    max_total_vertices: int | None = None,
) -> Grid:
    """A :class:`Grid` from a read source, or :class:`InvalidGridError` with every violation.

    A source that carries gridmgr metadata whose checksum still matches keeps its generation;
    anything else (an edited or foreign file) becomes a new generation. A grid over the vertex
    limits (default: :data:`~gridmgr.grid.validate.MAX_CELL_VERTICES` per cell,
    :data:`~gridmgr.grid.validate.MAX_TOTAL_VERTICES` in all) is refused before validation.
    """
    from gridmgr.grid.validate import MAX_CELL_VERTICES, MAX_TOTAL_VERTICES, validated_grid

    return validated_grid(
        source.cells,
        name=source.path.stem,
        territory=territory,
        crs_problems=source.crs_problems,
        meta=meta_from_source(source),
        label=str(source.path),
        max_cell_vertices=max_cell_vertices or MAX_CELL_VERTICES,
        max_total_vertices=max_total_vertices or MAX_TOTAL_VERTICES,
    )


# -- writing grids ----------------------------------------------------------------------------


def write_grid(grid: Grid, path: Path) -> Path:
    """Write ``grid`` as a GeoPackage (``.gpkg``) or RFC 7946 GeoJSON (``.geojson``/``.json``).

    The GeoPackage has layers ``tier1``, ``tier2``, ``tier3`` and the ``gridmgr_meta`` table; the
    GeoJSON is one FeatureCollection with a ``tier`` property, coordinates at full precision.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gpkg", ".geojson", ".json"):
        raise GridFileError(
            f"cannot export to {path.name}: use a .gpkg (GeoPackage) or .geojson path"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.partial{path.suffix}")
    tmp.unlink(missing_ok=True)
    cells = grid.cells[[*CELL_COLUMNS, "geometry"]]
    try:
        if suffix == ".gpkg":
            for tier, layer in TIER_LAYERS.items():
                part = cells[cells["tier"] == tier].reset_index(drop=True)
                pyogrio.write_dataframe(
                    part, tmp, layer=layer, driver="GPKG", promote_to_multi=False
                )
            records = grid.meta.to_records(tier_counts(grid.cells))
            table = pd.DataFrame({"key": list(records), "value": list(records.values())})
            pyogrio.write_dataframe(table, tmp, layer=META_LAYER, driver="GPKG")
        else:
            pyogrio.write_dataframe(
                cells,
                tmp,
                driver="GeoJSON",
                layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "15", "WRITE_NAME": "NO"},
            )
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise GridFileError(f"cannot write {path}: {exc}") from None
    tmp.replace(path)
    return path


def write_layer(frame: gpd.GeoDataFrame, path: Path, *, layer: str) -> Path:
    """Write one table as a new GeoPackage with one layer (a report for QGIS), atomically."""
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise GridFileError(f"cannot write {path.name}: use a .gpkg (GeoPackage) path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.partial{path.suffix}")
    tmp.unlink(missing_ok=True)
    try:
        pyogrio.write_dataframe(frame, tmp, layer=layer, driver="GPKG", promote_to_multi=True)
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise GridFileError(f"cannot write {path}: {exc}") from None
    tmp.replace(path)
    return path


def meta_from_source(source: GridSource) -> GridMeta | None:
    """The metadata recorded in a gridmgr GeoPackage, if it has any."""
    if "generation_id" not in source.meta:
        return None
    return GridMeta.from_records(source.meta)
