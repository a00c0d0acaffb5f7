"""The native JSON API, ``/api/v1`` (reports for now; the full case API comes with issue #5).

Every request names its caller with ``Authorization: Bearer gm_…`` (``gridmgr token create``);
the caller's role and cells come from the roster at the time of the request, and a grid worker
reports only in his own cells. A report is acknowledged (201) only after its case, its event and
its ledger entry are committed — an acknowledged report survives a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gridmgr.api.errors import problem, validation_problem
from gridmgr.cases import Actor, Role
from gridmgr.errors import ForbiddenError
from gridmgr.roster import COMMAND_CENTER, FIELD_POSTS, PostKind, Roster
from gridmgr.routing import RoutingContext, route_incident
from gridmgr.services import Ingestor, report_incident
from gridmgr.store import Store
from gridmgr.store.tokens import CredentialError, check_credential

MAX_BODY = 64 * 1024


class ReportIn(BaseModel):
    """A report from a grid worker's app (coordinates in ``datum``; WGS84 unless said)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    datum: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    category: str = Field(min_length=1, max_length=48)
    description: str = Field(min_length=1, max_length=2000)

    @field_validator("lon", "lat", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a JSON number (degrees), got {type(value).__name__}")
        return value

    @field_validator("lat", mode="before")
    @classmethod
    def _not_swapped(cls, value: object) -> object:
        if isinstance(value, int | float) and 90 < abs(value) <= 180:
            raise ValueError(f"latitude {value} is out of range; are lon and lat swapped?")
        return value

    @field_validator("category", "description")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        bad = sorted({f"U+{ord(c):04X}" for c in value if ord(c) < 32 and c not in "\n\t"})
        if bad:
            raise ValueError(f"contains control characters ({', '.join(bad)}); remove them")
        return value


def actor_for(roster: Roster, person_id: str, at: datetime) -> Actor:
    """The caller as an actor: the highest role among the posts he holds at ``at``."""
    person = roster.persons.get(person_id)
    if person is None:
        raise ForbiddenError(f"{person_id} is not on the roster")
    kinds = {a.post.kind for a in roster.posts_of(person_id, at)}
    for kind, role in (
        (PostKind.OPERATOR, Role.OPERATOR),
        (PostKind.UNIT_LEADER, Role.MANAGER),
        (PostKind.TOWN_LEADER, Role.LEADER),
        (PostKind.GRID_HEAD, Role.HEAD),
        (PostKind.GRID_WORKER, Role.WORKER),
    ):
        if kind in kinds:
            return Actor(person_id, role, person.name)
    raise ForbiddenError(f"{person.name} ({person_id}) holds no post now")


def scope_of(roster: Roster, actor: Actor, at: datetime) -> tuple[str, ...] | None:
    """Cell-code prefixes the actor acts in; ``None`` means city-wide."""
    if actor.role in (Role.OPERATOR, Role.MANAGER):
        return None
    return tuple(
        a.post.place
        for a in roster.posts_of(actor.actor_id, at)
        if a.post.kind in FIELD_POSTS and a.post != COMMAND_CENTER
    )


def v1_blueprint(
    store: Store,
    context: RoutingContext,
    *,
    clock: Callable[[], datetime],
    ingestor: Ingestor | None = None,
) -> Blueprint:
    """The ``/api/v1`` blueprint over ``store`` and ``context`` (reports group-commit through
    ``ingestor`` when given)."""
    bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

    def caller() -> Actor:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise CredentialError("send Authorization: Bearer <token> (gridmgr token create)")
        credential = check_credential(store.engine, token, now=clock(), kind="person")
        return actor_for(context.roster, credential.subject, clock())

    @bp.post("/reports")
    def create_report() -> ResponseReturnValue:
        actor = caller()
        if not request.is_json:
            return problem(415, "send the report as JSON (Content-Type: application/json)")
        if (request.content_length or 0) > MAX_BODY:
            return problem(413, f"a report body is limited to {MAX_BODY} bytes")
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # nesting deep enough to exhaust the parser
            body = None
        if not isinstance(body, dict):
            return problem(400, "the body is not a JSON object (malformed JSON?)")
        try:
            report = ReportIn.model_validate(body)
        except ValidationError as exc:
            return validation_problem(exc)
        now = clock()
        scope = scope_of(context.roster, actor, now)
        if scope is not None:
            decision = route_incident(
                context,
                category=report.category,
                at=now,
                lon=report.lon,
                lat=report.lat,
                datum=report.datum,
            )
            cell = None if decision.cell_path is None else decision.cell_path.tier3
            if cell is None or not any(cell.startswith(p) for p in scope):
                raise ForbiddenError(
                    "this location is outside your cells; report it to the command center"
                )
        result = report_incident(
            store,
            context,
            reporter=actor,
            category=report.category,
            at=now,
            description=report.description,
            lon=report.lon,
            lat=report.lat,
            datum=report.datum,
        )
        d = result.decision.to_dict()
        response: Response = jsonify(
            {
                "case_id": result.case.case_id,
                "number": result.number,
                "state": result.case.state.value,
                "queue": d["queue"],
                "cell_path": d["cell_path"],
                "responsible": d["responsible"],
                "deadlines": d["deadlines"],
                "near_border": d["near_border"],
            }
        )
        response.status_code = 201
        response.headers["Location"] = f"/api/v1/cases/{result.case.case_id}"
        return response

    return bp
