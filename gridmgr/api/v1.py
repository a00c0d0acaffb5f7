"""The native JSON API, ``/api/v1``: reports, cases and their lifecycle, trails, cells, people.

Every request names its caller with ``Authorization: Bearer gm_…`` (``gridmgr token create``);
a session cookie is never enough. The caller's role and cells come from the roster at the time
of the request (:mod:`gridmgr.api.access`), and every endpoint checks them: a grid worker sees
and acts on cases in his own cells (or assigned to him), a grid head in his community, a town
leader in his town, operators and managers everywhere. A case outside the caller's scope is
answered 404, exactly like a case that does not exist, so ids cannot be probed.

A report is acknowledged (201) only after its case, its event and its ledger entry are committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_openapi3 import APIBlueprint, FileStorage, Tag

from gridmgr.access import Caller, check_report_scope
from gridmgr.api.auth import authenticate, current_caller
from gridmgr.api.errors import problem
from gridmgr.api.schemas import (
    ActionIn,
    AttachmentPath,
    CasePath,
    CaseQuery,
    EventsQuery,
    LocateQuery,
    PersonPath,
    PhotoForm,
    ReportIn,
    ReportWithPhotoForm,
    TierPath,
)
from gridmgr.cases import Action, Assignee, Case
from gridmgr.errors import CaseNotFoundError, ForbiddenError
from gridmgr.intake.photos import MAX_PHOTO_BYTES, Photo, distance_m, sanitize_photo
from gridmgr.ledger import LedgerEvent
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import Post, PostKind, field_post
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.responsibility.sla import parse_span
from gridmgr.services.actions import act
from gridmgr.services.reports import Ingestor, report_incident
from gridmgr.services.triage import auto_merge, find_duplicates, merge_view
from gridmgr.store import CaseFilter, Store
from gridmgr.store.attachments import AttachmentRow

MAX_BODY = 64 * 1024
MULTIPART_ENDPOINTS = frozenset({"api_v1.create_report_with_photo", "api_v1.upload_photo"})
FAR_PHOTO_M = 500.0
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
TAG_CASES = Tag(name="cases", description="Reports and the case lifecycle")
TAG_GRID = Tag(name="grid", description="Cells, owners, location")


def case_json(case: Case, number: int | None = None) -> dict[str, Any]:
    """A case as the API shows it (times in ISO 8601 with +08:00)."""

    def t(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(TZ).isoformat()

    a = case.assignee
    body: dict[str, Any] = {
        "case_id": case.case_id,
        "category": case.category,
        "state": case.state.value,
        "state_zh": case.state.label_zh,
        "open": case.state.is_open,
        "reported_at": t(case.reported_at),
        "updated_at": t(case.updated_at),
        "reporter": case.reporter,
        "description": case.description,
        "location": None if case.lon is None else {"lon": case.lon, "lat": case.lat},
        "cell": case.cell,
        "generation_id": case.generation_id,
        "assignee": None
        if a is None
        else {"person_id": a.person_id, "post": a.post, "name": a.name},
        "handler": case.handler,
        "stage": None if case.stage is None else case.stage.value,
        "stage_started_at": t(case.stage_started_at),
        "due_at": t(case.due_at),
        "escalation_level": case.escalation_level,
        "reopen_count": case.reopen_count,
        "return_count": case.return_count,
        "deferrals": case.deferrals,
        "rating": case.rating,
        "version": case.version,
    }
    if number is not None:
        body["number"] = number
    return body


def event_json(event: LedgerEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at,
        "kind": event.kind,
        "actor": event.actor,
        "subject": event.subject,
        "hash": event.hash,
    }


def v1_blueprint(
    store: Store,
    context: RoutingContext,
    *,
    clock: Callable[[], datetime],
    data_dir: Path,
    ingestor: Ingestor | None = None,
    auto_merge_score: float | None = None,
) -> APIBlueprint:
    """The ``/api/v1`` blueprint over ``store`` and ``context`` (reports group-commit through
    ``ingestor`` when given; a report whose best probable duplicate scores at least
    ``auto_merge_score`` is merged into it, else duplicates are only suggested)."""
    bp = APIBlueprint("api_v1", __name__, url_prefix="/api/v1", abp_security=BEARER)
    roster = context.roster

    @bp.before_request
    def _gate() -> ResponseReturnValue | None:
        authenticate(store, roster, clock)  # 401 unless a valid personal token
        if request.endpoint in MULTIPART_ENDPOINTS:
            if not (request.mimetype or "").startswith("multipart/form-data"):
                return problem(415, "send the photo as multipart/form-data (field 'photo')")
            if (request.content_length or 0) > MAX_PHOTO_BYTES + MAX_BODY:
                return problem(413, f"a photo is limited to {MAX_PHOTO_BYTES // 2**20} MiB")
            return None
        if request.method in ("POST", "PUT", "PATCH"):
            if (request.content_length or 0) > MAX_BODY:
                return problem(413, f"a request body is limited to {MAX_BODY} bytes")
            if not request.is_json:
                return problem(415, "send JSON (Content-Type: application/json)")
            try:
                body = request.get_json(silent=True)  # cached for the validation that follows
            except RecursionError:
                body = None
            if not isinstance(body, dict):
                return problem(400, "the body is not a JSON object (malformed JSON?)")
        return None

    def visible_case(case_id: str) -> Case:
        caller = current_caller()
        try:
            case = store.case(case_id)
        except CaseNotFoundError:
            case = None
        if case is None or not caller.may_see(case):
            raise CaseNotFoundError(f"no case {case_id} visible to you")
        return case

    def _report(caller: Caller, body: ReportIn) -> Response:
        now = clock()
        check_report_scope(
            context,
            caller,
            category=body.category,
            lon=body.lon,
            lat=body.lat,
            datum=body.datum,
            at=now,
        )
        result = report_incident(
            store,
            context,
            reporter=caller.actor,
            category=body.category,
            at=now,
            description=body.description,
            lon=body.lon,
            lat=body.lat,
            datum=body.datum,
            ingestor=ingestor,
        )
        d = result.decision.to_dict()
        probable = find_duplicates(store, context, result.case)  # suggested ...
        merged = None  # ... and merged only when configured
        if auto_merge_score is not None:
            merged = auto_merge(
                store, result.case.case_id, probable, threshold=auto_merge_score, at=now
            )
        response = jsonify(
            {
                "case_id": result.case.case_id,
                "number": result.number,
                "state": result.case.state.value,
                "queue": d["queue"],
                "cell_path": d["cell_path"],
                "responsible": d["responsible"],
                "deadlines": d["deadlines"],
                "near_border": d["near_border"],
                "probable_duplicates": [m.to_dict() for m in probable],
                "merged_into": None if merged is None else merged.case_id,
            }
        )
        response.status_code = 201
        response.headers["Location"] = f"/api/v1/cases/{result.case.case_id}"
        return response

    @bp.post("/reports", tags=[TAG_CASES], responses={201: None})
    def create_report(body: ReportIn) -> Response:
        """Report an incident: routed to its cell and owner chain, acknowledged once durable."""
        return _report(current_caller(), body)

    def read_photo(upload: FileStorage) -> Photo:
        data = upload.stream.read(MAX_PHOTO_BYTES + 1)
        return sanitize_photo(data)  # PhotoError: 4xx naming the problem

    def photo_json(row: AttachmentRow, case: Case) -> dict[str, Any]:
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

    @bp.post("/reports/with-photo", tags=[TAG_CASES], responses={201: None})
    def create_report_with_photo(form: ReportWithPhotoForm) -> Response:
        """Report an incident with its photo in one multipart request.

        The photo is checked and cleaned (decoded, EXIF and GPS stripped) before anything is
        stored; a bad photo refuses the whole report.
        """
        caller = current_caller()
        photo = read_photo(form.photo)
        report = ReportIn(
            lon=form.lon,
            lat=form.lat,
            datum=form.datum,
            category=form.category,
            description=form.description,
        )
        response = _report(caller, report)
        case = store.case(response.get_json()["case_id"])
        row = store.save_attachment(
            data_dir, case.case_id, photo, at=clock(), actor=caller.actor.actor_id
        )
        body = response.get_json()
        body["photo"] = photo_json(row, case)
        out = jsonify(body)
        out.status_code = 201
        out.headers["Location"] = response.headers["Location"]
        return out

    @bp.post("/cases/<case_id>/photos", tags=[TAG_CASES], responses={201: None})
    def upload_photo(path: CasePath, form: PhotoForm) -> Response:
        """Attach a photo to a case in your scope (e.g. the handler's photo of the result)."""
        caller = current_caller()
        case = visible_case(path.case_id)
        photo = read_photo(form.photo)
        row = store.save_attachment(
            data_dir, case.case_id, photo, at=clock(), actor=caller.actor.actor_id
        )
        out = jsonify(photo_json(row, case))
        out.status_code = 201
        return out

    @bp.get("/cases/<case_id>/photos", tags=[TAG_CASES])
    def case_photos(path: CasePath) -> Response:
        """The photos of a case."""
        case = visible_case(path.case_id)
        return jsonify(
            {"photos": [photo_json(r, case) for r in store.attachments_of(case.case_id)]}
        )

    @bp.get("/photos/<attachment_id>", tags=[TAG_CASES])
    def get_photo(path: AttachmentPath) -> Response:
        """One photo (JPEG, re-encoded without EXIF) of a case in your scope."""
        row, data = store.read_attachment(data_dir, path.attachment_id)
        visible_case(row.case_id)
        return Response(
            data,
            mimetype="image/jpeg",
            headers={
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, max-age=3600",
                "Content-Disposition": f'inline; filename="{row.attachment_id}.jpg"',
            },
        )

    @bp.get("/cases", tags=[TAG_CASES])
    def list_cases(query: CaseQuery) -> Response:
        """Cases in your scope, newest first, filtered and paginated (``limit`` ≤ 200)."""
        caller = current_caller()
        states = [s.strip() for s in (query.state or "").split(",") if s.strip()]
        where = CaseFilter(
            subtree=query.subtree,
            states=states,
            open_only=bool(query.open),
            overdue_at=clock() if query.overdue else None,
            assignee_id=query.assignee,
            reported_from=_aware(query.reported_from),
            reported_to=_aware(query.reported_to),
            scope=caller.scope,
            visible_to=caller.actor.actor_id,
        )
        found = store.cases(where, limit=query.limit, offset=query.offset)
        return jsonify(
            {
                "cases": [case_json(c) for c in found],
                "total": store.count_cases(where),
                "limit": query.limit,
                "offset": query.offset,
            }
        )

    @bp.get("/cases/<case_id>", tags=[TAG_CASES])
    def get_case(path: CasePath) -> Response:
        """One case (ETag: its version; send If-None-Match to poll cheaply)."""
        case = visible_case(path.case_id)
        view = merge_view(store, case.case_id)
        # a merged duplicate shows its master's outcome: the master's version is in the tag
        tail = "" if view.master is None else f"-m{view.master.version}"
        etag = f'"{case.case_id}-{case.version}{tail}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        body = case_json(case)
        if view.info is not None:
            body.update(channel=view.info.channel, source_id=view.info.source_id)
            body.update(queue=view.info.queue, address=view.info.address)
        if view.master is not None:  # a duplicate's reporters see the master's outcome
            m = view.master
            body["merged_into"] = m.case_id
            body["outcome"] = {"state": m.state.value, "state_zh": m.state.label_zh}
            body["outcome"]["open"] = m.state.is_open
        body["merged"] = [c.case_id for c in view.duplicates]
        response = jsonify(body)
        response.headers["ETag"] = etag
        return response

    @bp.post("/cases/<case_id>/actions", tags=[TAG_CASES])
    def case_action(path: CasePath, body: ActionIn) -> Response:
        """Apply one lifecycle action (the state machine's guards decide who may)."""
        caller = current_caller()
        case = visible_case(path.case_id)
        if body.version is not None and body.version != case.version:
            return problem(
                409,
                f"case {case.case_id} is at version {case.version}, not "
                f"{body.version}; read it again",
            )
        now = clock()
        assignee = None
        if body.assignee is not None:
            person = roster.persons.get(body.assignee)
            if person is None:
                return problem(400, f"assignee {body.assignee!r} is not on the roster")
            posts = [a.post for a in roster.posts_of(person.person_id, now)]
            post = _post_for(posts, case.cell)
            assignee = Assignee(person.person_id, post.key if post else "", person.name)
        approver = None
        if body.approver is not None:
            from gridmgr.access import actor_for

            approver = actor_for(roster, body.approver, now)
        try:
            extend = None if body.extend is None else parse_span(body.extend)
        except ValueError as exc:
            return problem(400, str(exc))
        updated = act(
            store,
            context,
            case.case_id,
            Action(body.action),
            actor=caller.actor,
            at=now,
            comment=body.comment,
            assignee=assignee,
            approver=approver,
            extend=extend,
            rating=body.rating,
        )
        return jsonify(case_json(updated))

    @bp.get("/cases/<case_id>/trail", tags=[TAG_CASES])
    def case_trail(path: CasePath) -> Response:
        """A case's events from the ledger, each marked verified or not."""
        visible_case(path.case_id)
        entries = store.trail(path.case_id)
        return jsonify(
            {
                "case_id": path.case_id,
                "events": [
                    {
                        "action": e.action,
                        "actor": e.actor,
                        "at": e.at.astimezone(TZ).isoformat(),
                        "from_state": e.from_state,
                        "to_state": e.to_state,
                        "comment": e.comment,
                        "details": e.details,
                        "ledger": event_json(e.ledger),
                        "verified": e.verified,
                        "problem": e.problem,
                    }
                    for e in entries
                ],
            }
        )

    @bp.get("/events", tags=[TAG_CASES])
    def events(query: EventsQuery) -> Response:
        """Ledger events after ``since`` (city-wide callers): what changed since you last asked."""
        if not current_caller().city_wide:
            raise ForbiddenError("the event stream is for city-wide roles (operators, managers)")
        rows = store.ledger_since(query.since, limit=query.limit)
        head = rows[-1].seq if rows else query.since
        return jsonify({"events": [event_json(e) for e in rows], "next": head})

    @bp.get("/cells/<int:tier>", tags=[TAG_GRID])
    def cells(path: TierPath) -> Response:
        """The cells of one tier as GeoJSON, each with its owner now."""
        now = clock()
        frame = context.grid.tier(path.tier)
        features = []
        for code, name, name_en, parent, geom in zip(
            frame["code"],
            frame["name"],
            frame["name_en"],
            frame["parent_code"],
            frame.geometry.values,
            strict=True,
        ):
            owner = roster.owner(field_post(code), now)
            features.append(
                {
                    "type": "Feature",
                    "id": code,
                    "geometry": geom.__geo_interface__,
                    "properties": {
                        "code": code,
                        "name": name,
                        "name_en": name_en,
                        "parent_code": parent if isinstance(parent, str) else None,
                        "owner": None
                        if owner is None
                        else {"person_id": owner.person_id, "name": owner.name},
                    },
                }
            )
        body = {
            "type": "FeatureCollection",
            "generation_id": context.grid.generation_id,
            "features": features,
        }
        response = jsonify(body)
        response.headers["Cache-Control"] = "private, max-age=60"
        return response

    @bp.get("/locate", tags=[TAG_GRID])
    def locate(query: LocateQuery) -> Response:
        """The cell at each tier for a coordinate (``null`` outside the territory)."""
        path = context.grid.point_to_cell(query.lon, query.lat, datum=query.datum)
        return jsonify(
            {
                "generation_id": context.grid.generation_id,
                "cell_path": None if path is None else path._asdict(),
            }
        )

    @bp.get("/persons/<person_id>", tags=[TAG_GRID])
    def person(path: PersonPath) -> Response:
        """A person on the roster and the posts he holds now."""
        found = roster.person(path.person_id)  # UnknownPersonError: 404
        now = clock()
        return jsonify(
            {
                "person_id": found.person_id,
                "name": found.name,
                "unit": found.unit_id or None,
                "posts": [
                    {"post": a.post.key, "kind_zh": a.post.kind.label_zh, "role": a.role.value}
                    for a in roster.posts_of(found.person_id, now)
                ],
            }
        )

    return bp


def _post_for(posts: list[Post], cell: str | None) -> Post | None:
    """The post of the assignee that answers for ``cell`` (else his first field post)."""
    if cell is not None:
        for post in posts:
            if post.kind in (PostKind.GRID_WORKER, PostKind.GRID_HEAD, PostKind.TOWN_LEADER) and (
                cell.startswith(post.place)
            ):
                return post
    return posts[0] if posts else None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=TZ)


def token_key() -> str:
    """A rate-limit key: the presented token's hash, else the client address."""
    header = request.headers.get("Authorization", "")
    if header:
        return "t:" + hashlib.sha256(header.encode()).hexdigest()[:24]
    return "ip:" + (request.remote_addr or "unknown")
