"""Where cases cluster beyond chance: Getis-Ord Gi*, local Moran's I with FDR control; repeats.

Hot spots are judged over the cell adjacency (cells sharing a border) with seeded permutation
inference and Benjamini–Hochberg false-discovery-rate control: among the cells flagged, the
expected share of false discoveries is at most ``alpha``, where testing each cell alone would
flag about ``alpha`` × cells by chance. Recurring problems are cases of one category linked in
place and time. :mod:`esda`, :mod:`libpysal` and :mod:`pyproj` are imported only when
an analysis runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from gridmgr.errors import AnalyticsError

if TYPE_CHECKING:
    import networkx as nx


def graph_to_weights(graph: nx.Graph, codes: Sequence[str]) -> Any:
    """Binary contiguity weights (:class:`libpysal.weights.W`) over ``codes`` from an adjacency
    graph (:meth:`gridmgr.grid.model.Grid.grid_to_graph`): neighbours share a border."""
    from libpysal.weights import W

    index = set(codes)
    neighbors = {c: sorted(n for n in graph.neighbors(c) if n in index) for c in codes}
    return W(neighbors, id_order=list(codes), silence_warnings=True)


def benjamini_hochberg(pvalues: Any) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); a test is a discovery at FDR ``alpha``
    when its q-value is ≤ ``alpha``. ``NaN`` stays ``NaN`` and is not counted as a test.

    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(pvalues, dtype=float)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    vals = p[ok]
    order = np.argsort(vals, kind="stable")
    scaled = vals[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.clip(adjusted, 0.0, 1.0)
    q[ok] = out
    return q


def pseudo_p(observed: Any, simulated: Any) -> np.ndarray:
    """One-sided permutation p-values in the direction of the observed statistic, counting ties
    as at least as extreme: ``(1 + min(#sim >= obs, #sim <= obs)) / (1 + permutations)``.

    esda's ``p_sim`` counts ties on one side only, which flags a zero-count cell among zero-count
    neighbours as a "cold spot"; counting ties on both sides does not.

    >>> pseudo_p([3.0, 0.0], [[1.0, 2.0, 4.0], [0.0, 0.0, 1.0]]).tolist()
    [0.5, 0.75]
    """
    obs = np.asarray(observed, dtype=float)[:, None]
    sims = np.asarray(simulated, dtype=float)
    tol = 1e-9 * np.maximum(1.0, np.abs(obs))
    above = (sims >= obs - tol).sum(axis=1)
    below = (sims <= obs + tol).sum(axis=1)
    return np.asarray((1 + np.minimum(above, below)) / (1 + sims.shape[1]), dtype=float)


QUADRANTS = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}
"""Local Moran quadrants (esda's numbering): high value among high neighbours is HH …"""


def hot_spots(
    values: pd.Series,
    graph: nx.Graph,
    *,
    permutations: int = 999,
    seed: int = 2026,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Getis-Ord Gi* and local Moran's I of ``values`` (indexed by cell code) over the cell
    adjacency ``graph``, with permutation inference and Benjamini–Hochberg FDR control.

    Weights: binary contiguity from ``graph`` (cells sharing a border, :func:`graph_to_weights`);
    Gi* includes the cell itself (``star=True``, binary weights); local Moran's I uses
    row-standardized weights. Cells without neighbours get ``NaN``.

    Significance: conditional permutation (``permutations`` random relabelings of the other
    cells' values, seeded with ``seed``, so the result is reproducible), giving a pseudo
    p-value ``(1 + #as extreme) / (1 + permutations)`` per cell, one-sided in the direction of
    the observed statistic, ties counted as extreme (:func:`pseudo_p`). Testing every cell at
    once would flag about ``alpha × cells`` cells by chance, so the p-values of each statistic
    are adjusted by the Benjamini–Hochberg procedure (``*_q``) and a cell is **significant**
    when its q-value is ≤ ``alpha``: among the cells flagged, the expected share of false
    discoveries is at most ``alpha`` (BH stays valid under the positive dependence of
    neighbouring tests).
    The smallest attainable p-value is ``1 / (permutations + 1)``, so with ``m`` cells a
    discovery needs at least ``m / ((permutations + 1) * alpha)`` cells at that floor: raise
    ``permutations`` (e.g. 9999) for a city-wide run if small clusters matter.

    Returns one row per cell: ``cell``, ``value``, ``gi_z`` (Gi* z-score; > 0 hot),
    ``gi_p``, ``gi_q``, ``moran_i``, ``moran_p``, ``moran_q``, ``quadrant`` (HH/LH/LL/HL),
    ``hot`` and ``cold`` (Gi* significant, by sign), ``cluster`` (the Moran quadrant when
    significant, else ``"ns"``).
    """
    if permutations < 99:
        raise AnalyticsError(f"use at least 99 permutations, got {permutations}")
    codes = [str(c) for c in values.index]
    y = values.to_numpy(dtype=float)
    if len(y) < 3:
        raise AnalyticsError(f"hot spots need at least 3 cells, got {len(y)}")
    w = graph_to_weights(graph, codes)
    out = pd.DataFrame({"cell": codes, "value": y})
    if np.allclose(y, y[0]):
        # a constant field has no spots; the statistics are undefined (0/0)
        for col in ("gi_z", "gi_p", "gi_q", "moran_i", "moran_p", "moran_q"):
            out[col] = np.nan
        out["quadrant"] = ""
        out["hot"] = out["cold"] = False
        out["cluster"] = "ns"
        return out
    island = np.array([w.cardinalities[c] == 0 for c in codes])
    with warnings.catch_warnings():
        # esda warns that its own p_sim's alternative will change, and divides 0/0 for
        # cells whose simulations are constant; the p-values here come from pseudo_p
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="esda")
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="esda")
        gi, moran = _local_statistics(y, w, permutations=permutations, seed=seed)
    out["gi_z"] = np.where(island, np.nan, np.asarray(gi.Zs, dtype=float))
    out["gi_p"] = np.where(island, np.nan, pseudo_p(gi.Gs, gi.rGs))
    out["gi_q"] = benjamini_hochberg(out["gi_p"])
    out["moran_i"] = np.where(island, np.nan, np.asarray(moran.Is, dtype=float))
    out["moran_p"] = np.where(island, np.nan, pseudo_p(moran.Is, moran.rlisas))
    out["moran_q"] = benjamini_hochberg(out["moran_p"])
    out["quadrant"] = [QUADRANTS.get(int(q), "") for q in np.asarray(moran.q)]
    significant_gi = out["gi_q"] <= alpha
    out["hot"] = significant_gi & (out["gi_z"] > 0)
    out["cold"] = significant_gi & (out["gi_z"] < 0)
    out["cluster"] = np.where(out["moran_q"] <= alpha, out["quadrant"], "ns")
    out.attrs.update(permutations=permutations, seed=seed, alpha=alpha)
    return out


def _local_statistics(y: np.ndarray, w: Any, *, permutations: int, seed: int) -> tuple[Any, Any]:
    import esda

    gi = esda.G_Local(
        y, w, transform="B", permutations=permutations, star=True, seed=seed, n_jobs=1,
        keep_simulations=True,
    )  # fmt: skip
    moran = esda.Moran_Local(
        y, w, transformation="r", permutations=permutations, seed=seed, n_jobs=1,
        keep_simulations=True,
    )  # fmt: skip
    return gi, moran


def recurring_problems(
    facts: pd.DataFrame,
    *,
    crs: str,
    distance_m: float = 100.0,
    within: timedelta = timedelta(days=7),
    min_cases: int = 3,
) -> pd.DataFrame:
    """Groups of cases of the same category reported near each other in place and time.

    Two cases are linked when they have the same category, lie within ``distance_m`` metres
    (measured in ``crs``, the grid's metric CRS) and were reported within ``within`` of each
    other; a group is a connected set of links (single linkage: a chain of repeats along a
    street is one group) with at least ``min_cases`` cases. Cases without a location are left
    out.

    One row per group, most cases first: ``category``, ``cases``, ``cell`` (the most common),
    ``first``, ``last``, ``lon``, ``lat`` (the mean position), ``case_ids``.
    """
    from pyproj import Transformer

    if distance_m <= 0 or within <= timedelta(0) or min_cases < 2:
        raise AnalyticsError(
            "distance_m and within must be positive and min_cases at least 2, got "
            f"{distance_m}, {within}, {min_cases}"
        )
    columns = ["category", "cases", "cell", "first", "last", "lon", "lat", "case_ids"]
    located = facts[facts["lon"].notna() & facts["lat"].notna()]
    if located.empty:
        return pd.DataFrame(columns=columns)
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    rows: list[dict[str, Any]] = []
    seconds = within.total_seconds()
    for category, group in located.groupby("category", sort=True):
        if len(group) < min_cases:
            continue
        x, y = transformer.transform(group["lon"].to_numpy(float), group["lat"].to_numpy(float))
        xy = np.column_stack([x, y])
        pairs = cKDTree(xy).query_pairs(distance_m, output_type="ndarray")
        if not len(pairs):
            continue
        at = pd.to_datetime(group["reported_at"], utc=True).astype("int64").to_numpy() / 1e9
        close = np.abs(at[pairs[:, 0]] - at[pairs[:, 1]]) <= seconds
        pairs = pairs[close]
        if not len(pairs):
            continue
        n = len(group)
        links = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        _, labels = csgraph.connected_components(links, directed=False)
        sizes = np.bincount(labels)
        for label in np.flatnonzero(sizes >= min_cases):
            member = group.iloc[np.flatnonzero(labels == label)]
            cells = member["cell"].dropna()
            when = pd.to_datetime(member["reported_at"], utc=True)
            rows.append(
                {
                    "category": category,
                    "cases": len(member),
                    "cell": cells.mode().iloc[0] if len(cells) else None,
                    "first": when.min(),
                    "last": when.max(),
                    "lon": float(member["lon"].mean()),
                    "lat": float(member["lat"].mean()),
                    "case_ids": list(member["case_id"]),
                }
            )
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["cases", "first"], ascending=[False, True]).reset_index(drop=True)


__all__ = [
    "QUADRANTS",
    "benjamini_hochberg",
    "graph_to_weights",
    "hot_spots",
    "pseudo_p",
    "recurring_problems",
]
