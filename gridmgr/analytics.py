"""Analytics for managers: coverage, workload, hot spots, recurring problems, times, fair ranking.

Pure functions over frames: the case facts of :meth:`gridmgr.store.Store.case_facts` (one row
per case), the coverage frame of :func:`gridmgr.patrols.patrol_coverage`, a
:class:`~gridmgr.grid.model.Grid` and a
:class:`~gridmgr.responsibility.roster.Roster`. No SQL, no clock: the
period and ``now`` are passed in. The notebooks in ``notebooks/`` and the dashboard's coverage
review page call these same functions.

Definitions used throughout:

- **time to sign** (签收时长): first ``dispatch`` → first ``accept``; **time to handle** (处置
  时长): first ``accept`` → first ``handle``; **time to close** (结案时长): ``report`` → ``close``.
  Wall-clock hours (the SLA clocks count working time; these say how long a citizen waited).
- **finished**: closed or evaluated. **On time**: finished with no stage escalated (the
  command center's KPI). Open and rejected cases are not in on-time rates.
- **fair ranking**: only units with at least ``min_cases`` finished cases are ranked, by their
  empirical-Bayes (beta-binomial) on-time rate, shown with a 95 % Wilson interval.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from gridmgr.errors import GridMgrError

if TYPE_CHECKING:
    import networkx as nx

    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.roster import Roster

FINISHED = ("closed", "evaluated")
"""Case states that count as finished for on-time rates and times to close."""
OPEN_STATES = ("reported", "registered", "dispatched", "accepted", "in_progress", "handled",
               "verified", "returned")  # fmt: skip
MIN_CASES = 10
"""Fewest finished cases a unit needs to be ranked (a control on the coverage page)."""
Z95 = 1.959963984540054
CASE_FACT_COLUMNS = [
    "case_id", "number", "category", "state", "queue", "cell", "tier1", "tier2",
    "assignee_id", "assignee_name", "reported_at", "dispatched_at", "accepted_at",
    "handled_at", "closed_at", "escalations", "escalation_level", "return_count",
    "reopen_count", "lon", "lat",
]  # fmt: skip
"""The columns of a case-facts frame (times aware, UTC)."""
TIME_COLUMNS = ("sign_h", "handle_h", "close_h")
GROUPS = ("cell", "tier2", "tier1", "assignee", "category")
"""What performance can be grouped by: a cell, a community, a town, an owner, a category."""


class AnalyticsError(GridMgrError, ValueError):
    """Data or parameters an analysis cannot use as given."""


# -- case facts -----------------------------------------------------------------------------


def case_times(facts: pd.DataFrame) -> pd.DataFrame:
    """``facts`` with the hours to sign, handle and close and the outcome flags added.

    Adds ``sign_h``, ``handle_h``, ``close_h`` (``NaN`` where a step has not happened),
    ``finished``, ``on_time`` (finished and never escalated; ``NaN`` while not finished),
    ``escalated``, ``returned`` and ``reopened`` (booleans).

    >>> t = pd.Timestamp("2026-05-06 09:00", tz="UTC")
    >>> h = pd.Timedelta("1h")
    >>> facts = pd.DataFrame({"state": ["closed", "accepted"], "reported_at": [t, t],
    ...     "dispatched_at": [t, t + h], "accepted_at": [t + h, t + 3 * h],
    ...     "handled_at": [t + 5 * h, pd.NaT], "closed_at": [t + 8 * h, pd.NaT],
    ...     "escalations": [0, 1], "return_count": [0, 0], "reopen_count": [1, 0]})
    >>> case_times(facts)[["sign_h", "handle_h", "close_h", "on_time"]].to_dict("list")
    {'sign_h': [1.0, 2.0], 'handle_h': [4.0, nan], 'close_h': [8.0, nan], 'on_time': [1.0, nan]}
    """
    out = facts.copy()
    for col in ("reported_at", "dispatched_at", "accepted_at", "handled_at", "closed_at"):
        out[col] = pd.to_datetime(out[col], utc=True)

    def hours(end: str, start: str) -> pd.Series:
        return (out[end] - out[start]).dt.total_seconds() / 3600.0

    out["sign_h"] = hours("accepted_at", "dispatched_at")
    out["handle_h"] = hours("handled_at", "accepted_at")
    out["close_h"] = hours("closed_at", "reported_at")
    out["finished"] = out["state"].isin(FINISHED)
    out["escalated"] = out["escalations"].fillna(0).astype(int) > 0
    out["on_time"] = np.where(out["finished"], (~out["escalated"]).astype(float), np.nan)
    out["returned"] = out["return_count"].fillna(0).astype(int) > 0
    out["reopened"] = out["reopen_count"].fillna(0).astype(int) > 0
    return out


def empty_facts() -> pd.DataFrame:
    """A case-facts frame with no rows (the right columns and dtypes)."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in CASE_FACT_COLUMNS})
    for col in ("reported_at", "dispatched_at", "accepted_at", "handled_at", "closed_at"):
        frame[col] = pd.Series(dtype="datetime64[ns, UTC]")
    for col in ("escalations", "escalation_level", "return_count", "reopen_count", "number"):
        frame[col] = pd.Series(dtype="int64")
    for col in ("lon", "lat"):
        frame[col] = pd.Series(dtype=float)
    return frame


def _quantile(q: float) -> Any:
    def f(s: pd.Series) -> float:
        s = s.dropna()
        return float(s.quantile(q)) if len(s) else float("nan")

    f.__name__ = f"p{round(q * 100)}"
    return f


def time_summary(times: pd.DataFrame, *, by: Sequence[str] = ("category",)) -> pd.DataFrame:
    """Median and 90th percentile of the hours to sign, handle and close, per ``by``.

    ``times`` is a :func:`case_times` frame. One row per group with ``cases`` and, for each
    of ``sign_h``, ``handle_h``, ``close_h``: ``<name>_median``, ``<name>_p90`` and
    ``<name>_n`` (how many cases got that far).

    >>> times = pd.DataFrame({"category": ["a"] * 4, "sign_h": [1.0, 2.0, 3.0, 10.0],
    ...     "handle_h": [1.0] * 4, "close_h": [np.nan] * 4})
    >>> row = time_summary(times).iloc[0]
    >>> float(row["sign_h_median"]), round(float(row["sign_h_p90"]), 2), int(row["close_h_n"])
    (2.5, 7.9, 0)
    """
    keys = list(by)
    groups = times.groupby(keys, dropna=False, sort=True)
    out = groups.size().rename("cases").to_frame()
    for col in TIME_COLUMNS:
        g = groups[col]
        out[f"{col}_median"] = g.median()
        out[f"{col}_p90"] = g.agg(_quantile(0.9))
        out[f"{col}_n"] = g.count()
    return out.reset_index()


# -- fair rates -----------------------------------------------------------------------------


def wilson_interval(
    successes: Any, trials: Any, *, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of ``successes`` out of ``trials`` (vectorized; 0 trials → NaN).

    Unlike the normal approximation it stays inside [0, 1] and is honest for small counts:
    2 out of 2 is [0.34, 1.0], not [1.0, 1.0].

    >>> lo, hi = wilson_interval([2, 45], [2, 50])
    >>> [round(float(x), 4) for x in lo], [round(float(x), 4) for x in hi]
    ([0.3424, 0.7864], [1.0, 0.9565])
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        # the interval contains the observed rate; rounding must not push p = 1 above it
        lo = np.where(n > 0, np.clip(np.minimum(centre - half, p), 0.0, 1.0), np.nan)
        hi = np.where(n > 0, np.clip(np.maximum(centre + half, p), 0.0, 1.0), np.nan)
    return lo, hi


@dataclass(frozen=True)
class BetaPrior:
    """A beta prior Beta(``alpha``, ``beta``) over units' rates (mean ``alpha/(alpha+beta)``)."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        """``alpha + beta``: how many cases' worth of weight the prior carries."""
        return self.alpha + self.beta


MAX_STRENGTH = 1e6


def fit_beta_prior(successes: Any, trials: Any) -> BetaPrior:
    """The beta prior that best explains the units' counts (beta-binomial maximum likelihood).

    Units with no trials are ignored. With no spread between units beyond chance the
    likelihood is flat toward a strong prior and the fit stops at a strength of a thousand
    cases or more (every unit shrinks to the overall rate; at most :data:`MAX_STRENGTH`); with
    one unit, or all-or-nothing counts, the prior is the pooled rate at :data:`MAX_STRENGTH`;
    with no units at all it is uniform, Beta(1, 1).

    >>> prior = fit_beta_prior([8, 9, 7, 80, 85], [10, 10, 10, 100, 100])
    >>> round(prior.mean, 3)  # the pooled rate 189 / 230: no spread beyond chance here
    0.822
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    keep = n > 0
    k, n = k[keep], n[keep]
    if not len(n):
        return BetaPrior(1.0, 1.0)
    m = float(np.clip(k.sum() / n.sum(), 1e-6, 1 - 1e-6))
    if len(n) == 1 or k.sum() in (0.0, n.sum()):
        return BetaPrior(m * MAX_STRENGTH, (1 - m) * MAX_STRENGTH)

    def nll(theta: np.ndarray) -> float:
        a, b = np.exp(theta)
        ll = special.betaln(k + a, n - k + b) - special.betaln(a, b)
        return float(-ll.sum())

    # start from the method of moments (between-unit variance beyond binomial noise)
    p = k / n
    var = float(np.average((p - m) ** 2, weights=n)) - m * (1 - m) * float(np.mean(1 / n))
    s0 = m * (1 - m) / var - 1 if var > 0 else 1e3
    s0 = float(np.clip(s0, 1.0, MAX_STRENGTH))
    start = np.log([m * s0, (1 - m) * s0])
    bound = np.log(MAX_STRENGTH)
    result = optimize.minimize(
        nll, start, method="L-BFGS-B", bounds=[(-10.0, bound), (-10.0, bound)]
    )
    a, b = np.exp(result.x)
    return BetaPrior(float(a), float(b))


def shrink_rates(successes: Any, trials: Any, prior: BetaPrior) -> np.ndarray:
    """Posterior mean rates under ``prior``: ``(k + alpha) / (n + alpha + beta)``.

    A unit with few cases lands near the prior's mean; one with many keeps close to its own.

    >>> shrink_rates([2, 45], [2, 50], BetaPrior(8.0, 2.0)).round(4).tolist()
    [0.8333, 0.8833]
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    return np.asarray((k + prior.alpha) / (n + prior.strength), dtype=float)


def rank_on_time(
    counts: pd.DataFrame, *, min_cases: int = MIN_CASES, prior: BetaPrior | None = None
) -> pd.DataFrame:
    """A fair on-time ranking of units from their counts.

    ``counts`` has ``finished`` and ``on_time`` (counts) per row. Adds ``rate`` (raw),
    ``wilson_lo``, ``wilson_hi``, ``eb_rate`` (shrunk toward the prior fitted on *all* units
    unless one is given), ``ranked`` (``finished >= min_cases``) and ``rank`` (1 = best
    ``eb_rate``; ties share the best rank; ``NaN`` for units not ranked). So a cell with
    2 cases is never first or last: it is not ranked below the minimum, and above it its rate
    is pulled toward the city's.

    >>> counts = pd.DataFrame({"unit": ["a", "b", "c"], "finished": [2, 40, 40],
    ...                        "on_time": [2, 36, 28]})
    >>> rank_on_time(counts, min_cases=5)[["unit", "rank"]].to_dict("list")
    {'unit': ['a', 'b', 'c'], 'rank': [nan, 1.0, 2.0]}
    """
    if min_cases < 1:
        raise AnalyticsError(f"min_cases must be at least 1, got {min_cases}")
    out = counts.copy()
    n = out["finished"].to_numpy(float)
    k = out["on_time"].to_numpy(float)
    fitted = prior or fit_beta_prior(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate"] = np.where(n > 0, k / n, np.nan)
    out["wilson_lo"], out["wilson_hi"] = wilson_interval(k, n)
    out["eb_rate"] = np.where(n > 0, shrink_rates(k, n, fitted), np.nan)
    out["ranked"] = n >= min_cases
    ranks = out.loc[out["ranked"], "eb_rate"].rank(ascending=False, method="min")
    out["rank"] = ranks.reindex(out.index)
    out.attrs["prior"] = fitted
    return out


# -- performance per cell, community, town, owner, category ---------------------------------


def _group_key(by: str) -> str:
    if by not in GROUPS:
        raise AnalyticsError(f"cannot group by {by!r}: one of {', '.join(GROUPS)}")
    return "assignee_id" if by == "assignee" else by


def performance(
    facts: pd.DataFrame, *, by: str = "cell", min_cases: int = MIN_CASES
) -> pd.DataFrame:
    """Key figures per ``by`` (one of :data:`GROUPS`), fairly ranked by on-time rate.

    One row per unit: ``unit`` (code, or person id for ``assignee``), ``name`` (the owner's
    name for ``assignee``), ``cases``, ``finished``, ``on_time``, ``escalated``, ``returns``
    (sum of returns), ``reopen_rate`` (share of cases reopened at least once), the medians
    ``sign_h``, ``handle_h``, ``close_h``, and the columns of :func:`rank_on_time`. Cases
    without a unit (out of the grid, never assigned) are left out.
    """
    key = _group_key(by)
    times = case_times(facts) if "on_time" not in facts.columns else facts
    times = times[times[key].notna()]
    groups = times.groupby(key, sort=True)
    out = pd.DataFrame(
        {
            "cases": groups.size(),
            "finished": groups["finished"].sum().astype(int),
            "on_time": groups["on_time"].sum().astype(int),
            "escalated": groups["escalated"].sum().astype(int),
            "returns": groups["return_count"].sum().astype(int),
            "reopen_rate": groups["reopened"].mean(),
            "sign_h": groups["sign_h"].median(),
            "handle_h": groups["handle_h"].median(),
            "close_h": groups["close_h"].median(),
        }
    )
    out.index.name = "unit"
    out = out.reset_index()
    if by == "assignee":
        names = times.groupby(key)["assignee_name"].last()
        out.insert(1, "name", out["unit"].map(names).fillna(""))
    ranked = rank_on_time(out, min_cases=min_cases)
    return ranked.sort_values(["rank", "cases"], ascending=[True, False], na_position="last")


# -- workload, vacancies, cases over time ---------------------------------------------------


def owner_workload(
    facts: pd.DataFrame, *, now: datetime, due: pd.Series | None = None
) -> pd.DataFrame:
    """Per owner (assignee): cases assigned in the period, open now, finished, escalated.

    ``due`` optionally maps ``case_id`` → current deadline, to count ``overdue`` open cases.
    Busiest first.
    """
    frame = facts[facts["assignee_id"].notna()].copy()
    frame["open"] = frame["state"].isin(OPEN_STATES)
    frame["finished"] = frame["state"].isin(FINISHED)
    frame["escalated"] = frame["escalations"].fillna(0).astype(int) > 0
    if due is not None:
        deadline = pd.to_datetime(frame["case_id"].map(due), utc=True)
        frame["overdue"] = frame["open"] & (deadline <= pd.Timestamp(now))
    else:
        frame["overdue"] = False
    groups = frame.groupby("assignee_id", sort=True)
    out = pd.DataFrame(
        {
            "name": groups["assignee_name"].last(),
            "cases": groups.size(),
            "open": groups["open"].sum().astype(int),
            "overdue": groups["overdue"].sum().astype(int),
            "finished": groups["finished"].sum().astype(int),
            "escalated": groups["escalated"].sum().astype(int),
            "cells": groups["cell"].nunique(),
        }
    )
    out.index.name = "assignee_id"
    return out.reset_index().sort_values(["open", "cases"], ascending=False, kind="stable")


def vacancies(grid: Grid, roster: Roster, at: datetime) -> pd.DataFrame:
    """Vacant posts at ``at`` (cells with no owner at any tier, the command center, unit
    leaders), from :func:`gridmgr.responsibility.staffing.staffing_report`: ``subject``, ``tier``,
    ``since``, ``message``."""
    from gridmgr.responsibility.staffing import staffing_report

    frame = staffing_report(grid, roster, at).to_frame()
    return frame[frame["kind"] == "vacancy"].drop(columns="kind").reset_index(drop=True)


def cases_per_cell(
    facts: pd.DataFrame, *, freq: str = "D", tz: str = "Asia/Shanghai"
) -> pd.DataFrame:
    """Cases reported per cell and period (``freq``: ``D`` day, ``W`` week …, local time).

    Long form: ``cell``, ``period`` (the period's start, local), ``cases``. Out-of-grid
    cases are left out.
    """
    frame = facts[facts["cell"].notna()]
    local = pd.to_datetime(frame["reported_at"], utc=True).dt.tz_convert(tz)
    period = local.dt.tz_localize(None).dt.to_period(freq).dt.start_time
    out = frame.assign(period=period).groupby(["cell", "period"]).size().rename("cases")
    return out.reset_index()


def cell_counts(facts: pd.DataFrame, codes: Sequence[str]) -> pd.Series:
    """Cases per cell over ``codes`` (every cell, zero where none), in the order given."""
    counts = facts["cell"].value_counts()
    return pd.Series([int(counts.get(c, 0)) for c in codes], index=list(codes), name="cases")


# -- patrol coverage up the tiers -----------------------------------------------------------


def coverage_by_tier(
    grid: Grid, coverage: pd.DataFrame, *, tier: int, now: datetime, days: float = 7
) -> pd.DataFrame:
    """Patrol coverage of tier-1 or tier-2 cells, area-weighted over their unit cells.

    ``coverage`` is a :func:`gridmgr.patrols.patrol_coverage` frame (any subset of cells). One
    row per parent present: ``code``, ``name``, ``coverage`` (covered m² / area m²),
    ``cells``, ``blind`` (cells with no point for ``days`` days, see
    :func:`gridmgr.patrols.blind_spots`), ``blind_share`` and ``last_seen``. Least covered first.
    """
    from gridmgr.patrols import blind_spots

    if tier not in (1, 2):
        raise AnalyticsError(f"coverage aggregates to tier 1 or 2, got {tier}")
    frame = coverage.assign(parent=_ancestor(grid, coverage["cell"], tier))
    blind = set(blind_spots(coverage, now=now, days=days)["cell"])
    frame["blind"] = frame["cell"].isin(blind)
    groups = frame.groupby("parent", sort=True)
    out = pd.DataFrame(
        {
            "covered_m2": groups["covered_m2"].sum(),
            "area_m2": groups["area_m2"].sum(),
            "cells": groups.size(),
            "blind": groups["blind"].sum().astype(int),
            "last_seen": groups["last_seen"].max(),
        }
    )
    out["coverage"] = out["covered_m2"] / out["area_m2"].where(out["area_m2"] > 0)
    out["blind_share"] = out["blind"] / out["cells"]
    out.index.name = "code"
    out = out.reset_index()
    out.insert(1, "name", [str(grid.cell(c)["name"]) for c in out["code"]])
    columns = ["code", "name", "coverage", "cells", "blind", "blind_share", "last_seen"]
    return out[[*columns, "covered_m2", "area_m2"]].sort_values("coverage", kind="stable")


def _ancestor(grid: Grid, cells: pd.Series, tier: int) -> list[str]:
    parents = dict(zip(grid.tier(3)["code"], grid.tier(3)["parent_code"], strict=True))
    if tier == 2:
        return [parents[c] for c in cells]
    towns = dict(zip(grid.tier(2)["code"], grid.tier(2)["parent_code"], strict=True))
    return [towns[parents[c]] for c in cells]


# -- hot spots ------------------------------------------------------------------------------


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


# -- recurring problems ---------------------------------------------------------------------


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


# -- shares for charts ----------------------------------------------------------------------


def state_counts(facts: pd.DataFrame) -> pd.Series:
    """Cases per state, most frequent first."""
    return facts["state"].value_counts()


def names_of(grid: Grid, codes: Sequence[str]) -> Mapping[str, str]:
    """Cell names for ``codes`` (the code itself when the grid does not have it)."""
    known = dict(zip(grid.cells["code"], grid.cells["name"], strict=True))
    return {c: str(known.get(c, c)) for c in codes}


__all__ = [
    "CASE_FACT_COLUMNS",
    "GROUPS",
    "MIN_CASES",
    "AnalyticsError",
    "BetaPrior",
    "benjamini_hochberg",
    "case_times",
    "cases_per_cell",
    "cell_counts",
    "coverage_by_tier",
    "empty_facts",
    "fit_beta_prior",
    "graph_to_weights",
    "hot_spots",
    "names_of",
    "owner_workload",
    "performance",
    "pseudo_p",
    "rank_on_time",
    "recurring_problems",
    "shrink_rates",
    "state_counts",
    "time_summary",
    "vacancies",
    "wilson_interval",
]
