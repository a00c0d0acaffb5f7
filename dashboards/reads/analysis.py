"""What the analysis page shows of the 考核 and does with its appeals: a month's scorecard per
town, community or grid worker — the latest frozen version once the month is closed, else
computed on request — and the month's appeals (申诉), filed and decided through
:mod:`gridmgr.services.appeals`.

Managers and operators see the whole city; a town leader or a grid head sees the units of his
area (those he may appeal for) and their appeals; grid workers are refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gridmgr.access import Caller
from gridmgr.analytics.scorecard import INDICATORS, LEVELS, scorecard_to_records
from gridmgr.cases import Role
from gridmgr.errors import ForbiddenError
from gridmgr.responsibility.calendar import TZ
from gridmgr.services import appeals, assessments
from gridmgr.services.appeals import Appeal
from gridmgr.services.context import Services

__all__ = [
    "INDICATORS",
    "LEVELS",
    "AppealRow",
    "MonthView",
    "decide",
    "file",
    "may_decide",
    "may_file",
    "month_appeals",
    "month_view",
    "months",
    "require_reader",
]


def require_reader(caller: Caller) -> None:
    """Refuse the page to anyone but the command center, managers, town leaders and grid
    heads."""
    if not caller.city_wide and caller.actor.role not in appeals.APPELLANTS:
        raise ForbiddenError("this page is for the command center and managers")


def may_file(caller: Caller) -> bool:
    """Whether the caller files appeals (a town leader or a grid head)."""
    return caller.actor.role in appeals.APPELLANTS


def may_decide(caller: Caller) -> bool:
    """Whether the caller decides appeals (a manager)."""
    return caller.actor.role in appeals.DECIDERS


@dataclass(frozen=True)
class MonthView:
    """One month's scorecard at one level: its rows (numerators, denominators, scores, ranks),
    whether it is frozen (closed, with its version and digest) or computed now, and the
    version it supersedes (an upheld appeal's correction)."""

    month: str
    level: str
    rows: list[dict[str, Any]]
    frozen: bool
    version: int | None = None
    digest: str | None = None
    at: datetime | None = None
    supersedes: int | None = None
    corrections: list[dict[str, Any]] = field(default_factory=list)


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


def _visible(
    services: Services, caller: Caller, month: str, level: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if caller.city_wide:
        return rows
    return [r for r in rows if appeals.may_appeal_for(services, caller, month, level, r["unit"])]


def month_view(
    services: Services, caller: Caller, month: str, level: str, *, compute: bool
) -> MonthView | None:
    """The month's scorecard at ``level`` (the rows the caller may see): the latest stored
    version when the month is closed; otherwise computed now when ``compute`` (it reads a
    month of patrols: seconds), else ``None``."""
    require_reader(caller)
    if level not in LEVELS:
        level = "town"
    stored = assessments.stored_month(services, month)
    if stored is not None:
        rows = _visible(services, caller, month, level, list(stored.body["levels"][level]))
        return MonthView(month, level, rows, True, stored.version, stored.digest,
                         stored.closed_at, stored.supersedes,
                         list(stored.body.get("corrections", [])))  # fmt: skip
    if not compute:
        return None
    card = assessments.compute_month(services, month)
    rows = _visible(services, caller, month, level, scorecard_to_records(card.levels[level]))
    return MonthView(month, level, rows, False, at=card.computed_at)


@dataclass(frozen=True)
class AppealRow:
    """An appeal as the page lists it: the appeal, the names of its unit, its appellant and
    its decider, and whether it is past its deadline undecided."""

    appeal: Appeal
    unit_name: str
    by_name: str
    decider_name: str
    overdue: bool


def _person(services: Services, person_id: str) -> str:
    person = services.roster.persons.get(person_id)
    return person_id if person is None else person.name


def _unit_name(services: Services, level: str, unit: str) -> str:
    if level == "worker":
        return _person(services, unit)
    try:
        return str(services.grid.cell(unit)["name"])
    except LookupError:
        return unit


def month_appeals(services: Services, caller: Caller, month: str) -> list[AppealRow]:
    """The month's appeals the caller may see, oldest first."""
    require_reader(caller)
    now = services.now()
    return [
        AppealRow(
            a,
            _unit_name(services, a.level, a.unit),
            _person(services, a.person_id),
            _person(services, a.decider_id),
            a.decision is None and a.due_at <= now,
        )
        for a in appeals.month_appeals(services, caller, month)
    ]


def file(
    services: Services,
    caller: Caller,
    month: str,
    *,
    level: str,
    unit: str,
    indicator: str,
    reason: str,
    client_id: str | None,
) -> Appeal:
    """File the caller's appeal (see :func:`gridmgr.services.appeals.file_appeal`)."""
    require_reader(caller)
    return appeals.file_appeal(services, caller, month, level=level, unit=unit,
                               indicator=indicator, reason=reason, client_id=client_id)  # fmt: skip


def decide(
    services: Services, caller: Caller, appeal_id: str, *, uphold: bool, reason: str
) -> Appeal:
    """Decide an appeal (see :func:`gridmgr.services.appeals.decide_appeal`)."""
    require_reader(caller)
    if caller.actor.role is not Role.MANAGER:
        raise ForbiddenError("appeals are decided by managers")
    return appeals.decide_appeal(services, caller, appeal_id, uphold=uphold, reason=reason)
