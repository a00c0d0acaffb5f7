"""The inspections API, ``/api/v1/inspections``: plans, draws, visits, results, public list.

Callers authenticate with ``Authorization: Bearer gm_…`` like the rest of ``/api/v1``; an
enforcement officer of the inspector pool who is not on the roster may hold a token too (its
subject is his officer id). Who sees what:

* plans — managers and operators (city-wide roles) list, read and create them;
* draws — any authenticated caller reads a draw's public record (commitment, hashes, seed once
  revealed);
* visits — operators and managers see all; a town leader the visits in his town; anyone else
  only the visits he is an officer of. A visit outside the caller's view is answered 404;
* results — recorded by an officer of the visit, or by an operator or manager; a finding with
  ``issues`` opens its 整改 case (the answer names it, ``case_id``), and the re-inspection
  (``…/reinspection``, by the same people) closes that case or reopens it under 督办;
* ``/public/results`` — the public list (一公开), without authentication, officers or notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from flask import Response, g, jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from gridmgr.access import caller_for
from gridmgr.api.auth import bearer_token
from gridmgr.api.errors import created
from gridmgr.cases import Role
from gridmgr.errors import ForbiddenError
from gridmgr.grid.codes import code_length
from gridmgr.inspection import UnknownInspectionError
from gridmgr.responsibility.calendar import TZ
from gridmgr.services import inspections as svc
from gridmgr.services.context import Services
from gridmgr.services.credentials import person_for_token
from gridmgr.web.deps import services

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
TAG = Tag(name="inspections", description="Double-random inspections (双随机一公开)")
PUBLIC_ENDPOINT = "api_inspections.public_results"


@dataclass(frozen=True)
class InspectionCaller:
    """Who asks: a person id, whether he acts city-wide, and the towns he leads."""

    person_id: str
    city_wide: bool
    towns: tuple[str, ...] = ()

    def may_see(self, officers: tuple[str, ...], town: str) -> bool:
        """Whether a visit (its officers, its town) is visible to the caller."""
        return self.city_wide or self.person_id in officers or town in self.towns


class PeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: date
    end: date


class PlanIn(BaseModel):
    """An inspection plan (see ``gridmgr.inspection.plan``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    period: PeriodIn
    departments: dict[str, list[str]] = Field(min_length=1, max_length=50)
    ratios: dict[str, str | float] = Field(min_length=1, max_length=4)
    officers_per_visit: int = Field(default=2, ge=2, le=10)
    towns: list[str] = Field(default_factory=list, max_length=100)
    joint: bool = False


class PlanPath(BaseModel):
    plan_id: str = Field(max_length=40)


class DrawPath(BaseModel):
    draw_id: str = Field(max_length=40)


class VisitPath(BaseModel):
    draw_id: str = Field(max_length=40)
    visit_no: int = Field(ge=1)


class FindingIn(BaseModel):
    """The finding of one item of one visit."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    department: str = Field(min_length=1, max_length=64)
    item: str = Field(min_length=1, max_length=200)
    outcome: Literal["compliant", "issues", "not_found", "closed"]
    note: str = Field(default="", max_length=2000)


class ReinspectionIn(BaseModel):
    """The re-inspection (复查) of an item found with issues: rectified or not."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    department: str = Field(min_length=1, max_length=64)
    item: str = Field(min_length=1, max_length=200)
    outcome: Literal["compliant", "issues"]
    note: str = Field(default="", max_length=2000)


class PublicQuery(BaseModel):
    draw_id: str | None = Field(default=None, max_length=40)


def inspection_caller(services: Services, token: str) -> InspectionCaller:
    """The caller a Bearer token names: a roster person holding a post, or a pool officer."""
    now = services.now()
    roster = services.roster
    subject = person_for_token(services.store, token, now=now)
    if subject in roster.persons and roster.posts_of(subject, now):
        caller = caller_for(roster, subject, now)
        towns = tuple(caller.scope or ()) if caller.actor.role is Role.LEADER else ()
        return InspectionCaller(subject, caller.city_wide, towns)
    try:
        pool = svc.pool_snapshot(services.store)
    except UnknownInspectionError:
        pool = None
    if pool is not None and subject in pool.officers:
        return InspectionCaller(subject, False)
    raise ForbiddenError(f"{subject} holds no post now and is not an inspection officer")


bp = APIBlueprint(
    "api_inspections", __name__, url_prefix="/api/v1/inspections", abp_security=BEARER
)


@bp.before_request
def _gate() -> None:
    if request.endpoint != PUBLIC_ENDPOINT:
        g.gridmgr_inspection_caller = inspection_caller(services(), bearer_token())


def _caller() -> InspectionCaller:
    who: InspectionCaller = g.gridmgr_inspection_caller
    return who


def _city_wide() -> InspectionCaller:
    who = _caller()
    if not who.city_wide:
        raise ForbiddenError("plans are for managers and command-center operators")
    return who


@bp.get("/plans", tags=[TAG])
def list_plans() -> Response:
    """Every plan, newest first (managers and operators)."""
    _city_wide()
    return jsonify({"plans": [_plan_json(p) for p in svc.list_plans(services().store)]})


@bp.get("/plans/<plan_id>", tags=[TAG])
def get_plan(path: PlanPath) -> Response:
    """One plan, with its draws (managers and operators)."""
    _city_wide()
    store = services().store
    record = svc.load_plan(store, path.plan_id)
    body = _plan_json(record)
    body["draws"] = [d.to_public() for d in svc.list_draws(store, record.plan_id)]
    return jsonify(body)


@bp.post("/plans", tags=[TAG], responses={201: None})
def create_plan(body: PlanIn) -> Response:
    """Create a plan (managers and operators); ledgered."""
    who = _city_wide()
    record = svc.create_plan(
        services().store, body.model_dump(mode="json"), at=services().now(), actor=who.person_id
    )
    return created(_plan_json(record), location=f"/api/v1/inspections/plans/{record.plan_id}")


@bp.get("/draws/<draw_id>", tags=[TAG])
def get_draw(path: DrawPath) -> Response:
    """A draw's public record: commitment, input hashes, result hash, seed once revealed."""
    _caller()
    return jsonify(svc.load_draw(services().store, path.draw_id).to_public())


@bp.get("/draws/<draw_id>/visits", tags=[TAG])
def list_visits(path: DrawPath) -> Response:
    """The visits of a draw you may see (all, your town's, or your own)."""
    who = _caller()
    visits = [
        v
        for v in svc.list_visits(services().store, path.draw_id)
        if who.may_see(v.visit.officers, v.cell[: code_length(1)])
    ]
    return jsonify({"draw_id": path.draw_id, "visits": [_visit_json(v) for v in visits]})


@bp.post("/draws/<draw_id>/visits/<int:visit_no>/results", tags=[TAG], responses={201: None})
def record_result(path: VisitPath, body: FindingIn) -> Response:
    """Record the finding of one item (an officer of the visit, or a city-wide role)."""
    who = _caller()
    store = services().store
    visit = next(
        (v for v in svc.list_visits(store, path.draw_id) if v.visit.visit_no == path.visit_no),
        None,
    )
    if visit is None or not who.may_see(visit.visit.officers, visit.cell[: code_length(1)]):
        raise UnknownInspectionError(f"no visit {path.visit_no} of {path.draw_id} visible to you")
    if not (who.city_wide or who.person_id in visit.visit.officers):
        raise ForbiddenError("only an officer of the visit, an operator or a manager records")
    finding = svc.record_result(
        store,
        path.draw_id,
        path.visit_no,
        department=body.department,
        item=body.item,
        outcome=body.outcome,
        note=body.note,
        at=services().now(),
        actor=who.person_id,
        context=services().context,
    )
    return created(
        {
            "draw_id": finding.draw_id,
            "visit_no": finding.visit_no,
            "department": finding.department,
            "item": finding.item,
            "outcome": finding.outcome,
            "recorded_at": finding.recorded_at.astimezone(TZ).isoformat(),
            "case_id": finding.case_id,
        }
    )


@bp.post("/draws/<draw_id>/visits/<int:visit_no>/reinspection", tags=[TAG])
def reinspection(path: VisitPath, body: ReinspectionIn) -> Response:
    """Record the re-inspection (复查) of an item found with issues: ``compliant`` closes its
    整改 case, ``issues`` reopens it under 督办 (an officer of the visit, or a city-wide role)."""
    who = _caller()
    store = services().store
    visit = next(
        (v for v in svc.list_visits(store, path.draw_id) if v.visit.visit_no == path.visit_no),
        None,
    )
    if visit is None or not who.may_see(visit.visit.officers, visit.cell[: code_length(1)]):
        raise UnknownInspectionError(f"no visit {path.visit_no} of {path.draw_id} visible to you")
    if not (who.city_wide or who.person_id in visit.visit.officers):
        raise ForbiddenError("only an officer of the visit, an operator or a manager re-inspects")
    case = svc.record_reinspection(
        services(),
        path.draw_id,
        path.visit_no,
        department=body.department,
        item=body.item,
        outcome=body.outcome,
        note=body.note,
        actor=who.person_id,
    )
    return jsonify(
        {
            "case_id": case.case_id,
            "state": case.state.value,
            "state_zh": case.state.label_zh,
            "due_at": None if case.due_at is None else case.due_at.astimezone(TZ).isoformat(),
        }
    )


@bp.get("/public/results", tags=[TAG], security=[])
def public_results(query: PublicQuery) -> Response:
    """The public list of results (一公开): no authentication, no officers, no notes."""
    return jsonify({"results": svc.public_results(services().store, draw_id=query.draw_id)})


def _plan_json(record: svc.PlanRecord) -> dict[str, Any]:
    return {
        "plan_id": record.plan_id,
        "plan_hash": record.plan_hash,
        "created_at": record.created_at.astimezone(TZ).isoformat(),
        "created_by": record.created_by,
        **record.plan.to_dict(),
    }


def _visit_json(v: svc.VisitRecord) -> dict[str, Any]:
    return {
        "visit_no": v.visit.visit_no,
        "target_id": v.visit.target_id,
        "cell": v.cell,
        "location": {"lon": v.lon, "lat": v.lat},
        "departments": list(v.visit.departments),
        "items": [{"department": d, "item": i} for d, i in v.visit.items],
        "officers": list(v.visit.officers),
    }
