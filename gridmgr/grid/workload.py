"""Workload: weighted points (enterprises, residents, past cases) that cells should share evenly.

A grid built from area alone gives a village of farmland and a town centre the same number of
cells per square kilometre. With workload points, the builder instead places seeds by a
weighted k-means whose density is the *square* of the workload density: in the plane, k-means
places seeds with a density proportional to the square root of the density it is given
(Gersho's rule), so squaring it makes the cells' shares of workload, rather than of area, about
equal. A share of the density (``area_share``) stays uniform, so empty fields still get cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from gridmgr.errors import GridError
from gridmgr.grid.model import Grid


@dataclass(frozen=True)
class Workload:
    """Weighted points in the builder's plane (metres): ``xy`` is (n, 2), ``weight`` is (n,)."""

    xy: NDArray[np.float64]
    weight: NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.xy.ndim != 2 or self.xy.shape[1] != 2 or len(self.xy) != len(self.weight):
            raise GridError("workload points need one (x, y) and one weight each")
        if len(self.weight) == 0 or not np.isfinite(self.weight).all():
            raise GridError("workload weights must be finite numbers, and at least one given")
        if (self.weight < 0).any() or self.weight.sum() <= 0:
            raise GridError("workload weights must be >= 0 with a positive total")

    def total_in(self, polys: NDArray[np.object_] | list[shapely.Geometry]) -> NDArray[np.float64]:
        """Total weight of the points inside each polygon (a point on a border counts once)."""
        polys = np.asarray(polys, dtype=object)
        pts = shapely.points(self.xy)
        tree = shapely.STRtree(polys)
        pt_idx, poly_idx = tree.query(pts, predicate="intersects")
        # a point on a shared border matches two cells: keep its first match only
        _, first = np.unique(pt_idx, return_index=True)
        out = np.zeros(len(polys))
        np.add.at(out, poly_idx[first], self.weight[pt_idx[first]])
        return out


def sample_density(
    samples: NDArray[np.float64], workload: Workload, *, area_share: float
) -> NDArray[np.float64]:
    """Relative workload density at each lattice sample: its nearest points' weight, blended.

    Each workload point gives its weight to its nearest sample; the result is normalized to a
    mean of 1 and blended with a uniform density (``area_share`` of the total).
    """
    raw = np.zeros(len(samples))
    if len(samples) > 1:
        _, nearest = cKDTree(samples).query(workload.xy)
        np.add.at(raw, nearest, workload.weight)
    else:
        raw[:] = workload.weight.sum()
    mean = raw.mean()
    rel = raw / mean if mean > 0 else np.ones(len(samples))
    return area_share + (1 - area_share) * rel


def weighted_kmeans(
    points: NDArray[np.float64],
    k: int,
    density: NDArray[np.float64],
    *,
    rng: np.random.Generator,
    iterations: int,
) -> NDArray[np.float64]:
    """``k`` seeds placing cells of about equal share of ``density`` (k-means on density²).

    Seeded k-means++ start, then Lloyd iterations with weighted centroids; deterministic for a
    given ``rng`` state.
    """
    if k >= len(points):
        return points[:k].copy()
    w = density**2
    seeds = _kmeans_plus_plus(points, k, w, rng)
    for _ in range(iterations):
        label = cKDTree(seeds).query(points)[1]
        mass = np.bincount(label, weights=w, minlength=k)
        sx = np.bincount(label, weights=w * points[:, 0], minlength=k)
        sy = np.bincount(label, weights=w * points[:, 1], minlength=k)
        moved = mass > 0
        new = seeds.copy()
        new[moved, 0] = sx[moved] / mass[moved]
        new[moved, 1] = sy[moved] / mass[moved]
        if np.allclose(new, seeds, atol=1e-6):
            return new
        seeds = new
    return seeds


def _kmeans_plus_plus(
    points: NDArray[np.float64], k: int, w: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.float64]:
    chosen = [int(rng.choice(len(points), p=w / w.sum()))]
    d2 = ((points - points[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        p = w * d2
        total = p.sum()
        i = int(rng.choice(len(points), p=p / total)) if total > 0 else int(np.argmax(d2))
        chosen.append(i)
        d2 = np.minimum(d2, ((points - points[i]) ** 2).sum(axis=1))
    return points[chosen].astype(np.float64)


def workload_balance(weights_per_cell: pd.DataFrame) -> pd.DataFrame:
    """Spread of workload per cell at each tier: min, median, max and coefficient of variation.

    ``weights_per_cell`` has columns ``tier`` and ``weight``.

    >>> frame = pd.DataFrame({"tier": [3, 3, 3], "weight": [1.0, 2.0, 3.0]})
    >>> round(float(workload_balance(frame).loc[3, "weight_cv"]), 3)
    0.408
    """
    rows = []
    for tier, group in weights_per_cell.groupby("tier"):
        w = group["weight"].to_numpy(dtype=float)
        mean = w.mean()
        rows.append(
            {
                "tier": tier,
                "cells": len(w),
                "weight_min": w.min(),
                "weight_median": float(np.median(w)),
                "weight_max": w.max(),
                "weight_cv": w.std() / mean if mean > 0 else 0.0,
            }
        )
    return pd.DataFrame(rows).set_index("tier")


def grid_workload(grid: Grid, workload: Workload) -> pd.DataFrame:
    """Spread of workload per cell at each tier (``workload`` in lon/lat): the balance reached."""
    rows = []
    for tier in (1, 2, 3):
        weights = workload.total_in(grid.tier(tier).geometry.values)
        rows += [{"tier": tier, "weight": w} for w in weights]
    return workload_balance(pd.DataFrame(rows))
