"""The grid: one generation of the three-tier partition, with exact point location and hierarchy.

A :class:`Grid` is read-only. It holds its cells (a GeoDataFrame in EPSG:4326 with ``code``,
``parent_code``, ``tier``, ``name`` and ``name_en``), its :class:`GridMeta`, and an in-memory
locate index, so point location never touches a file or a database.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from gridmgr.errors import CellError, CellNotFoundError, CoordinateError
from gridmgr.grid.codes import TIERS, code_to_tier
from gridmgr.grid.datum import Datum, parse_datum, to_wgs84
from gridmgr.grid.locate import OUTSIDE, LocateIndex, build_locate_index

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx

CELL_COLUMNS = ("code", "parent_code", "tier", "name", "name_en")
"""The attribute columns every grid layer carries, besides ``geometry``."""

FORMAT_VERSION = "1"


class CellPath(NamedTuple):
    """The cell a point falls in, at each tier (tier-2 is the parent of tier-3, and so on)."""

    tier1: str
    tier2: str
    tier3: str


@dataclass(frozen=True)
class GridMeta:
    """What a grid generation says about itself (the GeoPackage's ``gridmgr_meta`` table)."""

    generation_id: str
    name: str
    checksum: str
    metric_crs: str = "EPSG:4549"
    county_code: str = "320281"
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def to_records(self, counts: Mapping[int, int]) -> dict[str, str]:
        """Key/value strings for the metadata table."""
        return {
            "format_version": FORMAT_VERSION,
            "generation_id": self.generation_id,
            "name": self.name,
            "checksum": self.checksum,
            "checksum_algorithm": "sha256, cells by code (gridmgr.grid.model.grid_checksum)",
            "crs": "EPSG:4326",
            "metric_crs": self.metric_crs,
            "county_code": self.county_code,
            "count_tier1": str(counts.get(1, 0)),
            "count_tier2": str(counts.get(2, 0)),
            "count_tier3": str(counts.get(3, 0)),
            "params": json.dumps(dict(self.params), ensure_ascii=False, sort_keys=True),
            "source": self.source,
        }

    @classmethod
    def from_records(cls, records: Mapping[str, str]) -> GridMeta:
        """Inverse of :meth:`to_records` (unknown keys are ignored)."""
        return cls(
            generation_id=records["generation_id"],
            name=records.get("name", ""),
            checksum=records.get("checksum", ""),
            metric_crs=records.get("metric_crs", "EPSG:4549"),
            county_code=records.get("county_code", "320281"),
            params=json.loads(records.get("params", "{}") or "{}"),
            source=records.get("source", ""),
        )


def grid_checksum(cells: gpd.GeoDataFrame) -> str:
    """SHA-256 of a grid's content: attributes and normalized geometry of every cell, by code.

    Normalization makes the checksum independent of ring orientation and starting vertex, so a
    grid keeps its checksum through GeoPackage and RFC 7946 GeoJSON round trips.
    """
    ordered = cells.sort_values("code", kind="stable")
    h = hashlib.sha256()
    wkbs = shapely.to_wkb(shapely.normalize(ordered.geometry.values), byte_order=1)
    for row, wkb in zip(ordered[list(CELL_COLUMNS)].itertuples(index=False), wkbs, strict=True):
        h.update("\x1f".join("" if v is None else str(v) for v in row).encode())
        h.update(b"\x1e")
        h.update(wkb)
    return h.hexdigest()


def generation_id_for(name: str, checksum: str) -> str:
    """A readable, content-addressed generation id: ``<slug of name>-<12 hex of checksum>``.

    >>> generation_id_for("Jiangyin default", "ab" * 32)
    'jiangyin-default-abababababab'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "grid"
    return f"{slug}-{checksum[:12]}"


class Grid:
    """One read-only generation of the three-tier grid.

    Build one with :func:`gridmgr.build.build_grid`, read one with :func:`gridmgr.load_grid` or
    :func:`gridmgr.grid.io.read_grid`. The constructor does not validate; the loaders do.
    """

    def __init__(self, cells: gpd.GeoDataFrame, meta: GridMeta) -> None:
        cells = cells.sort_values(["tier", "code"], kind="stable").reset_index(drop=True)
        self.cells = cells
        self.meta = meta
        tier = cells["tier"].to_numpy()
        codes = cells["code"].to_numpy(dtype=object)
        self._codes = {t: codes[tier == t] for t in TIERS}
        self._row = {c: i for i, c in enumerate(codes)}
        # plain dicts for the look-ups services make per case (a pandas row costs ~100 µs)
        self._parent = dict(zip(codes, cells["parent_code"].to_numpy(dtype=object), strict=True))
        self._tier_of = dict(zip(codes, tier.tolist(), strict=True))
        pos = {t: {c: i for i, c in enumerate(self._codes[t])} for t in TIERS}
        parents = cells["parent_code"].to_numpy(dtype=object)
        self._parent_pos = {
            t: np.array([pos[t - 1][p] for p in parents[tier == t]], dtype=np.int32) for t in (2, 3)
        }
        leaves = cells.geometry.values[tier == 3]
        self._index: LocateIndex = build_locate_index(np.asarray(leaves, dtype=object))
        self._leaf_paths = [CellPath(*self._path_codes(i)) for i in range(len(self._codes[3]))]
        # one row of codes per leaf, and a last row of None that OUTSIDE (-1) gathers
        self._code_by_leaf = np.array([*self._leaf_paths, (None, None, None)], dtype=object)

    def __repr__(self) -> str:
        n = self.counts
        return f"<Grid {self.meta.generation_id}: {n[1]} / {n[2]} / {n[3]} cells>"

    @property
    def generation_id(self) -> str:
        """The generation this grid is (content-addressed)."""
        return self.meta.generation_id

    @cached_property
    def counts(self) -> dict[int, int]:
        """Number of cells per tier."""
        return {t: len(self._codes[t]) for t in TIERS}

    @property
    def index_nbytes(self) -> int:
        """Memory held by the locate index's lookup arrays, in bytes."""
        return self._index.nbytes

    def tier(self, tier: int) -> gpd.GeoDataFrame:
        """The cells of one tier, sorted by code."""
        if tier not in TIERS:
            raise CellError(f"tier must be 1, 2 or 3, got {tier!r}")
        return self.cells[self.cells["tier"] == tier].reset_index(drop=True)

    def codes(self, tier: int) -> list[str]:
        """The codes of one tier, sorted."""
        if tier not in TIERS:
            raise CellError(f"tier must be 1, 2 or 3, got {tier!r}")
        return list(self._codes[tier])

    # -- hierarchy ---------------------------------------------------------------------------

    def cell(self, code: str) -> pd.Series:
        """The attributes and geometry of one cell."""
        row: pd.Series = self.cells.iloc[self._row_of(code)]
        return row

    def cell_to_parent(self, code: str) -> str | None:
        """The parent cell's code, or ``None`` for a tier-1 cell."""
        self._row_of(code)
        return None if code_to_tier(code) == 1 else str(self._parent[code])

    def tier_of(self, code: str) -> int:
        """The tier of cell ``code`` (:class:`CellNotFoundError` if the grid has no such cell)."""
        self._row_of(code)
        return int(self._tier_of[code])

    def cell_to_children(self, code: str) -> list[str]:
        """The codes of the cell's children, sorted (empty for a tier-3 cell)."""
        tier = code_to_tier(code)
        self._row_of(code)
        if tier == 3:
            return []
        kids = self._codes[tier + 1]
        lo = np.searchsorted(kids, code, side="left")
        hi = np.searchsorted(kids, code + "\x7f", side="left")
        return list(kids[lo:hi])

    def cell_to_ancestors(self, code: str) -> list[str]:
        """The cell's ancestors from tier 1 down to its parent (empty for a tier-1 cell)."""
        out: list[str] = []
        parent = self.cell_to_parent(code)
        while parent is not None:
            out.append(parent)
            parent = self.cell_to_parent(parent)
        return out[::-1]

    def cell_to_descendants(self, code: str, tier: int = 3) -> list[str]:
        """The codes of the cell's descendants at ``tier`` (the cell itself at its own tier)."""
        own = code_to_tier(code)
        self._row_of(code)
        if tier < own:
            raise CellError(f"tier {tier} is above cell {code} (tier {own})")
        kids = self._codes[tier]
        lo = np.searchsorted(kids, code, side="left")
        hi = np.searchsorted(kids, code + "\x7f", side="left")
        return list(kids[lo:hi])

    def grid_to_graph(self, tier: int = 3) -> nx.Graph:
        """The adjacency graph of one tier: cells sharing a border of positive length."""
        from gridmgr.grid.adjacency import cells_to_graph

        return cells_to_graph(self.tier(tier), metric_crs=self.meta.metric_crs)

    # -- location ----------------------------------------------------------------------------

    def point_to_cell(
        self, lon: float, lat: float, *, datum: str | Datum = Datum.WGS84
    ) -> CellPath | None:
        """The cell at each tier that contains the point, or ``None`` outside the grid.

        A point on a shared border or vertex goes to the covering tier-3 cell with the lowest
        code; its tier-2 and tier-1 cells are that cell's ancestors.
        """
        lon_f, lat_f = _check_scalar(lon, lat)
        if parse_datum(datum) is not Datum.WGS84:
            x, y = to_wgs84(lon_f, lat_f, datum)
            lon_f, lat_f = float(x), float(y)
        leaf = self._index.point_to_leaf(lon_f, lat_f)
        return None if leaf == OUTSIDE else self._leaf_paths[leaf]

    def points_to_leaf_positions(
        self, lon: ArrayLike, lat: ArrayLike, *, datum: str | Datum = Datum.WGS84
    ) -> NDArray[np.int32]:
        """Tier-3 position (into ``codes(3)``) of every point, -1 outside: the fast array form."""
        x, y = check_coordinates(lon, lat)
        if parse_datum(datum) is not Datum.WGS84:
            x, y = to_wgs84(x, y, datum)
        return self._index.points_to_leaves(x, y)

    def points_to_cells(
        self, lon: ArrayLike, lat: ArrayLike, *, datum: str | Datum = Datum.WGS84
    ) -> pd.DataFrame:
        """The tier-1, tier-2 and tier-3 code of every point; ``None`` in all three outside.

        >>> from gridmgr import load_grid
        >>> load_grid().points_to_cells([120.285, 0.0], [31.905, 0.0]).tier1.tolist()
        ['320281001', None]
        """
        leaf = self.points_to_leaf_positions(lon, lat, datum=datum)
        # per-leaf code tables end with None, so OUTSIDE (-1) gathers None with no masking
        return pd.DataFrame(
            self._code_by_leaf.take(leaf, axis=0),
            columns=["tier1", "tier2", "tier3"],
            dtype=object,
            copy=False,
        )

    def exact_leaf_positions(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.int32]:
        """The exact predicate alone, without the lookup raster (slow; for tests and audits)."""
        x, y = check_coordinates(lon, lat)
        return self._index.exact_leaves(x, y)

    # -- helpers -----------------------------------------------------------------------------

    def _row_of(self, code: str) -> int:
        code_to_tier(code)
        try:
            return self._row[code]
        except KeyError:
            raise CellNotFoundError(
                f"no cell {code!r} in grid {self.meta.generation_id}; "
                "list codes with `gridmgr grid info` or Grid.codes(tier)"
            ) from None

    def _path_codes(self, leaf: int) -> tuple[str, str, str]:
        p2 = self._parent_pos[3][leaf]
        p1 = self._parent_pos[2][p2]
        return (str(self._codes[1][p1]), str(self._codes[2][p2]), str(self._codes[3][leaf]))


def check_coordinates(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Finite float64 lon/lat arrays of equal length, or a :class:`CoordinateError` saying why."""
    try:
        x = np.atleast_1d(np.asarray(lon, dtype=np.float64)).ravel()
        y = np.atleast_1d(np.asarray(lat, dtype=np.float64)).ravel()
    except (TypeError, ValueError) as exc:
        raise CoordinateError(f"coordinates must be numbers: {exc}") from None
    if x.shape != y.shape:
        raise CoordinateError(f"lon has {x.size} values but lat has {y.size}; pass one per point")
    bad = ~((np.abs(x) <= 180) & (np.abs(y) <= 90))  # False for NaN and inf too
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CoordinateError(
            f"{int(bad.sum())} invalid coordinate(s); first at position {i}: "
            f"lon={x[i]!r}, lat={y[i]!r}. Each must be finite, with -180 <= lon <= 180 and "
            "-90 <= lat <= 90 (degrees, lon first)"
        )
    return x, y


def _check_scalar(lon: float, lat: float) -> tuple[float, float]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise CoordinateError(
            f"coordinates must be numbers, got lon={lon!r}, lat={lat!r}"
        ) from None
    if not (math.isfinite(x) and math.isfinite(y) and abs(x) <= 180 and abs(y) <= 90):
        raise CoordinateError(
            f"invalid coordinate lon={x!r}, lat={y!r}: each must be finite, with "
            "-180 <= lon <= 180 and -90 <= lat <= 90 (degrees, lon first)"
        )
    return x, y


def tier_counts(cells: gpd.GeoDataFrame) -> dict[int, int]:
    """Number of cells per tier in a cells table."""
    counts = cells["tier"].value_counts()
    return {t: int(counts.get(t, 0)) for t in TIERS}
