"""The native JSON API, ``/api/v1``: reports, cases and their lifecycle, trails, cells, people.

Every request names its caller with ``Authorization: Bearer gm_…`` (``gridmgr token create``);
a session cookie is never enough. The caller's role and cells come from the roster at the time
of the request (:mod:`gridmgr.access`), and every endpoint checks them: a grid worker sees
and acts on cases in his own cells (or assigned to him), a grid head in his community, a town
leader in his town, operators and managers everywhere. A case outside the caller's scope is
answered 404, exactly like a case that does not exist, so ids cannot be probed.

A report is acknowledged (201) only after its case, its event and its ledger entry are committed.
The controllers are thin: each reads its request, calls one use case of :mod:`gridmgr.services`
on the app's :class:`~gridmgr.services.context.Services`, and writes the reply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from flask import Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, FileStorage, Tag

from gridmgr.api import field, ledgerproofs, patrols, triage, units
from gridmgr.api.auth import authenticate, current_caller
from gridmgr.api.errors import (
    BodyTooLargeError,
    RequestError,
    UnsupportedMediaError,
    created,
    not_modified,
)
from gridmgr.api.replies import case_json, event_json, iso, photo_json
from gridmgr.api.schemas import (
    AccessLogQuery,
    ActionIn,
    ActionWithPhotoForm,
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
from gridmgr.cases import Action, CaseState
from gridmgr.errors import CaseFilterError
from gridmgr.intake.photos import MAX_PHOTO_BYTES, Photo, sanitize_photo
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import field_post
from gridmgr.services import accesslog, contacts, fieldsync, photos, queries
from gridmgr.services.actions import act_as
from gridmgr.services.cases import visible_case
from gridmgr.services.invariants import check_for
from gridmgr.services.queries import CaseFilter
from gridmgr.services.submissions import Submitted, submit_report
from gridmgr.services.triage import merge_view
from gridmgr.web.deps import ledger_watch_of, services

MAX_BODY = 64 * 1024
MULTIPART_ENDPOINTS = frozenset(
    {
        "api_v1.create_report_with_photo",
        "api_v1.upload_photo",
        "api_v1.case_action_with_photo",
    }
)
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
TAG_CASES = Tag(name="cases", description="Reports and the case lifecycle")
TAG_GRID = Tag(name="grid", description="Cells, owners, location")

bp = APIBlueprint("api_v1", __name__, url_prefix="/api/v1", abp_security=BEARER)


@bp.before_request
def _gate() -> None:
    """Authenticate (401 unless a valid personal token), then check the body's kind and size."""
    authenticate()
    if request.endpoint in MULTIPART_ENDPOINTS:
        if not (request.mimetype or "").startswith("multipart/form-data"):
            raise UnsupportedMediaError("send the photo as multipart/form-data (field 'photo')")
        if (request.content_length or 0) > MAX_PHOTO_BYTES + MAX_BODY:
            raise BodyTooLargeError(f"a photo is limited to {MAX_PHOTO_BYTES // 2**20} MiB")
        return
    if request.method in ("POST", "PUT", "PATCH"):
        if (request.content_length or 0) > MAX_BODY:
            raise BodyTooLargeError(f"a request body is limited to {MAX_BODY} bytes")
        if not request.is_json:
            raise UnsupportedMediaError("send JSON (Content-Type: application/json)")
        try:
            body = request.get_json(silent=True)  # cached for the validation that follows
        except RecursionError:
            body = None
        if not isinstance(body, dict):
            raise RequestError("the body is not a JSON object (malformed JSON?)")


# -- reports and photos ----------------------------------------------------------------------


@bp.post("/reports", tags=[TAG_CASES], responses={201: None, 200: None})
def create_report(body: ReportIn) -> Response:
    """Report an incident: routed to its cell and owner chain, acknowledged once durable.

    With a ``client_id``, a resend writes nothing and gets the first reply again (200)."""
    return _report_reply(_submit(body), body.client_id)


@bp.post("/reports/with-photo", tags=[TAG_CASES], responses={201: None, 200: None})
def create_report_with_photo(form: ReportWithPhotoForm) -> Response:
    """Report an incident with its photo in one multipart request.

    The photo is checked and cleaned (decoded, EXIF and GPS stripped) before anything is
    stored; a bad photo refuses the whole report.
    """
    photo = _read_photo(form.photo)
    report = ReportIn(
        lon=form.lon,
        lat=form.lat,
        datum=form.datum,
        category=form.category,
        description=form.description,
        client_id=form.client_id,
        captured_at=form.captured_at,
    )
    return _report_reply(_submit(report, photo), form.client_id)


@bp.post("/cases/<case_id>/photos", tags=[TAG_CASES], responses={201: None})
def upload_photo(path: CasePath, form: PhotoForm) -> Response:
    """Attach a photo to a case in your scope (e.g. the handler's photo of the result)."""
    data = form.photo.stream.read(MAX_PHOTO_BYTES + 1)
    case, row = photos.attach_photo(services(), current_caller(), path.case_id, data)
    return created(photo_json(row, case))


@bp.get("/cases/<case_id>/photos", tags=[TAG_CASES])
def case_photos(path: CasePath) -> Response:
    """The photos of a case."""
    case, rows = photos.case_photos(services(), current_caller(), path.case_id)
    return jsonify({"photos": [photo_json(r, case) for r in rows]})


@bp.get("/photos/<attachment_id>", tags=[TAG_CASES])
def get_photo(path: AttachmentPath) -> Response:
    """One photo (JPEG, re-encoded without EXIF) of a case in your scope."""
    row, data = photos.read_photo(services(), current_caller(), path.attachment_id)
    return Response(
        data,
        mimetype="image/jpeg",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
            "Content-Disposition": f'inline; filename="{row.attachment_id}.jpg"',
        },
    )


def _submit(body: ReportIn, photo: Photo | None = None) -> Submitted:
    return submit_report(
        services(),
        current_caller(),
        category=body.category,
        description=body.description,
        lon=body.lon,
        lat=body.lat,
        datum=body.datum,
        photo=photo,
        client_id=body.client_id,
        captured_at=body.captured_at,
    )


def _read_photo(upload: FileStorage) -> Photo:
    data = upload.stream.read(MAX_PHOTO_BYTES + 1)
    return sanitize_photo(data)  # PhotoError: 4xx naming the problem


def _report_reply(done: Submitted, client_id: str | None) -> Response:
    location = f"/api/v1/cases/{done.case.case_id}"
    if done.resent and client_id is not None:  # the first reply again, with 200
        kept = fieldsync.wait_for_reply(services(), current_caller(), client_id)
        response = jsonify(kept.reply if kept is not None else _report_body(done))
        response.headers["Location"] = location
        return response
    body = _report_body(done)
    if client_id is not None:
        fieldsync.keep_reply(services(), current_caller(), client_id, body)
    return created(body, location=location)


def _report_body(done: Submitted) -> dict[str, Any]:
    d = done.decision.to_dict()
    body: dict[str, Any] = {
        "case_id": done.case.case_id,
        "number": done.number,
        "state": done.case.state.value,
        "queue": d["queue"],
        "cell_path": d["cell_path"],
        "responsible": d["responsible"],
        "deadlines": d["deadlines"],
        "near_border": d["near_border"],
        "probable_duplicates": [m.to_dict() for m in done.probable_duplicates],
        "probable_duplicates_outside_scope": done.duplicates_outside_scope,
        "merged_into": None if done.merged_into is None else done.merged_into.case_id,
    }
    if done.photo is not None:
        body["photo"] = photo_json(done.photo, done.case)
    return body


# -- cases -----------------------------------------------------------------------------------


@bp.get("/cases", tags=[TAG_CASES])
def list_cases(query: CaseQuery) -> Response:
    """Cases in your scope, newest first, filtered and paginated (``limit`` ≤ 200)."""
    states = [s.strip() for s in (query.state or "").split(",") if s.strip()]
    unknown = sorted(set(states) - {s.value for s in CaseState})
    if unknown:  # a typo would otherwise list nothing, silently
        raise CaseFilterError(
            f"state {unknown[0][:64]!r} is not a case state; use "
            + ", ".join(s.value for s in CaseState)
        )
    where = CaseFilter(
        subtree=query.subtree,
        states=states,
        open_only=bool(query.open),
        overdue_at=services().now() if query.overdue else None,
        assignee_id=query.assignee,
        reported_from=_aware(query.reported_from),
        reported_to=_aware(query.reported_to),
    )
    found, total = queries.visible_cases(
        services(), current_caller(), where, limit=query.limit, offset=query.offset
    )
    return jsonify(
        {
            "cases": [case_json(c) for c in found],
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
        }
    )


@bp.get("/cases/<case_id>", tags=[TAG_CASES])
def get_case(path: CasePath) -> Response:
    """One case (ETag: its version; send If-None-Match to poll cheaply)."""
    case = visible_case(services().store, current_caller(), path.case_id)
    view = merge_view(services().store, case.case_id)
    # a merged duplicate shows its master's outcome: the master's version is in the tag
    tail = "" if view.master is None else f"-m{view.master.version}"
    etag = f'"{case.case_id}-{case.version}{tail}"'
    if request.headers.get("If-None-Match") == etag:
        return not_modified(etag)
    accesslog.record_reads(services(), current_caller().actor, [case], door="api")
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
    """Apply one lifecycle action (the state machine's guards decide who may).

    With a ``client_id`` the reply adds the action's ledger ``event``, and a resend writes
    nothing and gets the first reply again; ``captured_at`` is kept in the event's details
    (the action takes effect at the server's time)."""
    return _act(path.case_id, body)


@bp.post("/cases/<case_id>/actions/with-photo", tags=[TAG_CASES])
def case_action_with_photo(path: CasePath, form: ActionWithPhotoForm) -> Response:
    """Apply one lifecycle action with its photo in one multipart request (反馈 with the
    after-photo): the photo is stored only when the caller may take the action, and a resend
    of the same ``client_id`` stores neither again."""
    photo = _read_photo(form.photo)
    body = ActionIn(
        action=form.action,
        comment=form.comment,
        client_id=form.client_id,
        captured_at=form.captured_at,
    )
    return _act(path.case_id, body, photo=photo)


def _act(case_id: str, body: ActionIn, *, photo: Photo | None = None) -> Response:
    """One action as both doors take it: once per ``client_id`` when one is given."""
    if body.client_id is not None:
        return _action_once(case_id, body, body.client_id, photo=photo)
    note = None
    if body.captured_at is not None:
        at = fieldsync.capture_time(body.captured_at, now=services().now())
        note = {"captured_at": at.isoformat()}
    updated = act_as(
        services(),
        current_caller(),
        case_id,
        Action(body.action),
        photo=photo,
        **_action_fields(body),
        note=note,
    )
    return jsonify(case_json(updated))


class _ActionFields(TypedDict):
    comment: str
    version: int | None
    assignee_id: str | None
    unit_id: str | None
    extend: str | None
    defer_to: datetime | None
    rating: int | None


def _action_fields(body: ActionIn) -> _ActionFields:
    """What an action's body gives the service beside the action itself (both doors: at once and
    with a client id), typed so that the calls are checked."""
    return _ActionFields(
        comment=body.comment,
        version=body.version,
        assignee_id=body.assignee,
        unit_id=body.unit,
        extend=body.extend,
        defer_to=body.defer_to,
        rating=body.rating,
    )


def _action_once(
    case_id: str, body: ActionIn, client_id: str, *, photo: Photo | None = None
) -> Response:
    caller = current_caller()
    acted = fieldsync.act_once(
        services(),
        caller,
        case_id,
        Action(body.action),
        client_id=client_id,
        captured_at=body.captured_at,
        photo=photo,
        **_action_fields(body),
    )
    if acted.reply is not None:
        return jsonify(acted.reply)
    reply = case_json(acted.case)
    reply["client_id"] = client_id
    reply["event"] = None if acted.event is None else event_json(acted.event)
    if not acted.resent:
        fieldsync.keep_reply(services(), caller, client_id, reply)
    return jsonify(reply)


@bp.get("/cases/<case_id>/trail", tags=[TAG_CASES])
def case_trail(path: CasePath) -> Response:
    """A case's events from the ledger, each marked verified or not."""
    entries = queries.case_trail(services(), current_caller(), path.case_id)
    case = visible_case(services().store, current_caller(), path.case_id)
    accesslog.record_reads(services(), current_caller().actor, [case], door="api")
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


@bp.get("/cases/<case_id>/contact", tags=[TAG_CASES])
def case_contact(path: CasePath) -> Response:
    """The reporter's callback contact (回访), kept with his consent: operators only; each read is
    recorded in the access log. ``contact`` is null when none was kept or it was erased."""
    found = contacts.read_contact(services(), current_caller(), path.case_id)
    kind, contact = found if found is not None else (None, None)
    return jsonify({"case_id": path.case_id, "kind": kind, "contact": contact})


@bp.get("/access-log", tags=[TAG_CASES])
def access_log(query: AccessLogQuery) -> Response:
    """Who read a restricted or confidential case (访问留痕): the reads of one case, or by one
    person, within your cells (operators, managers, town leaders and grid heads)."""
    reads = accesslog.access_log(
        services(),
        current_caller(),
        case_id=query.case,
        person=query.person,
        since=_aware(query.since),
        limit=query.limit,
    )
    return jsonify(
        {
            "reads": [
                {
                    "at": r.at.astimezone(TZ).isoformat(),
                    "reader": r.reader,
                    "reader_name": r.reader_name,
                    "role": r.role,
                    "door": r.door,
                    "case_id": r.case_id,
                    "cell": r.cell,
                    "tier": r.tier,
                }
                for r in reads
            ]
        }
    )


@bp.get("/events", tags=[TAG_CASES])
def events(query: EventsQuery) -> Response:
    """Ledger events after ``since`` (city-wide callers): what changed since you last asked."""
    rows = queries.ledger_events(services(), current_caller(), since=query.since, limit=query.limit)
    head = rows[-1].seq if rows else query.since
    return jsonify({"events": [event_json(e) for e in rows], "next": head})


@bp.get("/invariants", tags=[TAG_CASES])
def invariants() -> Response:
    """The "nothing escapes the grid" check now (operators, managers): each line with its
    count and first offending case ids; ``ok`` is false when any line is red. ``ledger`` holds
    the last incremental and the last full verification of the ledger (``null`` before the
    first of each): when, up to which event, how many read, ok, the problem."""
    verified = ledger_watch_of(current_app).status()
    lines = check_for(services(), current_caller(), verified=verified)
    return jsonify(
        {
            "at": iso(services().now()),
            "ok": all(line.ok for line in lines),
            "lines": [line.to_json() for line in lines],
            "ledger": {kind: verified.get(kind) for kind in ("incremental", "full")},
        }
    )


# -- the grid and its people -----------------------------------------------------------------


@bp.get("/cells/<int:tier>", tags=[TAG_GRID])
def cells(path: TierPath) -> Response:
    """The cells of one tier as GeoJSON, each with its owner now."""
    grid, roster, now = services().grid, services().roster, services().now()
    frame = grid.tier(path.tier)
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
    body = {"type": "FeatureCollection", "generation_id": grid.generation_id, "features": features}
    response = jsonify(body)
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


@bp.get("/locate", tags=[TAG_GRID])
def locate(query: LocateQuery) -> Response:
    """The cell at each tier for a coordinate (``null`` outside the territory)."""
    grid = services().grid
    path = grid.point_to_cell(query.lon, query.lat, datum=query.datum)
    return jsonify(
        {
            "generation_id": grid.generation_id,
            "cell_path": None if path is None else path._asdict(),
        }
    )


@bp.get("/persons/<person_id>", tags=[TAG_GRID])
def person(path: PersonPath) -> Response:
    """A person on the roster and the posts he holds now."""
    roster = services().roster
    found = roster.person(path.person_id)  # UnknownPersonError: 404
    return jsonify(
        {
            "person_id": found.person_id,
            "name": found.name,
            "unit": found.unit_id or None,
            "posts": [
                {"post": a.post.key, "kind_zh": a.post.kind.label_zh, "role": a.role.value}
                for a in roster.posts_of(found.person_id, services().now())
            ],
        }
    )


bp.register_api(patrols.bp)  # /api/v1/patrols, under this blueprint's authentication
bp.register_api(ledgerproofs.bp)  # /api/v1/ledger/sth, /proof, /consistency
bp.register_api(triage.bp)  # place, merge, inbox
bp.register_api(units.bp)  # unit inboxes and members, the 派遣 picker
bp.register_api(field.bp)  # the field app: /sync/status, /me/bundle


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=TZ)
