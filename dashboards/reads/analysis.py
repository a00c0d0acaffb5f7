"""What the analysis page shows: a month's 考核 scorecard per town, community or grid worker —
the frozen version once the month is closed, else computed on request — for city-wide roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboards.permissions import require_city_wide
from gridmgr.access import Caller
from gridmgr.analytics.scorecard import INDICATORS, LEVELS, scorecard_to_records
from gridmgr.responsibility.calendar import TZ
from gridmgr.services import assessments
from gridmgr.services.context import Services

__all__ = ["INDICATORS", "LEVELS", "MonthView", "month_view", "months"]


@dataclass(frozen=True)
class MonthView:
    """One month's scorecard at one level: its rows (numerators, denominators, scores, ranks),
    whether it is frozen (closed, with its version and digest) or computed now."""

    month: str
    level: str
    rows: list[dict[str, Any]]
    frozen: bool
    version: int | None = None
    digest: str | None = None
    at: datetime | None = None


def months(now: datetime, count: int = 12) -> list[str]:
    """The last ``count`` months, this one first (``YYYY-MM``).

    >>> months(datetime(2026, 2, 10, tzinfo=TZ), 3)
    ['2026-02', '2026-01', '2025-12']
    """
    local = now.astimezone(TZ)
    year, month = local.year, local.month
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def month_view(
    services: Services, caller: Caller, month: str, level: str, *, compute: bool
) -> MonthView | None:
    """The month's scorecard at ``level``: the stored one when the month is closed; otherwise
    computed now when ``compute`` (it reads a month of patrols: seconds), else ``None``."""
    require_city_wide(caller)
    if level not in LEVELS:
        level = "town"
    stored = assessments.stored_month(services, month)
    if stored is not None:
        rows = list(stored.body.get("levels", {}).get(level, []))
        return MonthView(month, level, rows, True, stored.version, stored.digest, stored.closed_at)
    if not compute:
        return None
    card = assessments.compute_month(services, month)
    rows = scorecard_to_records(card.levels[level])
    return MonthView(month, level, rows, False, at=card.computed_at)
