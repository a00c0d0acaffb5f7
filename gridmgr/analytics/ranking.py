"""Fair ranking of units by on-time rate: Wilson intervals, an empirical-Bayes prior, shrunk rates.

Only units with at least ``min_cases`` finished cases are ranked, by their empirical-Bayes
(beta-binomial) on-time rate, shown with a 95 % Wilson interval: a cell with two cases is neither
first nor last, and a rate from a handful of cases is pulled toward the city's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from gridmgr.errors import AnalyticsError

MIN_CASES = 10
"""Fewest finished cases a unit needs to be ranked (a control on the coverage page)."""
Z95 = 1.959963984540054
"""The two-sided 95 % normal quantile, the default ``z`` of :func:`wilson_interval`."""


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


__all__ = [
    "MAX_STRENGTH",
    "MIN_CASES",
    "Z95",
    "BetaPrior",
    "fit_beta_prior",
    "rank_on_time",
    "shrink_rates",
    "wilson_interval",
]
