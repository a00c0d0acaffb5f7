"""整改: a 双随机 finding with issues opens a rectification case; its re-inspection closes it.

A finding recorded with the outcome ``issues`` (发现问题，责令整改) opens one case of the category
:data:`RECTIFICATION` in the target's cell, reported, registered and dispatched by the inspection
(``system:inspection``) to the inspecting department's unit (its inbox, held by its leader until
a member signs for it): the catalog's SLA gives the unit one working day to sign for it and ten
to rectify (the handle stage: 整改期限), and the re-inspection two more. The case's report names
the inspection (``details.inspection``: draw, visit, target, department, item) and the finding
row names the case (``inspection_results.case_id``), so each leads to the other.

The unit reports the rectification done (反馈, ``HANDLE``); the **re-inspection** (复查) is the
case's verify step, recorded by :func:`reinspect` in the name of the re-inspecting officer: a
pass verifies and closes the case; a failure reopens it (a second rectification period, on a
fresh deadline) and puts it under 督办 (``SUPERVISE``), on the command center's watch. Both
events name the inspection and the re-inspection's officer and note.
"""

from __future__ import annotations

from datetime import datetime

from gridmgr.cases import Action, Actor, Assignee, Case, CaseError, CaseState, Role, unit_of
from gridmgr.inspection import UnknownInspectionError
from gridmgr.inspection.results import OUTCOMES, Finding
from gridmgr.responsibility.catalog import DEPARTMENTS
from gridmgr.responsibility.routing import RoutingContext, route_incident
from gridmgr.services.actions import act
from gridmgr.services.reports import open_report
from gridmgr.services.units import transfer_target, unit_to_assignee
from gridmgr.store import Store

RECTIFICATION = "inspection_rectification"
"""The catalog category of 整改 cases (检查整改): never reported by the public."""

INSPECTION = Actor("system:inspection", Role.INSPECTION, "双随机检查")
"""Who opens, dispatches and re-inspects a 整改 case: the inspection, by its rules (the person
who recorded the finding or the re-inspection is named in the event's details)."""


def open_rectification(
    store: Store, context: RoutingContext, finding: Finding, *, at: datetime
) -> Case:
    """Open, register and dispatch the 整改 case of ``finding`` (an ``issues`` outcome), and name
    it on the finding; returns the dispatched case."""
    draw = store.load_draw(finding.draw_id)
    visit = next(
        (v for v in store.list_visits(finding.draw_id) if v.visit.visit_no == finding.visit_no),
        None,
    )
    if draw.result is None or visit is None:
        raise UnknownInspectionError(f"draw {finding.draw_id} has no visit {finding.visit_no}")
    target = store.load_registry(draw.registry_hash).targets.get(visit.visit.target_id)
    name = visit.visit.target_id if target is None else target.name
    department = DEPARTMENTS.get(finding.department, finding.department)
    inspection = {
        "draw_id": finding.draw_id,
        "visit_no": finding.visit_no,
        "target_id": visit.visit.target_id,
        "target_name": name,
        "department": finding.department,
        "item": finding.item,
        "recorded_by": finding.recorded_by,
    }
    decision = route_incident(context, category=RECTIFICATION, at=at, cell=visit.cell)
    reported = open_report(
        store,
        decision,
        context=context,
        reporter=INSPECTION,
        at=at,
        description=f"双随机检查发现问题，责令整改：{name} · {finding.item}（{department}）",
        channel="inspection",
        source_id=f"{finding.draw_id}/{finding.visit_no}/{finding.department}/{finding.item}"[:100],
        details={"inspection": inspection},
    )
    case_id = reported.case.case_id
    act(
        store,
        context,
        case_id,
        Action.REGISTER,
        actor=INSPECTION,
        at=at,
        comment="检查发现问题，立案整改",
    )
    unit = _inspecting_unit(context, finding.department, reported.case, at)
    case = act(
        store,
        context,
        case_id,
        Action.DISPATCH,
        actor=INSPECTION,
        at=at,
        comment=f"请{department}督促整改，整改到位后复查",
        assignee=unit,
        note={"inspection": inspection},
    )
    store.link_finding_case(finding, case_id)
    return case


def _inspecting_unit(
    context: RoutingContext, department: str, case: Case, at: datetime
) -> Assignee | None:
    """The inspecting department's unit, else the competent unit routing names."""
    try:
        return unit_to_assignee(context, department, at)
    except (LookupError, CaseError):
        target, _ = transfer_target(context, case, at)
        return target


def reinspect(
    store: Store,
    context: RoutingContext,
    case_id: str,
    *,
    outcome: str,
    note: str,
    at: datetime,
    actor: str,
) -> Case:
    """Record the re-inspection (复查) of a 整改 case the unit reported done: ``compliant``
    verifies and closes it; ``issues`` reopens it and puts it under 督办. ``actor`` is the
    re-inspecting person, named in the events."""
    finding = store.finding_of_case(case_id)
    case = store.case(case_id)
    if finding is None:
        raise CaseError(
            f"case {case_id} was not opened by an inspection finding; nothing to re-inspect"
        )
    if case.state is not CaseState.HANDLED:
        raise CaseError(
            f"case {case_id} is {case.state.value} ({case.state.label_zh}); re-inspect it once "
            f"{unit_of(case.assignee) or 'the unit'} has reported the rectification (反馈)"
        )
    if outcome not in ("compliant", "issues"):
        raise CaseError(f"a re-inspection is compliant or issues, not {outcome!r}")
    facts = {
        "reinspection": {
            "outcome": outcome,
            "outcome_zh": "整改到位" if outcome == "compliant" else OUTCOMES["issues"],
            "by": actor,
            "note": note,
            "draw_id": finding.draw_id,
            "visit_no": finding.visit_no,
            "item": finding.item,
        }
    }
    text = note.strip() or ("复查：整改到位" if outcome == "compliant" else "复查：整改不到位")
    if outcome == "compliant":
        act(
            store,
            context,
            case_id,
            Action.VERIFY,
            actor=INSPECTION,
            at=at,
            comment=text,
            note=facts,
        )
        return act(
            store,
            context,
            case_id,
            Action.CLOSE,
            actor=INSPECTION,
            at=at,
            comment="复查合格，结案",
            note=facts,
        )
    act(store, context, case_id, Action.REOPEN, actor=INSPECTION, at=at, comment=text, note=facts)
    return act(
        store,
        context,
        case_id,
        Action.SUPERVISE,
        actor=INSPECTION,
        at=at,
        comment="复查不合格，挂牌督办，限期再整改",
        note=facts,
    )
