"""Analytics for managers: coverage, workload, hot spots, recurring problems, times, fair ranking.

Pure functions over frames: the case facts of :meth:`gridmgr.store.Store.case_facts` (one row
per case), the coverage frame of :func:`gridmgr.patrols.patrol_coverage`, a
:class:`~gridmgr.grid.model.Grid` and a
:class:`~gridmgr.responsibility.roster.Roster`. No SQL, no clock: the
period and ``now`` are passed in. The notebooks in ``notebooks/`` and the dashboard's coverage
review page call these same functions, as ``analytics.<name>``; they live in three modules:

- :mod:`gridmgr.analytics.tables`: case facts → times and KPIs, performance per cell, community,
  town, owner or category, workload, vacancies, cases per cell and period, patrol coverage up the
  tiers;
- :mod:`gridmgr.analytics.ranking`: Wilson intervals, the empirical-Bayes prior and fair ranks;
- :mod:`gridmgr.analytics.hotspots`: Getis-Ord Gi* and local Moran's I with FDR control, and
  recurring problems.

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

from gridmgr.analytics.hotspots import (
    QUADRANTS,
    benjamini_hochberg,
    graph_to_weights,
    hot_spots,
    pseudo_p,
    recurring_problems,
)
from gridmgr.analytics.ranking import (
    MAX_STRENGTH,
    MIN_CASES,
    Z95,
    BetaPrior,
    fit_beta_prior,
    rank_on_time,
    shrink_rates,
    wilson_interval,
)
from gridmgr.analytics.tables import (
    CASE_FACT_COLUMNS,
    FINISHED,
    GROUPS,
    OPEN_STATES,
    TIME_COLUMNS,
    case_times,
    cases_per_cell,
    cell_counts,
    coverage_by_tier,
    empty_facts,
    names_of,
    owner_workload,
    performance,
    state_counts,
    time_summary,
    vacancies,
)
from gridmgr.errors import AnalyticsError

__all__ = [
    "CASE_FACT_COLUMNS",
    "FINISHED",
    "GROUPS",
    "MAX_STRENGTH",
    "MIN_CASES",
    "OPEN_STATES",
    "QUADRANTS",
    "TIME_COLUMNS",
    "Z95",
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
