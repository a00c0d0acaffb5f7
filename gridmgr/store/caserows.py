"""Case rows: converting between :class:`gridmgr.cases.Case` and a ``cases`` row, both ways.

The only place that knows both shapes; :mod:`gridmgr.store.casestore` (the reads) and
:mod:`gridmgr.store.pending` (the batch apply) use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shapely

from gridmgr.cases import Assignee, Case, CaseState, DeferralRequest
from gridmgr.responsibility.sla import Stage

OPEN_STATES = tuple(s.value for s in CaseState if s.is_open)
AWAITING_DISPATCH = (
    CaseState.REPORTED.value,
    CaseState.REGISTERED.value,
    CaseState.RETURNED.value,
    CaseState.VERIFIED.value,
)
"""States in which a case is with the command center (to register, dispatch or close), not
with a field owner on a stage clock."""
MERGED_QUEUE = "merged"
"""The queue of duplicates merged into a master case (:mod:`gridmgr.services.triage`)."""


def case_to_row(case: Case, *, location: bool = True) -> dict[str, Any]:
    """The ``cases`` columns of ``case`` (without ``number``, ``queue`` and the tier codes;
    without the ``location`` point when not ``location``: making it costs more than the rest)."""
    row = _columns(case)
    if location:
        row["location"] = (
            None if case.lon is None or case.lat is None else shapely.Point(case.lon, case.lat)
        )
    return row


def _columns(case: Case) -> dict[str, Any]:
    a, h = case.assignee, case.holder
    return {
        "case_id": case.case_id,
        "category": case.category,
        "state": case.state.value,
        "reported_at": case.reported_at,
        "updated_at": case.updated_at,
        "reporter": case.reporter,
        "description": case.description,
        "lon": case.lon,
        "lat": case.lat,
        "cell": case.cell,
        "generation_id": case.generation_id,
        "assignee_id": None if a is None else a.person_id,
        "assignee_post": None if a is None else a.post,
        "assignee_name": None if a is None else a.name,
        "handler": case.handler,
        "stage": None if case.stage is None else case.stage.value,
        "stage_started_at": case.stage_started_at,
        "due_at": case.due_at,
        "stage_seq": case.stage_seq,
        "escalation_level": case.escalation_level,
        "escalated_stage_seq": case.escalated_stage_seq,
        "reopen_count": case.reopen_count,
        "return_count": case.return_count,
        "deferrals": case.deferrals,
        "rating": case.rating,
        "version": case.version,
        "holder_id": None if h is None else h.person_id,
        "holder_post": None if h is None else h.post,
        "holder_name": None if h is None else h.name,
        "rung": case.rung,
        "card": case.card,
        **_deferral_to_row(case),
    }


_DEFER_COLUMNS = (
    "defer_approver_id",
    "defer_approver_post",
    "defer_approver_name",
    "defer_requested_by",
    "defer_requested_at",
    "defer_due_before",
    "defer_due_at",
    "defer_reason",
    "defer_version",
)


def _deferral_to_row(case: Case) -> dict[str, Any]:
    d = case.deferral
    if d is None:
        return {"stage_deferrals": case.stage_deferrals, **dict.fromkeys(_DEFER_COLUMNS)}
    values = (
        d.approver.person_id,
        d.approver.post,
        d.approver.name,
        d.requested_by,
        d.requested_at,
        d.due_before,
        d.due_at,
        d.reason,
        d.version,
    )
    return {
        "stage_deferrals": case.stage_deferrals,
        **dict(zip(_DEFER_COLUMNS, values, strict=True)),
    }


def _row_to_deferral(row: Mapping[Any, Any]) -> DeferralRequest | None:
    if row["defer_approver_id"] is None:
        return None
    return DeferralRequest(
        approver=Assignee(
            row["defer_approver_id"], row["defer_approver_post"], row["defer_approver_name"] or ""
        ),
        requested_by=row["defer_requested_by"],
        requested_at=row["defer_requested_at"],
        due_before=row["defer_due_before"],
        due_at=row["defer_due_at"],
        reason=row["defer_reason"] or "",
        version=row["defer_version"],
    )


def _person(row: Mapping[Any, Any], prefix: str) -> Assignee | None:
    person_id = row[f"{prefix}_id"]
    if person_id is None:
        return None
    return Assignee(person_id, row[f"{prefix}_post"] or "", row[f"{prefix}_name"] or "")


def row_to_case(row: Mapping[Any, Any]) -> Case:
    """The :class:`Case` a ``cases`` row holds."""
    assignee = _person(row, "assignee")
    return Case(
        case_id=row["case_id"],
        category=row["category"],
        state=CaseState(row["state"]),
        reported_at=row["reported_at"],
        updated_at=row["updated_at"],
        reporter=row["reporter"],
        description=row["description"],
        lon=row["lon"],
        lat=row["lat"],
        cell=row["cell"],
        generation_id=row["generation_id"],
        assignee=assignee,
        handler=row["handler"],
        stage=None if row["stage"] is None else Stage(row["stage"]),
        stage_started_at=row["stage_started_at"],
        due_at=row["due_at"],
        escalation_level=row["escalation_level"],
        escalated_stage_seq=row["escalated_stage_seq"],
        stage_seq=row["stage_seq"],
        reopen_count=row["reopen_count"],
        return_count=row["return_count"],
        deferrals=row["deferrals"],
        stage_deferrals=row["stage_deferrals"],
        deferral=_row_to_deferral(row),
        rating=row["rating"],
        holder=_person(row, "holder"),
        rung=row["rung"],
        card=row["card"],
        version=row["version"],
    )
