"""Building a grid: a deterministic nested partition of a territory into three tiers of cells.

The method works in a local plane: longitude and latitude scaled to metres at the territory's
centre (an affine map, so the straight edges of the outline stay straight and the outline is kept
vertex for vertex; the shape distortion across a county is below 0.2 %). Areas are reported in the
territory's metric CRS.

1. **Tier 1.** One seed per real town, at the town's approximate point; a few Lloyd iterations on a
   lattice of sample points pull each seed towards the centroid of its region, tethered to the town
   point so that the town stays inside its own cell. Voronoi regions of the seeds, clipped to the
   territory, are the tier-1 cells.
2. **Tiers 2 and 3.** Each parent gets a number of children proportional to its area (largest
   remainder, at least one). Seeded k-means on a lattice inside the parent places the children's
   seeds; their Voronoi regions clipped to the parent are the children. K-means on a uniform lattice
   approximates a centroidal Voronoi tessellation, hence compact cells of similar area.
3. **Connected cells.** A clipped region in several pieces keeps its largest piece; the others join
   the sibling with which they share the longest border.
4. **One coverage.** Tier-3 cells are cleaned as a polygonal coverage (``shapely.coverage_clean``),
   so shared edges are vertex-identical, then mapped back to lon/lat, with the outline's vertices
   restored bit for bit; tier-2 and tier-1 cells are the ``coverage_union`` of their children, so
   nesting is exact by construction.

Towns given as polygons (``Territory.town_areas``) are the tier-1 cells as given. A
:class:`~gridmgr.grid.workload.Workload` makes cells share workload rather than area (children
apportioned and seeds placed by weight); barrier lines (:mod:`gridmgr.grid.barriers`) make cell
borders follow roads and rivers where they can.

Codes are the county code, the town's civil-affairs code and sequence numbers ordered north to
south, then west to east. Tier-2 and tier-3 names are synthetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree

from gridmgr.errors import GridError
from gridmgr.grid.barriers import attach_blocks, cells_following_lines, lines_within, split_blocks
from gridmgr.grid.codes import child_code
from gridmgr.grid.model import Grid, GridMeta, generation_id_for, grid_checksum
from gridmgr.grid.territory import WGS84, Territory, Town, to_metric
from gridmgr.grid.workload import Workload, sample_density, weighted_kmeans

Progress = Callable[[str, int, int], None]
"""Called as ``progress(step, done, total)`` while a long job runs."""


@dataclass(frozen=True)
class BuildParams:
    """Everything that determines a built grid (recorded in its metadata)."""

    counts: tuple[int, int, int] = (17, 271, 1557)
    seed: int = 2026
    lloyd_iterations: int = 30
    town_tether: float = 0.3
    samples_per_cell: int = 60
    kmeans_iterations: int = 20
    workload_area_share: float = 0.2

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "method": "tethered Lloyd (tier 1), seeded k-means + clipped Voronoi (tiers 2-3), "
            "shapely.coverage_clean, coverage_union",
            "counts": list(self.counts),
            "seed": self.seed,
            "lloyd_iterations": self.lloyd_iterations,
            "town_tether": self.town_tether,
            "samples_per_cell": self.samples_per_cell,
            "kmeans_iterations": self.kmeans_iterations,
        }


def build_grid(
    territory: Territory,
    params: BuildParams = BuildParams(),
    *,
    name: str | None = None,
    progress: Progress | None = None,
    workload: Workload | None = None,
    lines: shapely.Geometry | None = None,
) -> Grid:
    """Partition ``territory`` into a nested three-tier grid, deterministically.

    ``workload`` (points in lon/lat with weights) balances cells by weight instead of area;
    ``lines`` (roads, rivers in lon/lat) are followed by cell borders where they can be.
    The result is not validated here; :func:`gridmgr.grid.validate.validate_grid` does that.
    """
    n1, n2, n3 = params.counts
    _check_counts(territory, params.counts)
    report = progress or (lambda step, done, total: None)
    rng = np.random.default_rng(params.seed)
    plane = _LocalPlane.around(territory.polygon)
    ctx = _Context(
        params=params,
        rng=rng,
        workload=Workload(plane.forward_xy(workload.xy), workload.weight) if workload else None,
        lines=plane.forward(lines) if lines is not None else None,
    )
    steps = n1 + n2 + 4
    done = 0

    def tick(step: str) -> None:
        nonlocal done
        done += 1
        report(step, done, steps)

    report("tier 1: towns", 0, steps)
    if territory.town_areas:
        tier1 = [plane.forward(a) for a in territory.town_areas]
    else:
        tier1 = _tier1_cells(plane.forward(territory.polygon), territory.towns, n1, ctx, plane)
    tick("tier 2: communities")
    tier2 = _split(tier1, n2, ctx, lambda: tick("tier 2: communities"))
    tier3 = _split([c for kids in tier2 for c in kids], n3, ctx, lambda: tick("tier 3: unit grids"))

    leaves = np.array([c for kids in tier3 for c in kids], dtype=object)
    leaves = plane.inverse(_clean_coverage(leaves))
    reference = territory.polygon
    if territory.town_areas:  # town borders are kept vertex for vertex too
        reference = shapely.union_all([reference, *shapely.boundary(territory.town_areas)])
    leaves = _restore_vertices(leaves, reference)
    polygons = (shapely.get_type_id(leaves) == 3) & ~shapely.is_empty(leaves)
    if not polygons.all() or not shapely.coverage_is_valid(leaves):
        raise GridError("coverage cleaning produced an invalid cell; change the seed")
    tick("coverage: shared edges cleaned")

    rows = _coded_rows(territory, tier2, tier3, leaves)
    tick("codes and names")
    cells = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=WGS84)
    cells = cells.sort_values(["tier", "code"], kind="stable").reset_index(drop=True)
    checksum = grid_checksum(cells)
    grid_name = name or f"{territory.name} default"
    meta = GridMeta(
        generation_id=generation_id_for(grid_name, checksum),
        name=grid_name,
        checksum=checksum,
        metric_crs=territory.metric_crs,
        county_code=territory.county_code,
        params=_params_record(params, territory, workload, lines),
        source=f"gridmgr.grid.build.build_grid over {territory.source or territory.name}",
    )
    grid = Grid(cells, meta)
    report("done", steps, steps)
    return grid


def _coded_rows(
    territory: Territory,
    tier2: list[list[shapely.Geometry]],
    tier3: list[list[shapely.Geometry]],
    leaves: np.ndarray,
) -> list[dict[str, Any]]:
    """One row per cell of every tier with its code, parent code and Chinese and English names.

    ``tier2`` holds the communities of each town and ``tier3`` the unit cells of each community
    (their count is all that is read); ``leaves`` are the cleaned unit-cell geometries in that
    order. A community and a town are the union of their children, so the tiers nest exactly.
    """
    n1 = len(tier2)
    towns: list[Town | None] = [*territory.towns] or [None] * n1
    rows: list[dict[str, Any]] = []
    t2_geoms: list[shapely.Geometry] = []
    k3 = 0
    for i1, (town, kids2) in enumerate(zip(towns, tier2, strict=True)):
        code1 = _town_code(town, i1, territory.county_code)
        short = town.short_name if town else f"第{i1 + 1:02d}镇"
        short_en = town.short_name_en if town else f"Town {i1 + 1:02d}"
        is_town = town is not None and town.kind == "town"
        t1_children: list[shapely.Geometry] = []
        for i2, kids3 in enumerate(tier3[len(t2_geoms) : len(t2_geoms) + len(kids2)]):
            code2 = child_code(code1, i2 + 1, county=territory.county_code)
            name2 = f"{short}{i2 + 1:02d}{'村' if is_town else '社区'}"
            name2_en = f"{short_en} {'Village' if is_town else 'Community'} {i2 + 1:02d}"
            own = leaves[k3 : k3 + len(kids3)]
            k3 += len(kids3)
            for i3, geom in enumerate(own):
                rows.append(
                    _row(
                        child_code(code2, i3 + 1, county=territory.county_code),
                        code2,
                        3,
                        f"{name2}{i3 + 1:02d}网格",
                        f"{name2_en} Grid {i3 + 1:02d}",
                        geom,
                    )
                )
            g2 = shapely.coverage_union_all(own)
            rows.append(_row(code2, code1, 2, name2, name2_en, g2))
            t1_children.append(g2)
        t2_geoms.extend(t1_children)
        rows.append(
            _row(
                code1,
                territory.county_code,
                1,
                town.name if town else short,
                town.name_en if town else short_en,
                shapely.coverage_union_all(np.array(t1_children, dtype=object)),
            )
        )
    return rows


def grid_quality(grid: Grid) -> pd.DataFrame:
    """Area spread and compactness per tier, measured in the grid's metric CRS.

    Compactness is Polsby-Popper, ``4 pi A / P**2``: 1 for a disc, about 0.785 for a square,
    0.907 for a regular hexagon.
    """
    out = []
    for tier in (1, 2, 3):
        geoms = to_metric(grid.tier(tier).geometry.values, grid.meta.metric_crs)
        area = shapely.area(geoms) / 1e6
        pp = 4 * math.pi * shapely.area(geoms) / shapely.length(geoms) ** 2
        out.append(
            {
                "tier": tier,
                "cells": len(area),
                "area_km2_min": area.min(),
                "area_km2_median": float(np.median(area)),
                "area_km2_max": area.max(),
                "area_cv": area.std() / area.mean(),
                "polsby_popper_min": pp.min(),
                "polsby_popper_median": float(np.median(pp)),
                "total_km2": area.sum(),
            }
        )
    return pd.DataFrame(out).set_index("tier")


def towns_outside_own_cell(grid: Grid, towns: Sequence[Town]) -> list[str]:
    """Names of towns whose approximate point does not fall in the tier-1 cell named after them."""
    out = []
    for town in towns:
        path = grid.point_to_cell(town.lon, town.lat)
        if path is None or path.tier1 != town.code:
            out.append(town.name)
    return out


# -- internals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """What every split needs: the parameters, the random stream, the workload and the lines."""

    params: BuildParams
    rng: np.random.Generator
    workload: Workload | None = None
    lines: shapely.Geometry | None = None


def _clean_coverage(leaves: NDArray[np.object_]) -> NDArray[np.object_]:
    """Leaves cleaned as one coverage (shared edges vertex-identical), each one polygon.

    Cutting along lines can leave specks of a few square micrometres that the cleaner hands to
    a far cell; they are dropped and the hairline gaps they leave closed by a second pass.
    """
    cleaned = np.asarray(shapely.coverage_clean(leaves), dtype=object)
    if (shapely.get_type_id(cleaned) == 3).all():
        return cleaned
    largest = [max(shapely.get_parts(c), key=lambda p: p.area) for c in cleaned]
    return np.asarray(
        shapely.coverage_clean(np.asarray(largest, dtype=object), gap_width=0.01), dtype=object
    )


def _check_counts(territory: Territory, counts: tuple[int, int, int]) -> None:
    n1, n2, n3 = counts
    if not 1 <= n1 <= n2 <= n3:
        raise GridError(f"tier counts must be positive and must not decrease, got {counts}")
    if len(territory.towns) not in (0, n1):
        raise GridError(
            f"{len(territory.towns)} towns given for {n1} tier-1 cells: give one town per "
            "tier-1 cell, or none to number tier-1 cells by position"
        )
    if territory.town_areas and len(territory.town_areas) != len(territory.towns):
        raise GridError("give one polygon per town, or none")
    if n2 > 999 * n1 or n3 > 999 * n2:
        raise GridError(f"counts {counts}: a code has room for 999 children per cell")


def _params_record(
    params: BuildParams,
    territory: Territory,
    workload: Workload | None,
    lines: shapely.Geometry | None,
) -> dict[str, Any]:
    """The build parameters as recorded in the grid's metadata (inputs beyond the defaults)."""
    out = params.to_dict()
    if territory.town_areas:
        out["tier1"] = "the towns' polygons as given"
    if workload is not None:
        out["workload"] = {
            "points": len(workload.weight),
            "total": float(workload.weight.sum()),
            "area_share": params.workload_area_share,
            "method": "weighted k-means on density squared (equal workload per cell)",
        }
    if lines is not None:
        out["lines"] = {
            "parts": len(shapely.get_parts(lines)),
            "method": "blocks cut along the lines go whole to one cell (gridmgr.grid.barriers)",
        }
    return out


def _row(
    code: str, parent: str, tier: int, name: str, name_en: str, geom: shapely.Geometry
) -> dict[str, Any]:
    return {
        "code": code,
        "parent_code": parent,
        "tier": tier,
        "name": name,
        "name_en": name_en,
        "geometry": geom,
    }


def _town_code(town: Town | None, i: int, county: str) -> str:
    if town is None:
        return child_code(None, i + 1, county=county)
    if not (town.code.startswith(county) and len(town.code) == len(county) + 3):
        raise GridError(
            f"town {town.name} has code {town.code!r}; expected the county code {county} "
            "followed by 3 digits"
        )
    return town.code


def _lattice(poly: shapely.Geometry, n: int) -> NDArray[np.float64]:
    """About ``n`` points on a square lattice inside ``poly`` (always at least one)."""
    minx, miny, maxx, maxy = poly.bounds
    s = math.sqrt(poly.area / max(n, 1))
    xs = np.arange(minx + s / 2, maxx, s)
    ys = np.arange(miny + s / 2, maxy, s)
    gx, gy = np.meshgrid(xs, ys)
    px, py = gx.ravel(), gy.ravel()
    shapely.prepare(poly)
    inside = shapely.contains_xy(poly, px, py)
    pts = np.column_stack([px[inside], py[inside]])
    if len(pts) < n:  # thin shapes: fall back to points on the surface
        extra = shapely.get_coordinates(shapely.point_on_surface(poly))
        pts = np.vstack([pts, extra]) if len(pts) else extra
    return pts


@dataclass(frozen=True)
class _LocalPlane:
    """Lon/lat scaled to metres around a centre: affine, so straight lines stay straight."""

    lon0: float
    lat0: float
    kx: float
    ky: float

    @classmethod
    def around(cls, polygon: shapely.Geometry) -> _LocalPlane:
        lon0, lat0 = (float(v) for v in shapely.get_coordinates(polygon.centroid)[0])
        ky = 6_371_008.8 * math.pi / 180
        return cls(lon0, lat0, ky * math.cos(math.radians(lat0)), ky)

    def forward(self, geoms: Any) -> Any:
        return shapely.transform(geoms, lambda c: (c - (self.lon0, self.lat0)) * (self.kx, self.ky))

    def forward_xy(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return (np.asarray(xy, dtype=np.float64) - (self.lon0, self.lat0)) * (self.kx, self.ky)

    def inverse(self, geoms: Any) -> Any:
        return shapely.transform(geoms, lambda c: c / (self.kx, self.ky) + (self.lon0, self.lat0))


def _restore_vertices(
    geoms: NDArray[np.object_], reference: shapely.Geometry, *, tolerance: float = 1e-9
) -> NDArray[np.object_]:
    """Put back the exact coordinates of ``reference``'s vertices that a round trip perturbed."""
    ref = shapely.get_coordinates(reference)
    tree = cKDTree(ref)

    def snap(c: NDArray[np.float64]) -> NDArray[np.float64]:
        dist, idx = tree.query(c, distance_upper_bound=tolerance)
        idx = np.asarray(idx)
        hit = np.isfinite(dist)
        out = c.copy()
        out[hit] = ref[idx[hit]]
        return out

    return np.asarray(shapely.transform(geoms, snap), dtype=object)


def _tier1_cells(
    area: shapely.Geometry,
    towns: Sequence[Town],
    n1: int,
    ctx: _Context,
    plane: _LocalPlane,
) -> list[shapely.Geometry]:
    params = ctx.params
    samples = _lattice(area, 2500 * n1)
    mass = _sample_mass(samples, ctx)
    if towns:
        anchor = shapely.get_coordinates(
            plane.forward(shapely.points([t.lon for t in towns], [t.lat for t in towns]))
        )
        seeds = anchor.copy()
        for _ in range(params.lloyd_iterations):
            label = cKDTree(seeds).query(samples)[1]
            for k in range(n1):
                mine = label == k
                if not mine.any():
                    centroid = seeds[k]
                elif mass is None:
                    centroid = samples[mine].mean(axis=0)
                else:
                    centroid = np.average(samples[mine], axis=0, weights=mass[mine])
                seeds[k] = (1 - params.town_tether) * centroid + params.town_tether * anchor[k]
    elif ctx.workload is not None:
        density = sample_density(samples, ctx.workload, area_share=params.workload_area_share)
        seeds = weighted_kmeans(samples, n1, density, rng=ctx.rng, iterations=50)
        seeds = seeds[_reading_order(seeds)]
    else:
        seeds, _ = kmeans2(samples, n1, seed=params.seed, minit="++", iter=50)
        seeds = seeds[_reading_order(seeds)]
    return _voronoi_in(area, seeds, ctx.lines)


def _sample_mass(samples: NDArray[np.float64], ctx: _Context) -> NDArray[np.float64] | None:
    """Weight of each lattice sample in a centroid: the squared workload density, if any."""
    if ctx.workload is None:
        return None
    density = sample_density(samples, ctx.workload, area_share=ctx.params.workload_area_share)
    return density**2


def _split(
    parents: Sequence[shapely.Geometry], total: int, ctx: _Context, tick: Callable[[], None]
) -> list[list[shapely.Geometry]]:
    """Children of every parent, ``total`` in all, in reading order within each parent.

    Children are apportioned by area, or with a workload by a blend of workload and area.
    """
    params = ctx.params
    share = np.array([p.area for p in parents])
    if ctx.workload is not None:
        weight = ctx.workload.total_in(np.asarray(parents, dtype=object))
        a = params.workload_area_share
        share = a * share / share.sum() + (1 - a) * weight / weight.sum()
    counts = _apportion(share, total)
    out = []
    for parent, k in zip(parents, counts, strict=True):
        tick()
        if k == 1:
            out.append([parent])
            continue
        blocks = split_blocks(parent, ctx.lines, int(k)) if ctx.lines is not None else None
        along = _split_along_lines(blocks, int(k), ctx) if blocks else None
        out.append(along or _voronoi_in(parent, _seeds_in(parent, int(k), ctx), ctx.lines))
    return out


def _seeds_in(poly: shapely.Geometry, k: int, ctx: _Context) -> NDArray[np.float64]:
    """``k`` k-means seeds inside ``poly`` (weighted by the workload, if any), in reading order."""
    params = ctx.params
    pts = _lattice(poly, k * params.samples_per_cell)
    if ctx.workload is None:
        seeds, _ = kmeans2(pts, k, seed=ctx.rng, minit="++", iter=params.kmeans_iterations)
    else:
        density = sample_density(pts, ctx.workload, area_share=params.workload_area_share)
        seeds = weighted_kmeans(pts, k, density, rng=ctx.rng, iterations=params.kmeans_iterations)
    ordered: NDArray[np.float64] = seeds[_reading_order(seeds)]
    return ordered


def _split_along_lines(
    blocks: tuple[list[shapely.Geometry], list[shapely.Geometry]], k: int, ctx: _Context
) -> list[shapely.Geometry] | None:
    """``k`` children whose borders follow the lines between the large blocks (or ``None``)."""
    large, small = blocks
    share = np.array([b.area for b in large])
    if ctx.workload is not None:
        a = ctx.params.workload_area_share
        weight = ctx.workload.total_in(large)
        total = weight.sum()
        share = a * share / share.sum() + (1 - a) * (
            weight / total if total else share / share.sum()
        )
    cells: list[shapely.Geometry] = []
    for block, kb in zip(large, _apportion(share, k), strict=True):
        cells += [block] if kb == 1 else _voronoi_in(block, _seeds_in(block, int(kb), ctx))
    grown = attach_blocks(cells, small)
    if grown is None:
        return None
    anchors = shapely.get_coordinates(shapely.point_on_surface(np.asarray(grown, dtype=object)))
    return [grown[i] for i in _reading_order(anchors)]


def _apportion(weights: NDArray[np.float64], total: int) -> NDArray[np.int64]:
    """Largest-remainder apportionment of ``total`` by ``weights``, at least one each.

    >>> _apportion(np.array([1.0, 1.0, 2.0]), 7).tolist()
    [2, 2, 3]
    """
    if total < len(weights):
        raise GridError(f"cannot give {len(weights)} parents at least one child each from {total}")
    quota = weights / weights.sum() * total
    n: NDArray[np.int64] = np.maximum(np.floor(quota).astype(np.int64), 1)
    while n.sum() > total:  # minimum-one pushed us over: take back from the largest
        n[np.argmax(n - quota)] -= 1
    order = np.argsort(-(quota - n), kind="stable")
    n[order[: total - int(n.sum())]] += 1
    return n


def _reading_order(seeds: NDArray[np.float64]) -> NDArray[np.intp]:
    """Order points north to south in bands, then west to east (how a map is read)."""
    if len(seeds) < 2:
        return np.arange(len(seeds))
    span = np.ptp(seeds, axis=0)
    band = max(span[1] / max(round(math.sqrt(len(seeds))), 1), 1e-9)
    row = np.floor((seeds[:, 1].max() - seeds[:, 1]) / band)
    return np.lexsort((seeds[:, 0], row))


def _voronoi_in(
    poly: shapely.Geometry, seeds: NDArray[np.float64], lines: shapely.Geometry | None = None
) -> list[shapely.Geometry]:
    """Voronoi regions of ``seeds`` clipped to ``poly``, one connected polygon per seed.

    With ``lines``, the regions are redrawn to follow them where they can.
    """
    regions = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=poly, ordered=True)
    cells = list(shapely.intersection(np.asarray(regions.geoms, dtype=object), poly))
    if lines_within(lines, poly) is not None:
        cells = cells_following_lines(poly, cells, lines)
    return _connect(cells)


def _connect(cells: list[shapely.Geometry]) -> list[shapely.Geometry]:
    """Keep each cell's largest piece; give the others to the sibling with the longest border."""
    cells = [shapely.make_valid(c) for c in cells]
    for _ in range(5):
        moved = False
        for i, cell in enumerate(cells):
            parts = sorted(
                (p for p in shapely.get_parts(cell) if p.geom_type == "Polygon" and p.area > 0),
                key=lambda p: -p.area,
            )
            if len(parts) == len(shapely.get_parts(cell)) == 1:
                continue
            cells[i] = parts[0]
            for piece in parts[1:]:
                border = [
                    -1.0 if j == i else shapely.intersection(piece.boundary, other).length
                    for j, other in enumerate(cells)
                ]
                j = int(np.argmax(border))
                cells[j] = shapely.union(cells[j], piece)
            moved = True
        if not moved:
            return cells
    raise GridError("could not make every cell connected; change the seed or the counts")
