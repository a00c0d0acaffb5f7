"""Tables for managers: case facts to times and KPIs, performance per unit, workload, coverage.

Pure functions over frames: the case facts of :meth:`gridmgr.store.Store.case_facts` (one row
per case, :data:`CASE_FACT_COLUMNS`), the coverage frame of :func:`gridmgr.patrols.patrol_coverage`,
a :class:`~gridmgr.grid.model.Grid` and a :class:`~gridmgr.responsibility.roster.Roster`.

- **time to sign** (签收时长): first ``dispatch`` → first ``accept``; **time to handle** (处置
  时长): first ``accept`` → first ``handle``; **time to close** (结案时长): ``report`` → ``close``.
  Wall-clock hours (the SLA clocks count working time; these say how long a citizen waited).
- **finished**: closed or evaluated. **On time**: finished with no stage escalated (the
  command center's KPI). Open and rejected cases are not in on-time rates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridmgr.analytics.ranking import MIN_CASES, rank_on_time
from gridmgr.errors import AnalyticsError

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.roster import Roster

FINISHED = ("closed", "evaluated")
"""Case states that count as finished for on-time rates and times to close."""
OPEN_STATES = ("reported", "registered", "dispatched", "accepted", "in_progress", "handled",
               "verified", "returned")  # fmt: skip
CASE_FACT_COLUMNS = [
    "case_id", "number", "category", "state", "queue", "cell", "tier1", "tier2",
    "assignee_id", "assignee_name", "reported_at", "dispatched_at", "accepted_at",
    "handled_at", "closed_at", "escalations", "escalation_level", "return_count",
    "reopen_count", "lon", "lat", "channel", "rating",
]  # fmt: skip
"""The columns of a case-facts frame (times aware, UTC; ``channel`` is how the report came in,
``grid_worker``, ``hotline``, ``citizen`` …; ``rating`` the 评价 1..5, ``NaN`` if none)."""
TIME_COLUMNS = ("sign_h", "handle_h", "close_h")
GROUPS = ("cell", "tier2", "tier1", "assignee", "category")
"""What performance can be grouped by: a cell, a community, a town, an owner, a category."""

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
    for col in ("lon", "lat", "rating"):
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
    ``sign_h``, ``handle_h``, ``close_h``, and the columns of
    :func:`~gridmgr.analytics.ranking.rank_on_time`. Cases without a unit (out of the grid, never
    assigned) are left out.
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
    "FINISHED",
    "GROUPS",
    "OPEN_STATES",
    "TIME_COLUMNS",
    "case_times",
    "cases_per_cell",
    "cell_counts",
    "coverage_by_tier",
    "empty_facts",
    "names_of",
    "owner_workload",
    "performance",
    "state_counts",
    "time_summary",
    "vacancies",
]
