"""The stages of a case: which stage each open state runs, the fields that start one, and the
rungs of the 督办 ladder an overdue stage climbs.

Every open state runs one timed stage (:func:`stage_of`), so every open case has a named person
and a deadline; :func:`stage_changes` starts a stage, :func:`rung_changes` climbs one rung.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gridmgr.cases.model import Assignee, Case, CaseState, to_json_value
from gridmgr.responsibility.sla import Clock, Span, Stage

if TYPE_CHECKING:
    from gridmgr.responsibility.calendar import WorkCalendar
    from gridmgr.responsibility.catalog import Category

RUNG_SPAN = Span(2, "h")
"""How long a rung of the 督办 ladder gives its person (working time) when none is given."""

_STAGE_OF_STATE = {
    CaseState.REGISTERED: Stage.DISPATCH,
    CaseState.RETURNED: Stage.DISPATCH,
    CaseState.DISPATCHED: Stage.SIGN,
    CaseState.ACCEPTED: Stage.HANDLE,
    CaseState.IN_PROGRESS: Stage.HANDLE,
    CaseState.HANDLED: Stage.VERIFY,
    CaseState.VERIFIED: Stage.CLOSE,
}


def stage_of(case: Case, state: CaseState | None = None) -> Stage | None:
    """The stage ``case`` runs in ``state`` (default: its own): ``None`` once it is finished.

    A report runs 立案 (register) when it lies in a cell, 网格外 (triage) when its point is
    outside the grid, 定位 (place) when it has no point at all.

    >>> from gridmgr.responsibility.calendar import TZ
    >>> t = datetime(2026, 9, 30, 16, 0, tzinfo=TZ)
    >>> case = Case(case_id="C1", category="street_vending", state=CaseState.REPORTED,
    ...             reported_at=t, updated_at=t, reporter="hotline", description="摊贩",
    ...             generation_id="g")
    >>> from dataclasses import replace
    >>> stage_of(case).value, stage_of(replace(case, lon=121.0, lat=32.0)).value
    ('place', 'triage')
    >>> stage_of(case, CaseState.RETURNED).value, stage_of(case, CaseState.CLOSED)
    ('dispatch', None)
    """
    state = case.state if state is None else state
    if not state.is_open:
        return None
    if state is CaseState.REPORTED:
        if case.cell is not None:
            return Stage.REGISTER
        return Stage.PLACE if case.lon is None else Stage.TRIAGE
    return _STAGE_OF_STATE[state]


def stage_changes(
    case: Case,
    stage: Stage,
    *,
    at: datetime,
    calendar: WorkCalendar,
    category: Category,
    holder: Assignee | None,
) -> dict[str, Any]:
    """The fields that start ``stage`` at ``at``: its deadline on the category's SLA, its named
    ``holder``, a fresh ladder (rung 0) and no pending deferral."""
    due = calendar.deadline(at, category.sla[stage], category.clock)
    return {
        "stage": stage,
        "stage_started_at": at,
        "due_at": due,
        "stage_seq": case.stage_seq + 1,
        "stage_deferrals": 0,
        "deferral": None,
        "holder": holder,
        "rung": 0,
        "card": None,
    }


def rung_changes(
    case: Case, at: datetime, calendar: WorkCalendar, given: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, object]]:
    """One rung up the 督办 ladder: its person (``escalate_to``; the holder stays when nobody
    is above), its own deadline in working time and its card (黄牌 first, 红牌 at the top)."""
    assert case.due_at is not None
    target: Assignee | None = given["escalate_to"]
    rung = case.rung + 1
    top = target is None or bool(given["last_rung"])
    card = "red" if top else ("yellow" if rung == 1 else "orange")
    span: Span = given["rung_span"] or RUNG_SPAN
    details: dict[str, object] = {
        "stage": to_json_value(case.stage),
        "overdue_seconds": int((at - case.due_at).total_seconds()),
        "escalate_to": to_json_value(target),
        "previous_holder": to_json_value(case.holder),
    }
    changes = {
        "escalation_level": case.escalation_level + 1,
        "escalated_stage_seq": case.stage_seq,
        "rung": rung,
        "card": card,
        "holder": target or case.holder,
        "due_at": calendar.deadline(at, span, Clock.WORKING),
    }
    return changes, details
