"""Triage and notifications in ``/api/v1``: place unlocated cases, merge duplicates, inboxes.

Nested in the ``/api/v1`` blueprint (its token authentication and body checks apply). Placing,
merging and the unlocated queue are for operators; every caller reads his own notifications,
and the notification delivery status of a case he may see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from gridmgr.access import Caller
from gridmgr.api.auth import current_caller
from gridmgr.cases import Case, Role
from gridmgr.errors import ForbiddenError
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.cases import visible_case
from gridmgr.services.notices import mark_notifications_read, notifications_for
from gridmgr.services.queries import case_trail, deliveries_of
from gridmgr.services.triage import (
    merge_cases,
    merge_view,
    place_case,
    suggest_duplicates,
    unlocated_queue,
    unmerge_case,
)
from gridmgr.web.deps import services

TAG = Tag(name="triage", description="Unlocated queue, duplicates and merges, notifications")


class CaseIdPath(BaseModel):
    case_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")


class PlaceIn(BaseModel):
    """Where an operator drops the pin of an unlocated case."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    datum: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    comment: str = Field(default="", max_length=2000)


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    master_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="the case it duplicates")
    comment: str = Field(min_length=1, max_length=2000)


class UnmergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    comment: str = Field(min_length=1, max_length=2000)


class NotificationsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after_id: int = Field(default=0, ge=0, le=2**62)
    unread: bool = False
    limit: int = Field(default=50, ge=1, le=200)


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(min_length=1, max_length=500)


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(TZ).isoformat()


def _brief(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "state": case.state.value,
        "state_zh": case.state.label_zh,
        "open": case.state.is_open,
        "reporter": case.reporter,
        "reported_at": _t(case.reported_at),
        "description": case.description,
    }


bp = APIBlueprint("triage", __name__, abp_tags=[TAG])


def _operator() -> Caller:
    caller = current_caller()
    if caller.actor.role is not Role.OPERATOR:
        raise ForbiddenError("placing, merging and the unlocated queue are for operators")
    return caller


@bp.post("/cases/<case_id>/place")
def place(path: CaseIdPath, body: PlaceIn) -> Response:
    """Place an unlocated case on the map (operators): routed to its cell and owner."""
    caller = _operator()
    found = services()
    case = place_case(
        found.store,
        found.context,
        path.case_id,
        lon=body.lon,
        lat=body.lat,
        datum=body.datum,
        actor=caller.actor,
        at=found.now(),
        comment=body.comment,
    )
    last = case_trail(found, caller, case.case_id)[-1]
    return jsonify(
        {
            **_brief(case),
            "cell": case.cell,
            "location": {"lon": case.lon, "lat": case.lat},
            "queue": last.details.get("queue"),
            "responsible": last.details.get("responsible"),
            "version": case.version,
        }
    )


@bp.get("/unlocated")
def unlocated() -> Response:
    """The unlocated queue (operators): reports waiting for a pin, oldest first."""
    _operator()
    return jsonify(
        {
            "cases": [
                {
                    **_brief(u.case),
                    "category": u.case.category,
                    "address": u.address,
                    "channel": u.channel,
                    "source_id": u.source_id,
                }
                for u in unlocated_queue(services().store)
            ]
        }
    )


@bp.get("/cases/<case_id>/duplicates")
def duplicates(path: CaseIdPath) -> Response:
    """Probable duplicates of a case (scored, explained), its master and merged reports."""
    found = services()
    caller = current_caller()
    case = visible_case(found.store, caller, path.case_id)
    view = merge_view(found.store, case.case_id)
    channel = "grid_worker" if view.info is None else view.info.channel
    shown = suggest_duplicates(found.store, found.context, caller, case, channel=channel)
    return jsonify(
        {
            "case_id": case.case_id,
            "probable_duplicates": [m.to_dict() for m in shown.visible],
            # the others are counted, never named: their ids are outside the caller's cells
            "probable_duplicates_outside_scope": shown.hidden,
            "merged_into": None if view.master is None else _brief(view.master),
            "merged": [_brief(c) for c in view.duplicates],
        }
    )


@bp.post("/cases/<case_id>/merge")
def merge(path: CaseIdPath, body: MergeIn) -> Response:
    """Merge this case into ``master_id`` as its duplicate (operators)."""
    caller = _operator()
    dup, master = merge_cases(
        services().store,
        path.case_id,
        body.master_id,
        actor=caller.actor,
        at=services().now(),
        comment=body.comment,
    )
    return jsonify({"duplicate": _brief(dup), "master": _brief(master)})


@bp.post("/cases/<case_id>/unmerge")
def unmerge(path: CaseIdPath, body: UnmergeIn) -> Response:
    """Split a merged duplicate off its master again (operators)."""
    caller = _operator()
    dup, master = unmerge_case(
        services().store,
        path.case_id,
        actor=caller.actor,
        at=services().now(),
        comment=body.comment,
    )
    return jsonify({"duplicate": _brief(dup), "master": _brief(master)})


@bp.get("/cases/<case_id>/notifications")
def case_notifications(path: CaseIdPath) -> Response:
    """Who was notified of this case, and the delivery status on each channel."""
    case = visible_case(services().store, current_caller(), path.case_id)
    return jsonify(
        {
            "case_id": case.case_id,
            "deliveries": [
                {
                    "notification_id": r.notification_id,
                    "recipient": r.recipient,
                    "trigger": r.trigger,
                    "channel": r.channel,
                    "status": r.status,
                    "attempts": r.attempts,
                    "last_error": r.last_error,
                    "delivered_at": _t(r.delivered_at),
                }
                for r in deliveries_of(services().store, case.case_id)
            ],
        }
    )


@bp.get("/notifications")
def my_notifications(query: NotificationsQuery) -> Response:
    """Your in-app notifications, newest first (operators also see the command center's)."""
    found = notifications_for(
        services().store,
        current_caller().actor,
        after_id=query.after_id,
        unread_only=query.unread,
        limit=query.limit,
    )
    return jsonify(
        {
            "notifications": [
                {
                    "id": n.notification_id,
                    "case_id": n.case_id,
                    "trigger": n.trigger,
                    "title": n.title,
                    "body": n.body,
                    "created_at": _t(n.created_at),
                    "read": n.read_at is not None,
                }
                for n in found
            ]
        }
    )


@bp.post("/notifications/read")
def read(body: ReadIn) -> Response:
    """Mark some of your notifications read."""
    count = mark_notifications_read(
        services().store, current_caller().actor, body.ids, at=services().now()
    )
    return jsonify({"marked": count})
