"""The monthly scorecard (考核) of grid workers, communities and towns.

Eight indicators, each a count out of a count (its numerator and denominator are shown):

- **主动发现率** ``discovery``: grid-worker reports, of grid-worker + hotline + citizen cases;
- **按时签收率 / 按时处置率 / 按时核查率** ``sign_on_time``, ``handle_on_time``,
  ``verify_on_time``: stages of that kind finished by their deadline (the deadline the stage
  started with, or the one an approved deferral gave it; a stage still running past its
  deadline at ``now`` counts as late, one still within it does not count yet);
- **返工率** ``rework``: dispatched cases returned (退回) or reopened (重开) — lower is better;
- **巡查覆盖率** ``coverage``: m² of the cells patrolled in the month, of their m²;
- **满意度** ``satisfaction``: rated cases rated at least ``satisfied_rating``;
- **漏报率** ``missed``: hotline and citizen cases flagged as missed reports
  (:mod:`gridmgr.analytics.missed`), of hotline and citizen cases — lower is better.

Every indicator is counted per cell from the cases *located* in it, then summed up to the unit:
a worker answers for the cells he holds, a community and a town for the cells under them. Each
count indicator is shrunk toward the level's mean (the empirical-Bayes beta prior of
:mod:`gridmgr.analytics.ranking`); an indicator below its minimum sample scores the level's
mean. The composite ``score`` (0..100) is the weighted mean of the oriented, shrunk indicators;
units with at least ``min_cases`` cases are ranked by it. Weights and minimums come from
``data/assessment.toml`` (:func:`read_assessment_config`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridmgr.analytics.missed import CALLED_IN, FOUND
from gridmgr.analytics.ranking import fit_beta_prior, shrink_rates
from gridmgr.errors import AnalyticsError


@dataclass(frozen=True)
class Indicator:
    """One indicator of the scorecard."""

    key: str
    label_zh: str
    higher_is_better: bool = True
    shrunk: bool = True


INDICATORS = (
    Indicator("discovery", "主动发现率"),
    Indicator("sign_on_time", "按时签收率"),
    Indicator("handle_on_time", "按时处置率"),
    Indicator("verify_on_time", "按时核查率"),
    Indicator("rework", "返工率", higher_is_better=False),
    Indicator("coverage", "巡查覆盖率", shrunk=False),
    Indicator("satisfaction", "满意度"),
    Indicator("missed", "漏报率", higher_is_better=False),
)
KEYS = tuple(i.key for i in INDICATORS)
LEVELS = ("worker", "community", "town")
"""The units assessed: a grid worker (his cells), a community (tier 2), a town (tier 1)."""
STAGE_OF_STATE = {"dispatched": "sign", "accepted": "handle", "in_progress": "handle",
                  "handled": "verify"}  # fmt: skip
"""The assessed stage each state runs (others run stages the command center answers for)."""


@dataclass(frozen=True)
class AssessmentConfig:
    """Weights, minimum samples and the missed-report rule (see ``data/assessment.toml``)."""

    weights: Mapping[str, float]
    min_samples: Mapping[str, int]
    min_cases: int = 10
    satisfied_rating: int = 4
    missed_distance_m: float = 50.0
    missed_hours: float = 24.0
    appeal_days: float = 5.0


def parse_assessment_config(text: str, *, source: str = "assessment.toml") -> AssessmentConfig:
    """The configuration in TOML ``text``; every problem named with its key.

    >>> cfg = parse_assessment_config('''
    ... [weights]
    ... discovery = 1
    ... [missed_report]
    ... distance_m = 30
    ... ''')
    >>> cfg.weights["discovery"], cfg.weights["coverage"], cfg.missed_distance_m
    (1.0, 0.0, 30.0)
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnalyticsError(f"{source}: not valid TOML: {exc}") from exc
    unknown = set(doc) - {"weights", "min_samples", "ranking", "missed_report", "appeals"}
    for table in ("weights", "min_samples"):
        unknown |= {f"{table}.{k}" for k in doc.get(table, {}) if k not in KEYS}
    if unknown:
        raise AnalyticsError(
            f"{source}: unknown keys {', '.join(sorted(unknown))}; indicators are {', '.join(KEYS)}"
        )
    ranking, missed = doc.get("ranking", {}), doc.get("missed_report", {})
    try:
        cfg = AssessmentConfig(
            weights={k: float(doc.get("weights", {}).get(k, 0.0)) for k in KEYS},
            min_samples={k: int(doc.get("min_samples", {}).get(k, 0)) for k in KEYS},
            min_cases=int(ranking.get("min_cases", 10)),
            satisfied_rating=int(ranking.get("satisfied_rating", 4)),
            missed_distance_m=float(missed.get("distance_m", 50.0)),
            missed_hours=float(missed.get("hours", 24.0)),
            appeal_days=float(doc.get("appeals", {}).get("decision_days", 5.0)),
        )
    except (TypeError, ValueError) as exc:
        raise AnalyticsError(f"{source}: a value is not a number: {exc}") from exc
    if any(w < 0 for w in cfg.weights.values()) or not sum(cfg.weights.values()) > 0:
        raise AnalyticsError(f"{source}: weights must be >= 0 and not all 0")
    if cfg.min_cases < 1 or not 1 <= cfg.satisfied_rating <= 5:
        raise AnalyticsError(f"{source}: min_cases must be >= 1, satisfied_rating 1..5")
    if cfg.missed_distance_m <= 0 or cfg.missed_hours <= 0:
        raise AnalyticsError(f"{source}: missed_report distance_m and hours must be positive")
    if cfg.appeal_days <= 0:
        raise AnalyticsError(f"{source}: appeals decision_days must be positive")
    return cfg


def read_assessment_config(path: Path | None = None) -> AssessmentConfig:
    """The configuration in ``path`` (default: the shipped ``data/assessment.toml``)."""
    if path is None:
        from gridmgr.shipped import shipped_data_dir

        path = shipped_data_dir() / "assessment.toml"
    return parse_assessment_config(path.read_text(encoding="utf-8"), source=str(path))


# -- per case and per cell ------------------------------------------------------------------


def stage_punctuality(events: pd.DataFrame, *, now: datetime) -> pd.DataFrame:
    """Per case, the sign, handle and verify stages counted and those finished on time.

    ``events`` is :meth:`gridmgr.store.Store.stage_events`' frame (in order per case). A stage
    runs from the event entering a state of it (:data:`STAGE_OF_STATE`) to the next event
    leaving it; its deadline is the last ``due_at`` set while it ran (escalations set the
    rung's, not the stage's, and are skipped). Columns ``case_id`` and ``<stage>_n``,
    ``<stage>_ok`` for sign, handle, verify.
    """
    columns = ["case_id"] + [f"{s}_{k}" for s in ("sign", "handle", "verify") for k in ["n", "ok"]]
    if events.empty:
        return pd.DataFrame(columns=columns)
    ev = events.sort_values(["case_id", "seq"], kind="stable").reset_index(drop=True)
    stage = ev["to_state"].map(STAGE_OF_STATE).fillna("")
    first = ev["case_id"].ne(ev["case_id"].shift())
    segment = (first | stage.ne(stage.shift())).cumsum()
    due = pd.to_datetime(ev["due_at"].where(ev["action"] != "escalate"), utc=True, format="ISO8601")
    frame = pd.DataFrame({"case_id": ev["case_id"], "segment": segment, "stage": stage,
                          "at": ev["at"], "due": due})  # fmt: skip
    spans = frame.groupby("segment", sort=True).agg(
        case_id=("case_id", "first"), stage=("stage", "first"), start=("at", "first"),
        due=("due", "last"))  # fmt: skip
    nxt_case = spans["case_id"].shift(-1)
    spans["end"] = spans["start"].shift(-1).where(nxt_case == spans["case_id"])
    spans = spans[spans["stage"] != ""]
    stamp = pd.Timestamp(now).tz_convert("UTC")
    finished = spans["end"].notna()
    late_open = ~finished & (spans["due"] < stamp)
    spans = spans.assign(n=finished | late_open, ok=finished & (spans["end"] <= spans["due"]))
    wide = spans.pivot_table(index="case_id", columns="stage", values=["n", "ok"], aggfunc="sum",
                             fill_value=0)  # fmt: skip
    out = pd.DataFrame(index=wide.index)
    for s in ("sign", "handle", "verify"):
        for k in ("n", "ok"):
            out[f"{s}_{k}"] = wide[(k, s)].astype(int) if (k, s) in wide.columns else 0
    return out.reset_index()[columns]


def cell_counts(
    facts: pd.DataFrame,
    stages: pd.DataFrame,
    coverage: pd.DataFrame,
    missed: pd.DataFrame,
    config: AssessmentConfig,
) -> pd.DataFrame:
    """Every indicator's numerator and denominator per tier-3 cell (one row per cell of
    ``coverage``, a :func:`gridmgr.patrols.patrol_coverage` frame over the month): ``cell``,
    ``cases`` and ``<indicator>_num``, ``<indicator>_den``."""
    f = facts[facts["cell"].notna()].merge(stages, on="case_id", how="left")
    channel = f["channel"]
    flagged = f["case_id"].isin(set(missed["case_id"]))
    per_case = pd.DataFrame({"cell": f["cell"], "cases": 1,
        "discovery_num": channel == FOUND, "discovery_den": channel.isin((FOUND, *CALLED_IN)),
        "rework_num": (f["return_count"] > 0) | (f["reopen_count"] > 0),
        "rework_den": f["dispatched_at"].notna(),
        "satisfaction_num": f["rating"] >= config.satisfied_rating,
        "satisfaction_den": f["rating"].notna(),
        "missed_num": flagged & channel.isin(CALLED_IN), "missed_den": channel.isin(CALLED_IN),
    })  # fmt: skip
    for s in ("sign", "handle", "verify"):
        per_case[f"{s}_on_time_num"] = f[f"{s}_ok"].fillna(0).astype(int)
        per_case[f"{s}_on_time_den"] = f[f"{s}_n"].fillna(0).astype(int)
    summed = per_case.groupby("cell").sum().astype(int)
    out = pd.DataFrame({"cell": coverage["cell"].to_numpy()}).set_index("cell")
    out = out.join(summed).fillna(0).astype(int)
    cov = coverage.set_index("cell")
    out["coverage_num"] = cov["covered_m2"].reindex(out.index).fillna(0.0)
    out["coverage_den"] = cov["area_m2"].reindex(out.index).fillna(0.0)
    return out.reset_index()[["cell", "cases", *(f"{k}_{p}" for k in KEYS for p in ("num", "den"))]]


# -- per unit -------------------------------------------------------------------------------


def scorecard(
    counts: pd.DataFrame,
    unit_of_cell: Mapping[str, str],
    config: AssessmentConfig,
    *,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The scorecard of the units ``unit_of_cell`` maps cells to (cells it does not map are
    left out), from :func:`cell_counts`.

    One row per unit, best first: ``unit``, ``name``, ``cases``, and for each indicator
    ``<key>_num``, ``<key>_den``, ``<key>_rate`` (raw), ``<key>_eb`` (shrunk) and
    ``<key>_score`` (oriented 0..1: higher is better); then ``score`` (0..100), ``ranked``
    and ``rank`` (1 = best; ``NaN`` below ``min_cases``).
    """
    frame = counts.assign(unit=counts["cell"].map(unit_of_cell))
    frame = frame[frame["unit"].notna()].drop(columns="cell")
    out = frame.groupby("unit", sort=True).sum()
    total_w = sum(config.weights.values())
    score = np.zeros(len(out))
    for ind in INDICATORS:
        num, den = out[f"{ind.key}_num"].to_numpy(float), out[f"{ind.key}_den"].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(den > 0, num / den, np.nan)
        if ind.shrunk:
            prior = fit_beta_prior(num, den)
            eb = np.where(den > 0, shrink_rates(num, den, prior), prior.mean)
            neutral = prior.mean
        else:
            eb = rate
            neutral = float(np.nansum(num) / np.nansum(den)) if np.nansum(den) > 0 else 0.0
        eb = np.where(den >= max(config.min_samples[ind.key], 1), eb, neutral)
        oriented = eb if ind.higher_is_better else 1.0 - eb
        out[f"{ind.key}_rate"], out[f"{ind.key}_eb"] = rate, eb
        out[f"{ind.key}_score"] = oriented
        score += config.weights[ind.key] * np.nan_to_num(oriented, nan=0.5)
    out["score"] = 100.0 * score / total_w
    out["ranked"] = out["cases"] >= config.min_cases
    out["rank"] = out.loc[out["ranked"], "score"].rank(ascending=False, method="min")
    out = out.reset_index()
    out.insert(1, "name", [(names or {}).get(str(u), str(u)) for u in out["unit"]])
    columns = ["unit", "name", "cases"]
    for k in KEYS:
        columns += [f"{k}_{p}" for p in ("num", "den", "rate", "eb", "score")]
    out = out[[*columns, "score", "ranked", "rank"]]
    return out.sort_values(["rank", "score"], ascending=[True, False], na_position="last",
                           ignore_index=True)  # fmt: skip


def scorecard_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A scorecard as JSON-ready rows (NaN → ``None``, numbers rounded to 6 places), the form
    that is stored, hashed and compared when a month is closed."""
    rows = []
    for rec in frame.to_dict("records"):
        row: dict[str, Any] = {}
        for key, v in rec.items():
            k = str(key)
            if isinstance(v, (bool, np.bool_)):
                row[k] = bool(v)
            elif isinstance(v, (int, np.integer)):
                row[k] = int(v)
            elif isinstance(v, (float, np.floating)):
                row[k] = None if np.isnan(v) else round(float(v), 6)
            else:
                row[k] = None if v is None else str(v)
        rows.append(row)
    return rows


def scorecard_workbook(body: Mapping[str, Any], *, status: str) -> Any:
    """A scorecard body (as stored) as an ``openpyxl`` workbook: a sheet per level — rank, unit,
    name, cases, score, then each indicator's numerator, denominator and rate — and one of the
    missed reports; the first row of each sheet says which month and whether it is frozen."""
    from openpyxl import Workbook

    book = Workbook()
    for blank in list(book.worksheets):  # a new workbook comes with one empty sheet
        book.remove(blank)
    header = ["排名 rank", "单位 unit", "名称 name", "案件 cases", "综合得分 score"]
    for ind in INDICATORS:
        header += [f"{ind.label_zh} 分子", f"{ind.label_zh} 分母", f"{ind.label_zh} 比率"]
    for level, rows in body.get("levels", {}).items():
        sheet = book.create_sheet(title=level)
        sheet.append([f"{body.get('month', '')} 考核 ({level}): {status}"])
        sheet.append(header)
        for row in rows:
            values = [row.get("rank"), row.get("unit"), row.get("name"), row.get("cases")]
            values.append(row.get("score"))
            for ind in INDICATORS:
                values += [row.get(f"{ind.key}_{part}") for part in ("num", "den", "rate")]
            sheet.append(values)
    missed = list(body.get("missed", []))
    sheet = book.create_sheet(title="missed 漏报")
    columns = sorted({k for row in missed for k in row}) or ["case_id"]
    sheet.append(columns)
    for row in missed:
        sheet.append([row.get(c) for c in columns])
    return book


def scorecard_csv_rows(body: Mapping[str, Any], *, status: str) -> list[list[Any]]:
    """A scorecard body (as stored) as CSV rows: a header, then one row per unit of every
    level — level, rank, unit, name, cases, score, each indicator's numerator, denominator and
    rate, and the status (which month, frozen or not, which version) on every row, so a
    spreadsheet filtered to a few rows still says what it shows."""
    header = ["level", "rank", "unit", "name", "cases", "score"]
    for ind in INDICATORS:
        header += [f"{ind.key}_num", f"{ind.key}_den", f"{ind.key}_rate"]
    header.append("status")
    out: list[list[Any]] = [header]
    for level, rows in body.get("levels", {}).items():
        for row in rows:
            values = [level, row.get("rank"), row.get("unit"), row.get("name"), row.get("cases")]
            values.append(row.get("score"))
            for ind in INDICATORS:
                values += [row.get(f"{ind.key}_{part}") for part in ("num", "den", "rate")]
            values.append(status)
            out.append(values)
    return out


__all__ = [
    "INDICATORS",
    "KEYS",
    "LEVELS",
    "STAGE_OF_STATE",
    "AssessmentConfig",
    "Indicator",
    "cell_counts",
    "parse_assessment_config",
    "read_assessment_config",
    "scorecard",
    "scorecard_csv_rows",
    "scorecard_to_records",
    "scorecard_workbook",
    "stage_punctuality",
]
