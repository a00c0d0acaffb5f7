"""Appeals (申诉) of a closed month's scorecard: filed by a town leader or a grid head for a unit
in his area, decided by a manager within a deadline, an upheld one publishing a corrected
version.

An open appeal is an inbox: it names the manager it waits for (the command center's head,
指挥中心主任, else the city leader on duty) and a deadline (``decision_days`` working days of
the official calendar, ``data/assessment.toml``); an appeal past it is a red line of the
"nothing escapes" check (:mod:`gridmgr.services.invariants`). An upheld appeal waives the
appealed indicator for the appealed unit (:mod:`gridmgr.analytics.appeals`) in a new version
of the month that names the one it supersedes; the frozen versions never change.
"""

from __future__ import annotations

from datetime import timedelta

from gridmgr.access import Caller
from gridmgr.analytics.appeals import appealed_row, waive_indicator
from gridmgr.analytics.scorecard import AssessmentConfig, read_assessment_config
from gridmgr.cases import Role
from gridmgr.errors import AnalyticsError, ForbiddenError
from gridmgr.responsibility.roster import CENTER_LEADER, CITY_LEADER, PostKind
from gridmgr.services.assessments import body_digest, month_bounds, stored_month
from gridmgr.services.context import Services
from gridmgr.store import Appeal, ClosedAssessment

APPELLANTS = (Role.LEADER, Role.HEAD)
"""Who may appeal: a town leader (镇街负责人) or a grid head (网格长), within his area."""
DECIDERS = (Role.MANAGER,)
"""Who decides appeals: managers (the command center's head, the city leaders)."""


def _text(value: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise AnalyticsError(f"{what} needs a reason")
    if len(text) > 2000:
        raise AnalyticsError(f"{what}: the reason has {len(text)} characters; 2000 at most")
    return text


def unit_cells(services: Services, month: str, level: str, unit: str) -> list[str]:
    """The tier-3 cells a unit answered for in ``month``: a worker's cells at the month's end
    (as the scorecard counts them), a town's or community's cells under it."""
    if level == "worker":
        _, end = month_bounds(month)
        held = services.roster.posts_of(unit, end - timedelta(seconds=1))
        return sorted(a.post.place for a in held if a.post.kind is PostKind.GRID_WORKER)
    return [c for c in services.grid.codes(3) if c.startswith(unit)]


def may_appeal_for(services: Services, caller: Caller, month: str, level: str, unit: str) -> bool:
    """Whether ``caller`` may appeal ``unit``'s figures: a town leader or a grid head whose
    area holds every cell the unit answered for (a grid head cannot appeal his town's)."""
    if caller.actor.role not in APPELLANTS or caller.scope is None:
        return False
    cells = unit_cells(services, month, level, unit)
    if level != "worker" and not any(unit.startswith(p) for p in caller.scope):
        return False
    return bool(cells) and all(caller.covers(c) for c in cells)


def decider_of(services: Services) -> str:
    """The manager an appeal waits for now: the command center's head, else the city leader
    (each post's owner: its holder, or the deputy while he is away)."""
    now = services.now()
    for post in (CENTER_LEADER, CITY_LEADER):
        person = services.roster.owner(post, now)
        if person is not None:
            return person.person_id
    raise AnalyticsError(
        "nobody holds the command center's head or the city leader's post now, so an appeal "
        "would have no one to decide it; fill the post (`gridmgr roster`) first"
    )


def file_appeal(
    services: Services,
    caller: Caller,
    month: str,
    *,
    level: str,
    unit: str,
    indicator: str,
    reason: str,
    client_id: str | None = None,
    config: AssessmentConfig | None = None,
) -> Appeal:
    """File the caller's appeal of ``indicator`` for ``unit`` (at ``level``) in the closed
    ``month``; it waits for a named manager, due in ``appeal_days`` working days.

    A resend with the same ``client_id`` records nothing twice."""
    text = _text(reason, "an appeal")
    if caller.actor.role not in APPELLANTS:
        raise ForbiddenError("appeals are filed by town leaders and grid heads, for their area")
    stored = stored_month(services, month)
    if stored is None:
        raise AnalyticsError(f"{month} is not closed; only a closed month's figures are appealed")
    appealed_row(stored.body, level=level, unit=unit, indicator=indicator)
    if not may_appeal_for(services, caller, month, level, unit):
        raise ForbiddenError(f"{unit} ({level}) is not in {caller.actor.name}'s area")
    cfg = config or read_assessment_config()
    now = services.now()
    calendar = services.calendar
    due = calendar.add_working_hours(now, cfg.appeal_days * calendar.hours.hours_per_day)
    return services.store.file_appeal(
        month=month, version=stored.version, level=level, unit=unit, indicator=indicator,
        reason=text, person_id=caller.actor.actor_id, at=now, decider_id=decider_of(services),
        due_at=due, client_id=client_id,
    )  # fmt: skip


def decide_appeal(
    services: Services, caller: Caller, appeal_id: str, *, uphold: bool, reason: str
) -> Appeal:
    """A manager's decision on an appeal, with his reason. Upheld: the month's latest version
    is corrected (the indicator waived for the unit) and stored as the next version, which
    names the one it supersedes; rejected: the scorecard stands."""
    text = _text(reason, "a decision")
    if caller.actor.role not in DECIDERS:
        raise ForbiddenError("appeals are decided by managers")
    appeal = services.store.appeal(appeal_id)

    def correct(latest: ClosedAssessment) -> tuple[dict[str, object], str]:
        body = waive_indicator(latest.body, level=appeal.level, unit=appeal.unit,
                               indicator=appeal.indicator, appeal_id=appeal.appeal_id)  # fmt: skip
        return body, body_digest(body)

    return services.store.decide_appeal(
        appeal_id, upheld=uphold, reason=text, person_id=caller.actor.actor_id,
        at=services.now(), correct=correct if uphold else None,
    )  # fmt: skip


def month_appeals(services: Services, caller: Caller, month: str) -> list[Appeal]:
    """The month's appeals the caller may see: all for city-wide roles; for a town leader or a
    grid head, those he filed or those about units in his area."""
    month_bounds(month)
    found = services.store.appeals(month)
    if caller.city_wide:
        return found
    if caller.actor.role not in APPELLANTS:
        raise ForbiddenError("a month's appeals are for managers, town leaders and grid heads")
    return [
        a
        for a in found
        if a.person_id == caller.actor.actor_id
        or may_appeal_for(services, caller, a.month, a.level, a.unit)
    ]


__all__ = [
    "APPELLANTS",
    "DECIDERS",
    "Appeal",
    "decide_appeal",
    "decider_of",
    "file_appeal",
    "may_appeal_for",
    "month_appeals",
    "unit_cells",
]
