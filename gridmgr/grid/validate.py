"""Grid validation: every violation of the grid invariants, each with its location.

Checked: the CRS; codes (format, duplicates, tier, parent); geometry (empty, not a polygon,
invalid with GEOS's reason); per tier, overlaps, edges that are not vertex-identical, and gaps;
across tiers, a child outside its parent and children not covering their parent; and, when a
territory is given, parts of it no cell covers and cells reaching outside it.

Before any of that, the size: a cell with more than ``MAX_CELL_VERTICES`` vertices, or a grid
with more than ``MAX_TOTAL_VERTICES``, is refused at once (every later load would pay for it).

Areas below ``AREA_TOLERANCE_DEG2`` (1e-14 square degrees, about 1 cm² here) count as nothing;
anything larger is reported. ``gridmgr grid import --repair`` fixes small defects.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmgr.errors import InvalidGridError
from gridmgr.grid.codes import code_length, is_valid_code
from gridmgr.grid.model import Grid, GridMeta, generation_id_for, grid_checksum

AREA_TOLERANCE_DEG2 = 1e-14
"""Areas smaller than this (in square degrees; about 1 cm² at 32° N) are treated as empty."""

MAX_CELL_VERTICES = 20_000
"""Vertices allowed in one cell (the Jiangyin grid's largest, a town, has 358)."""

MAX_TOTAL_VERTICES = 2_000_000
"""Vertices allowed in a whole grid (the Jiangyin grid's 1,845 cells have 20,091)."""

_SIMPLIFY = "simplify it in QGIS (Vector > Geometry Tools > Simplify)"

_M2_PER_DEG2_AT_32N = 111_320.0**2 * float(np.cos(np.radians(32.0)))


class ViolationKind(enum.StrEnum):
    """What is wrong, in words a GIS person searches for."""

    CRS = "crs"
    TOO_MANY_VERTICES = "too_many_vertices"
    MISSING_TIER = "missing_tier"
    MALFORMED_CODE = "malformed_code"
    DUPLICATE_CODE = "duplicate_code"
    WRONG_PARENT = "wrong_parent"
    EMPTY_GEOMETRY = "empty_geometry"
    NOT_A_POLYGON = "not_a_polygon"
    INVALID_GEOMETRY = "invalid_geometry"
    OVERLAP = "overlap"
    EDGE_MISMATCH = "edge_mismatch"
    GAP = "gap"
    CHILD_OUTSIDE_PARENT = "child_outside_parent"
    PARENT_NOT_COVERED = "parent_not_covered"
    TERRITORY_NOT_COVERED = "territory_not_covered"
    OUTSIDE_TERRITORY = "outside_territory"


@dataclass(frozen=True)
class Violation:
    """One problem: its kind, the tier and cells involved, where it is and how big."""

    kind: ViolationKind
    message: str
    tier: int | None = None
    codes: tuple[str, ...] = ()
    location: shapely.Geometry | None = None

    @property
    def where(self) -> str:
        """A representative lon/lat of the location, for a report line."""
        if self.location is None or self.location.is_empty:
            return ""
        p = shapely.point_on_surface(self.location)
        return f"at lon {p.x:.6f}, lat {p.y:.6f}"

    @property
    def area_m2(self) -> float:
        """Approximate area of the location in square metres (0 for lines and points)."""
        if self.location is None:
            return 0.0
        return float(self.location.area) * _M2_PER_DEG2_AT_32N

    def __str__(self) -> str:
        tier = f"tier {self.tier} " if self.tier else ""
        cells = f"[{', '.join(self.codes)}] " if self.codes else ""
        where = f" ({self.where})" if self.where else ""
        return f"{self.kind.value}: {tier}{cells}{self.message}{where}"


def validate_grid(
    cells: gpd.GeoDataFrame,
    *,
    territory: shapely.Geometry | None = None,
    crs_problems: Sequence[str] = (),
    max_cell_vertices: int = MAX_CELL_VERTICES,
    max_total_vertices: int = MAX_TOTAL_VERTICES,
) -> list[Violation]:
    """Every violation in a cells table (columns ``code``, ``parent_code``, ``tier``, geometry).

    An empty list means the grid is valid. A grid over the vertex limits gets only those
    violations: checking it further would take minutes.
    """
    oversized = check_size(
        cells, max_cell_vertices=max_cell_vertices, max_total_vertices=max_total_vertices
    )
    if oversized:
        return oversized
    out = [Violation(ViolationKind.CRS, p) for p in crs_problems]
    if cells.crs is None:
        out.append(Violation(ViolationKind.CRS, "the cells declare no CRS; expected EPSG:4326"))
    elif not cells.crs.equals("EPSG:4326"):
        out.append(
            Violation(
                ViolationKind.CRS,
                f"the cells are in {cells.crs.to_string()}; expected EPSG:4326 (reproject first)",
            )
        )
    cells = cells.reset_index(drop=True)
    out += _check_codes(cells)
    for tier in (1, 2, 3):
        if not (cells["tier"] == tier).any():
            out.append(Violation(ViolationKind.MISSING_TIER, "no cells at this tier", tier=tier))
    if any(v.kind is ViolationKind.CRS for v in out):
        # areas and places in an unknown CRS would be nonsense: geometry waits for the CRS fix
        return [
            replace(v, message=f"{v.message} (geometry is checked once the CRS is right)")
            if v.kind is ViolationKind.CRS
            else v
            for v in out
        ]
    geom_ok, geom_problems = _check_geometries(cells)
    out += geom_problems
    for tier in (1, 2, 3):
        mask = (cells["tier"] == tier).to_numpy()
        if mask.any() and geom_ok[mask].all():
            out += _check_coverage(cells[mask], tier)
    out += _check_nesting(cells, geom_ok)
    if territory is not None and geom_ok.all():
        out += _check_territory(cells, territory)
    return out


def validated_grid(
    cells: gpd.GeoDataFrame,
    *,
    name: str,
    territory: shapely.Geometry | None = None,
    crs_problems: Sequence[str] = (),
    meta: GridMeta | None = None,
    label: str = "the grid",
    max_cell_vertices: int = MAX_CELL_VERTICES,
    max_total_vertices: int = MAX_TOTAL_VERTICES,
) -> Grid:
    """A :class:`Grid` of ``cells`` if they are valid, else :class:`InvalidGridError`."""
    violations = validate_grid(
        cells,
        territory=territory,
        crs_problems=crs_problems,
        max_cell_vertices=max_cell_vertices,
        max_total_vertices=max_total_vertices,
    )
    if violations:
        raise InvalidGridError(
            format_report(violations, title=f"{label} is not a valid grid"), violations
        )
    checksum = grid_checksum(cells)
    if meta is None or meta.checksum != checksum:
        name = meta.name if meta else name
        meta = GridMeta(
            generation_id=generation_id_for(name, checksum),
            name=name,
            checksum=checksum,
            metric_crs=meta.metric_crs if meta else "EPSG:4549",
            county_code=str(cells["code"].iloc[0])[:6],
            params=dict(meta.params) if meta else {},
            source=f"imported from {label}",
        )
    return Grid(cells, meta)


def format_report(violations: Sequence[Violation], *, title: str, limit: int = 50) -> str:
    """A human-readable report: a title, counts per kind, and the first ``limit`` violations."""
    kinds = pd.Series([v.kind.value for v in violations]).value_counts()
    lines = [f"{title}: {len(violations)} violation(s)"]
    lines += [f"  {count} x {kind}" for kind, count in kinds.items()]
    lines += [f"- {v}" for v in violations[:limit]]
    if len(violations) > limit:
        lines.append(f"... and {len(violations) - limit} more")
    return "\n".join(lines)


def check_size(
    cells: gpd.GeoDataFrame,
    *,
    max_cell_vertices: int = MAX_CELL_VERTICES,
    max_total_vertices: int = MAX_TOTAL_VERTICES,
) -> list[Violation]:
    """A violation for each cell with more than ``max_cell_vertices`` vertices and one for a grid
    with more than ``max_total_vertices``; cheap (a count per geometry), so it runs first."""
    counts = shapely.get_num_coordinates(np.asarray(cells.geometry.values))
    out = []
    for i in np.flatnonzero(counts > max_cell_vertices):
        geom = cells.geometry.iloc[i]
        out.append(
            Violation(
                ViolationKind.TOO_MANY_VERTICES,
                f"{int(counts[i]):,} vertices; a cell may have at most {max_cell_vertices:,}: "
                f"{_SIMPLIFY}, or raise --max-cell-vertices",
                tier=int(cells["tier"].iloc[i]) if "tier" in cells else None,
                codes=(str(cells["code"].iloc[i]),) if "code" in cells else (),
                location=shapely.box(*geom.bounds) if geom is not None else None,
            )
        )
    total = int(counts.sum())
    if total > max_total_vertices:
        out.append(
            Violation(
                ViolationKind.TOO_MANY_VERTICES,
                f"the grid has {total:,} vertices in all; at most {max_total_vertices:,} are "
                f"allowed: {_SIMPLIFY}, or raise --max-total-vertices",
            )
        )
    return out


def refuse_oversized(
    cells: gpd.GeoDataFrame,
    *,
    label: str = "the grid",
    max_cell_vertices: int = MAX_CELL_VERTICES,
    max_total_vertices: int = MAX_TOTAL_VERTICES,
) -> None:
    """Raise :class:`InvalidGridError` with the report of :func:`check_size`, if any."""
    oversized = check_size(
        cells, max_cell_vertices=max_cell_vertices, max_total_vertices=max_total_vertices
    )
    if oversized:
        raise InvalidGridError(
            format_report(oversized, title=f"{label} is too large to import"), oversized
        )


# -- checks -----------------------------------------------------------------------------------


def _check_codes(cells: gpd.GeoDataFrame) -> list[Violation]:
    out = []
    codes = cells["code"].tolist()
    tiers = cells["tier"].tolist()
    parents = cells["parent_code"].tolist()
    for code, tier in zip(codes, tiers, strict=True):
        if tier not in (1, 2, 3):
            out.append(
                Violation(
                    ViolationKind.MALFORMED_CODE,
                    f"tier {tier!r} is not 1, 2 or 3",
                    codes=(str(code),),
                )
            )
        elif not is_valid_code(code) or len(code) != code_length(tier):
            out.append(
                Violation(
                    ViolationKind.MALFORMED_CODE,
                    f"code {code!r} is not {code_length(tier)} digits as tier {tier} needs "
                    "(county 6 + 3 per tier)",
                    tier=tier,
                    codes=(str(code),),
                )
            )
    dup = cells["code"][cells["code"].duplicated(keep=False)]
    for code in sorted(set(dup.dropna())):
        out.append(
            Violation(
                ViolationKind.DUPLICATE_CODE,
                f"code {code} is used {int((dup == code).sum())} times",
                codes=(code,),
            )
        )
    known = {t: set(cells.loc[cells["tier"] == t, "code"]) for t in (1, 2)}
    counties = {c[:6] for c in codes if is_valid_code(c)}
    for code, tier, parent in zip(codes, tiers, parents, strict=True):
        if not is_valid_code(code) or tier not in (1, 2, 3) or len(code) != code_length(tier):
            continue
        if tier == 1:
            ok = parent is None or parent == code[:6]
            why = f"a tier-1 cell's parent_code must be its county code {code[:6]}"
        else:
            ok = parent in known[tier - 1] and code.startswith(str(parent))
            why = (
                f"parent_code must be an existing tier-{tier - 1} cell whose code starts "
                f"{code[: code_length(tier - 1)]}"
            )
        if not ok:
            out.append(
                Violation(
                    ViolationKind.WRONG_PARENT,
                    f"parent_code {parent!r}: {why}",
                    tier=tier,
                    codes=(code,),
                )
            )
    if len(counties) > 1:
        out.append(
            Violation(
                ViolationKind.MALFORMED_CODE,
                f"codes start with several county codes {sorted(counties)}",
            )
        )
    return out


def _check_geometries(cells: gpd.GeoDataFrame) -> tuple[np.ndarray, list[Violation]]:
    geoms = cells.geometry.values
    arr = np.asarray(geoms, dtype=object)
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    types = shapely.get_type_id(arr)
    polygonal = np.isin(types, (3, 6))
    valid = np.zeros(len(arr), dtype=bool)
    valid[~missing] = shapely.is_valid(arr[~missing])
    out = []
    for i in np.flatnonzero(missing | ~polygonal | ~valid):
        code, tier = str(cells.at[i, "code"]), int(cells.at[i, "tier"])
        if missing[i]:
            out.append(
                Violation(
                    ViolationKind.EMPTY_GEOMETRY,
                    "the cell has no geometry",
                    tier=tier,
                    codes=(code,),
                )
            )
        elif not polygonal[i]:
            out.append(
                Violation(
                    ViolationKind.NOT_A_POLYGON,
                    f"geometry is a {arr[i].geom_type}, not a Polygon",
                    tier=tier,
                    codes=(code,),
                    location=arr[i],
                )
            )
        else:
            reason = shapely.is_valid_reason(arr[i])
            loc = _reason_location(reason) or arr[i]
            out.append(
                Violation(
                    ViolationKind.INVALID_GEOMETRY,
                    f"invalid geometry: {reason}",
                    tier=tier,
                    codes=(code,),
                    location=loc,
                )
            )
    return (~missing) & polygonal & valid, out


def _reason_location(reason: str) -> shapely.Geometry | None:
    """The point GEOS names in an invalidity reason such as 'Self-intersection[120.1 31.9]'."""
    if "[" not in reason:
        return None
    try:
        x, y = reason[reason.index("[") + 1 : reason.index("]")].split()[:2]
        return shapely.Point(float(x), float(y))
    except ValueError:
        return None


def _check_coverage(tier_cells: gpd.GeoDataFrame, tier: int) -> list[Violation]:
    geoms = np.asarray(tier_cells.geometry.values, dtype=object)
    codes = tier_cells["code"].to_numpy(dtype=object)
    out = []
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    overl = shapely.relate_pattern(geoms[a], geoms[b], "2********")
    overlapping: set[int] = set()
    for i, j in zip(a[overl], b[overl], strict=True):
        inter = shapely.intersection(geoms[i], geoms[j])
        if inter.area <= AREA_TOLERANCE_DEG2:
            continue
        overlapping.update((i, j))
        out.append(
            Violation(
                ViolationKind.OVERLAP,
                f"cells overlap by about {inter.area * _M2_PER_DEG2_AT_32N:.1f} m²",
                tier=tier,
                codes=(codes[i], codes[j]),
                location=inter,
            )
        )
    if not shapely.coverage_is_valid(geoms):
        edges = shapely.coverage_invalid_edges(geoms)
        for i in np.flatnonzero(~shapely.is_empty(edges)):
            if i in overlapping:
                continue
            out.append(
                Violation(
                    ViolationKind.EDGE_MISMATCH,
                    "shared edges are not vertex-identical with a neighbour "
                    "(a T-junction, a sliver or a tiny overlap)",
                    tier=tier,
                    codes=(codes[i],),
                    location=edges[i],
                )
            )
    union = shapely.union_all(geoms)
    for part in shapely.get_parts(union):
        for ring in part.interiors:
            hole = shapely.difference(shapely.Polygon(ring), union)  # minus islands inside it
            if hole.area > AREA_TOLERANCE_DEG2:
                out.append(
                    Violation(
                        ViolationKind.GAP,
                        f"a gap of about {hole.area * _M2_PER_DEG2_AT_32N:.1f} m² "
                        "that no cell covers",
                        tier=tier,
                        location=hole,
                    )
                )
    return out


def _check_nesting(cells: gpd.GeoDataFrame, geom_ok: np.ndarray) -> list[Violation]:
    out = []
    geoms = np.asarray(cells.geometry.values, dtype=object)
    row = {c: i for i, c in enumerate(cells["code"]) if isinstance(c, str)}
    for tier in (2, 3):
        kids = np.flatnonzero((cells["tier"] == tier).to_numpy() & geom_ok)
        par = np.array([row.get(cells.at[i, "parent_code"], -1) for i in kids], dtype=np.int64)
        has = par >= 0
        has[has] = geom_ok[par[has]]
        kids, par = kids[has], par[has]
        if not len(kids):
            continue
        outside = shapely.difference(geoms[kids], geoms[par])
        big = shapely.area(outside) > AREA_TOLERANCE_DEG2
        for k, p, piece in zip(kids[big], par[big], outside[big], strict=True):
            out.append(
                Violation(
                    ViolationKind.CHILD_OUTSIDE_PARENT,
                    f"about {piece.area * _M2_PER_DEG2_AT_32N:.1f} m² lies outside "
                    f"its parent {cells.at[p, 'code']}",
                    tier=tier,
                    codes=(cells.at[k, "code"], cells.at[p, "code"]),
                    location=piece,
                )
            )
        for p in np.unique(par):
            children = geoms[kids[par == p]]
            rest = shapely.difference(geoms[p], shapely.union_all(children))
            if rest.area > AREA_TOLERANCE_DEG2:
                out.append(
                    Violation(
                        ViolationKind.PARENT_NOT_COVERED,
                        f"about {rest.area * _M2_PER_DEG2_AT_32N:.1f} m² of the "
                        f"parent is covered by none of its {len(children)} children",
                        tier=tier - 1,
                        codes=(cells.at[p, "code"],),
                        location=rest,
                    )
                )
    return out


def _check_territory(cells: gpd.GeoDataFrame, territory: shapely.Geometry) -> list[Violation]:
    out = []
    tier1 = np.asarray(cells.geometry.values[(cells["tier"] == 1).to_numpy()], dtype=object)
    union = shapely.union_all(tier1)
    for piece, kind, what in (
        (
            shapely.difference(territory, union),
            ViolationKind.TERRITORY_NOT_COVERED,
            "of the territory is covered by no tier-1 cell",
        ),
        (
            shapely.difference(union, territory),
            ViolationKind.OUTSIDE_TERRITORY,
            "of the tier-1 cells lies outside the territory",
        ),
    ):
        for part in _parts(piece):
            if part.area > AREA_TOLERANCE_DEG2:
                out.append(
                    Violation(
                        kind,
                        f"about {part.area * _M2_PER_DEG2_AT_32N:.1f} m² " + what,
                        tier=1,
                        location=part,
                    )
                )
    return out


def _parts(geom: shapely.Geometry) -> Iterable[shapely.Geometry]:
    return [p for p in shapely.get_parts(geom) if p.area > 0]
