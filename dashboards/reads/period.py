"""What the analysis page shows of a month's cases: the hot spots (Gi* and local Moran with FDR
control), the recurring problems and the stage times by town and by category — the functions
of :mod:`gridmgr.analytics` the notebooks call (``notebooks/hotspots.ipynb``,
``notebooks/performance.ipynb``), over the cells and cases the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from dashboards.reads.analysis import require_reader
from gridmgr import analytics
from gridmgr.access import Caller
from gridmgr.errors import AnalyticsError
from gridmgr.services.assessments import month_bounds
from gridmgr.services.context import Services

if TYPE_CHECKING:
    from dashboards.reads.coverage import MinuteCache

PERMUTATIONS = 999
"""Permutations of the page's hot-spot inference (the notebook defaults to 9999; 999 keeps the
page to about two seconds city-wide, at a p-value floor of 0.001)."""
RECURRING_DISTANCE_M = 100.0
RECURRING_DAYS = 7
RECURRING_MIN_CASES = 3
"""Recurring problems: cases of one category within 100 m and 7 days, chained, 3 or more."""


@dataclass(frozen=True)
class PeriodAnalysis:
    """A month's cases analysed for one caller (his cells only, unless city-wide)."""

    month: str
    until: datetime
    cases: int
    cells: int
    spots: pd.DataFrame
    """:func:`gridmgr.analytics.hot_spots` per cell, with the cell's ``name``."""
    recurring: pd.DataFrame
    """:func:`gridmgr.analytics.recurring_problems`, with the cell's ``name``."""
    by_town: pd.DataFrame
    """:func:`gridmgr.analytics.time_summary` by ``tier1``, with the town's ``name``."""
    by_category: pd.DataFrame
    """:func:`gridmgr.analytics.time_summary` by ``category``, busiest first."""
    permutations: int = PERMUTATIONS


def period_analysis(
    services: Services,
    caller: Caller,
    month: str,
    *,
    cache: MinuteCache | None = None,
    permutations: int = PERMUTATIONS,
) -> PeriodAnalysis:
    """The month's analysis for ``caller`` (computed at most once a minute per month and scope
    when a ``cache`` is given)."""
    require_reader(caller)
    start, end = month_bounds(month)
    now = services.now()
    if now <= start:
        raise AnalyticsError(f"{month} has not begun")

    def compute() -> PeriodAnalysis:
        return _analyse(services, caller, month, min(end, now), permutations)

    if cache is None:
        return compute()
    return cache.get(("period", month, caller.scope, permutations), now, compute)


def _analyse(
    services: Services, caller: Caller, month: str, until: datetime, permutations: int
) -> PeriodAnalysis:
    grid = services.grid
    start, _ = month_bounds(month)
    facts = services.store.case_facts(since=start, until=until, scope=caller.scope)
    codes = [c for c in grid.codes(3) if caller.covers(c)]
    names = analytics.names_of(grid, codes)
    counts = analytics.cell_counts(facts, codes)
    try:
        spots = analytics.hot_spots(
            counts, services.context.adjacency[3], permutations=permutations, seed=2026
        )
    except AnalyticsError:  # fewer than 3 cells in scope: no neighbourhood to judge
        spots = pd.DataFrame({"cell": codes, "value": counts.to_numpy(), "hot": False,
                              "cold": False, "cluster": "ns", "gi_z": float("nan")})  # fmt: skip
    spots["name"] = spots["cell"].map(names)
    recurring = analytics.recurring_problems(
        facts,
        crs=grid.meta.metric_crs,
        distance_m=RECURRING_DISTANCE_M,
        within=pd.Timedelta(days=RECURRING_DAYS).to_pytimedelta(),
        min_cases=RECURRING_MIN_CASES,
    )
    recurring["name"] = recurring["cell"].map(lambda c: names.get(str(c), str(c)))
    times = analytics.case_times(facts)
    by_town = analytics.time_summary(times, by=["tier1"])
    towns = analytics.names_of(grid, [str(c) for c in by_town["tier1"]])
    by_town.insert(1, "name", by_town["tier1"].map(lambda c: towns.get(str(c), str(c))))
    by_category = analytics.time_summary(times, by=["category"])
    by_category = by_category.sort_values("cases", ascending=False, ignore_index=True)
    return PeriodAnalysis(month, until, len(facts), len(codes), spots, recurring, by_town,
                          by_category, permutations)  # fmt: skip


__all__ = ["PERMUTATIONS", "PeriodAnalysis", "period_analysis"]
