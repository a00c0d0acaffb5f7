"""Units in ``/api/v1``: a unit's inbox and members, and the 派遣 picker's choices for a case.

Nested in the ``/api/v1`` blueprint (its token authentication applies). A unit's inbox is read by
its members, its leader and the city-wide roles; its members by its leader and the city-wide
roles; the picker's choices by operators (who dispatch).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from gridmgr.api.auth import current_caller
from gridmgr.cases import Assignee, Case, Role
from gridmgr.errors import ForbiddenError
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.cases import visible_case
from gridmgr.services.units import dispatch_choices, unit_cases, unit_members
from gridmgr.web.deps import services

TAG = Tag(name="units", description="Teams and departments: inboxes, members, the 派遣 picker")

bp = APIBlueprint("units", __name__, abp_tags=[TAG])


class UnitPath(BaseModel):
    unit_id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="a unit id, e.g. cgj")


class CasePath(BaseModel):
    case_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")


@bp.get("/units/<unit_id>/cases")
def unit_inbox(path: UnitPath) -> Response:
    """The unit's open cases (its inbox), newest first: for its members and leader."""
    found = unit_cases(services(), current_caller(), path.unit_id)
    return jsonify({"unit_id": path.unit_id, "cases": [_case(c) for c in found]})


@bp.get("/units/<unit_id>/members")
def members(path: UnitPath) -> Response:
    """The unit's members, its leader first: for its leader and the city-wide roles."""
    people = unit_members(services(), current_caller(), path.unit_id)
    return jsonify(
        {
            "unit_id": path.unit_id,
            "members": [{"person_id": p.person_id, "name": p.name} for p in people],
        }
    )


@bp.get("/cases/<case_id>/dispatch-choices")
def choices(path: CasePath) -> Response:
    """Whom 派遣 may go to: routing's suggestion first, the owner chain, the competent units;
    and who returned the case last, and why (operators)."""
    caller = current_caller()
    if caller.actor.role is not Role.OPERATOR:
        raise ForbiddenError("the 派遣 picker is for operators")
    case = visible_case(services().store, caller, path.case_id)
    found = dispatch_choices(services(), caller, case)
    note = found.last_return
    return jsonify(
        {
            "case_id": case.case_id,
            "choices": [
                {
                    "value": c.value,
                    "person_id": c.person_id,
                    "name": c.name,
                    "post": c.post,
                    "unit_id": c.unit_id,
                    "reason": c.reason,
                    "returned_it": c.returned_it,
                }
                for c in found.choices
            ],
            "suggested": None if found.suggested is None else found.suggested.value,
            "last_return": None
            if note is None
            else {
                "returned_by": _person(note.returned_by),
                "at": note.at.astimezone(TZ).isoformat(),
                "comment": note.comment,
            },
        }
    )


def _person(who: Assignee | None) -> dict[str, str] | None:
    return None if who is None else {"person_id": who.person_id, "post": who.post, "name": who.name}


def _case(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "category": case.category,
        "state": case.state.value,
        "state_zh": case.state.label_zh,
        "cell": case.cell,
        "assignee": _person(case.assignee),
        "holder": _person(case.holder),
        "due_at": None if case.due_at is None else case.due_at.astimezone(TZ).isoformat(),
    }
