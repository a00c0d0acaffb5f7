"""The correction an upheld appeal (申诉) makes to a closed scorecard: the appealed indicator is
waived for the appealed unit.

A town leader or a grid head appeals one indicator of one unit (a town, a community or a grid
worker) in a closed month. When a manager upholds the appeal, the figure is taken as not
assessable for that unit that month (免考核): the unit's composite score becomes the weighted
mean of its *other* indicators' oriented scores, as stored; the ranks of its level are
recomputed from the scores; nothing else changes — not the indicator's numerator and
denominator (the facts stay as they were), not the other units' scores, not the other levels
(a worker's waiver does not reach his community's figures, which are counted from the cells).
The correction works on the stored body alone, never on a recomputation from today's data,
so it changes exactly what the decision says. The body lists every waiver in ``corrections``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from gridmgr.analytics.scorecard import INDICATORS, KEYS, LEVELS
from gridmgr.errors import AnalyticsError

LABELS = {i.key: i.label_zh for i in INDICATORS}


def appealed_row(
    body: Mapping[str, Any], *, level: str, unit: str, indicator: str
) -> Mapping[str, Any]:
    """The row of ``unit`` at ``level`` in a scorecard body, after checking that ``indicator``
    is one of the scorecard's; each problem named with what may be chosen.

    >>> body = {"levels": {"town": [{"unit": "320281001", "score": 70.0}]}}
    >>> appealed_row(body, level="town", unit="320281001", indicator="missed")["score"]
    70.0
    >>> appealed_row(body, level="town", unit="320281001", indicator="speed")
    Traceback (most recent call last):
    ...
    gridmgr.errors.AnalyticsError: no indicator 'speed'; indicators are discovery, ...
    """
    if level not in LEVELS:
        raise AnalyticsError(f"no level {level!r}; levels are {', '.join(LEVELS)}")
    if indicator not in KEYS:
        raise AnalyticsError(f"no indicator {indicator[:40]!r}; indicators are {', '.join(KEYS)}")
    for row in body.get("levels", {}).get(level, []):
        if row.get("unit") == unit:
            return dict(row)
    raise AnalyticsError(f"{unit!r} is not a {level} of the {body.get('month', '')} scorecard")


def waived_indicators(body: Mapping[str, Any], *, level: str, unit: str) -> set[str]:
    """The indicators waived for ``unit`` at ``level`` by the corrections in ``body``."""
    return {
        str(c["indicator"])
        for c in body.get("corrections", [])
        if c.get("level") == level and c.get("unit") == unit
    }


def waive_indicator(
    body: Mapping[str, Any], *, level: str, unit: str, indicator: str, appeal_id: str
) -> dict[str, Any]:
    """A copy of ``body`` with ``indicator`` waived for ``unit`` at ``level`` (see the module
    docstring): its score recomputed without it, the level's ranks recomputed, the waiver
    added to ``corrections``. ``body`` itself is not changed.

    >>> body = {"month": "2026-11", "config": {"weights": {"discovery": 1, "missed": 1}},
    ...         "levels": {"town": [
    ...             {"unit": "a", "score": 60.0, "ranked": True, "rank": 1,
    ...              "discovery_score": 0.9, "missed_score": 0.3},
    ...             {"unit": "b", "score": 55.0, "ranked": True, "rank": 2,
    ...              "discovery_score": 0.8, "missed_score": 0.3}]}}
    >>> new = waive_indicator(body, level="town", unit="b", indicator="missed", appeal_id="AP1")
    >>> [(r["unit"], r["score"], r["rank"]) for r in new["levels"]["town"]]
    [('b', 80.0, 1), ('a', 60.0, 2)]
    >>> body["levels"]["town"][1]["score"], new["corrections"][0]["appeal_id"]
    (55.0, 'AP1')
    """
    appealed_row(body, level=level, unit=unit, indicator=indicator)
    out = copy.deepcopy(dict(body))
    correction = {"appeal_id": appeal_id, "level": level, "unit": unit, "indicator": indicator,
                  "effect": "waived"}  # fmt: skip
    out["corrections"] = [*out.get("corrections", []), correction]
    weights = {k: float(v) for k, v in out.get("config", {}).get("weights", {}).items()}
    rows = out["levels"][level]
    row = next(r for r in rows if r.get("unit") == unit)
    waived = waived_indicators(out, level=level, unit=unit)
    kept = {k: w for k, w in weights.items() if k not in waived and w > 0}
    total = sum(kept.values())
    if total > 0:
        score = sum(w * _or_neutral(row.get(f"{k}_score")) for k, w in kept.items())
        row["score"] = round(100.0 * score / total, 6)
    out["levels"][level] = rerank(rows)
    return out


def _or_neutral(value: Any) -> float:
    """An oriented indicator score, 0.5 where it is missing (as the scorecard counts it)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.5
    return float(value)


def rerank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows ranked again by score among the ``ranked`` ones (1 = best, ties share the better
    rank), best first, unranked last by score.

    >>> rerank([{"score": 1.0, "ranked": True}, {"score": 3.0, "ranked": False},
    ...         {"score": 2.0, "ranked": True}, {"score": 2.0, "ranked": True}])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'score': 2.0, 'ranked': True, 'rank': 1}, {'score': 2.0, 'ranked': True, 'rank': 1},
     {'score': 1.0, 'ranked': True, 'rank': 3}, {'score': 3.0, 'ranked': False, 'rank': None}]
    """
    ranked = sorted((r for r in rows if r.get("ranked")), key=lambda r: -float(r["score"]))
    for row in ranked:
        row["rank"] = 1 + sum(1 for other in ranked if float(other["score"]) > float(row["score"]))
    rest = sorted((r for r in rows if not r.get("ranked")), key=lambda r: -float(r["score"]))
    for row in rest:
        row["rank"] = None
    return ranked + rest


__all__ = ["LABELS", "appealed_row", "rerank", "waive_indicator", "waived_indicators"]
