"""What the native API answers: cases, events and photos as JSON (times ISO 8601, +08:00).

Shared by the ``/api/v1`` controllers and the field app's endpoints, so a case looks the same
wherever it is read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gridmgr.cases import Case, DeferralRequest, unit_of
from gridmgr.intake.photos import distance_m
from gridmgr.ledger import LedgerEvent
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.photos import AttachmentRow

FAR_PHOTO_M = 500.0
"""A photo taken farther than this from its report is flagged."""


def case_json(case: Case, number: int | None = None) -> dict[str, Any]:
    """A case as the API shows it (times in ISO 8601 with +08:00)."""
    a, d = case.assignee, case.deferral
    body: dict[str, Any] = {
        "case_id": case.case_id,
        "category": case.category,
        "state": case.state.value,
        "state_zh": case.state.label_zh,
        "open": case.state.is_open,
        "reported_at": iso(case.reported_at),
        "updated_at": iso(case.updated_at),
        "reporter": case.reporter,
        "description": case.description,
        "location": None if case.lon is None else {"lon": case.lon, "lat": case.lat},
        "cell": case.cell,
        "generation_id": case.generation_id,
        "assignee": None
        if a is None
        else {"person_id": a.person_id, "post": a.post, "name": a.name, "unit": unit_of(a)},
        "handler": case.handler,
        "stage": None if case.stage is None else case.stage.value,
        "stage_started_at": iso(case.stage_started_at),
        "due_at": iso(case.due_at),
        "holder": None
        if case.holder is None
        else {
            "person_id": case.holder.person_id,
            "post": case.holder.post,
            "name": case.holder.name,
        },
        "rung": case.rung,
        "card": case.card,
        "escalation_level": case.escalation_level,
        "reopen_count": case.reopen_count,
        "return_count": case.return_count,
        "deferrals": case.deferrals,
        "stage_deferrals": case.stage_deferrals,
        "deferral_request": None if d is None else _deferral_json(d),
        "rating": case.rating,
        "version": case.version,
    }
    if number is not None:
        body["number"] = number
    return body


def _deferral_json(d: DeferralRequest) -> dict[str, Any]:
    """A pending deferral request: who asked, why, the deadline asked for, who decides."""
    return {
        "approver": {"person_id": d.approver.person_id, "post": d.approver.post},
        "requested_by": d.requested_by,
        "requested_at": iso(d.requested_at),
        "due_before": iso(d.due_before),
        "due_at": iso(d.due_at),
        "reason": d.reason,
        "version": d.version,
    }


def event_json(event: LedgerEvent) -> dict[str, Any]:
    """A ledger event as the API shows it."""
    return {
        "seq": event.seq,
        "at": event.at,
        "kind": event.kind,
        "actor": event.actor,
        "subject": event.subject,
        "hash": event.hash,
    }


def photo_json(row: AttachmentRow, case: Case) -> dict[str, Any]:
    """A photo of ``case`` as the API shows it (flagged when taken far from the report)."""
    far = None
    if row.gps is not None and case.lon is not None and case.lat is not None:
        far = distance_m(row.gps, (case.lon, case.lat)) > FAR_PHOTO_M
    return {
        "attachment_id": row.attachment_id,
        "url": f"/api/v1/photos/{row.attachment_id}",
        "sha256": row.sha256,
        "width": row.width,
        "height": row.height,
        "size_bytes": row.size_bytes,
        "taken_far_from_report": far,
    }


def iso(value: datetime | None) -> str | None:
    """A time as the API shows it (ISO 8601, +08:00), or ``None``."""
    return None if value is None else value.astimezone(TZ).isoformat()
