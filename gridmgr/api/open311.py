"""The Open311 GeoReport v2 server, ``/open311/v2``: partner systems report and follow incidents.

Every call exists as ``<call>.json`` and ``<call>.xml`` (http://wiki.open311.org/GeoReport_v2):
``discovery``, ``services``, ``services/{service_code}``, ``requests`` (GET and POST),
``requests/{service_request_id}`` and ``tokens/{token}``. A service is a category of the matter
catalog; a service request is a case. Requests are created synchronously (services are
``realtime``): the reply names the case once it is committed, so ``tokens`` are never issued.

Writes authenticate by the partner's ``api_key`` form field only (``gridmgr apikey create``) —
never by a cookie, never by the URL — so a cross-site form posted from a logged-in browser
carries no credential and is refused. A write's ``source_id`` (the sender's own request id) makes
a resend create nothing twice. With ``contact_consent=true`` the ``phone`` (else ``email``) is
kept encrypted for the callback (:mod:`gridmgr.services.contacts`), never in the ledger; names,
``device_id`` and ``account_id`` are checked and then discarded: the ledger is permanent, and
personal data has no place in it.

Reads need no key and show what :mod:`gridmgr.privacy` publishes: cases of ``public`` categories
only, places rounded to about 100 m, descriptions masked, no person's name, and photos of public
cases only (``media_url``, served under ``media/``). A partner's key of scope ``partner``, sent in
the ``X-Api-Key`` header, reads ``restricted`` cases too, in full, and each such read is recorded
in the access log. Lists page with ``page`` and ``page_size`` (at most 1000 a page).

Errors use the spec's format, ``[{"code": 400, "description": "…"}]`` or ``<errors><error>…``,
in the format the path asked for (rendered by :mod:`gridmgr.api.errors`); the blueprint handles
its own errors, so the native API's format is untouched. flask-openapi3 documents the pydantic
models; they are validated here, from the raw request, because its own validation answers in
the native format.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from flask import Response, current_app, g, request
from flask.sansio.blueprints import BlueprintSetupState
from flask_openapi3 import APIBlueprint, MediaType, Schema, Tag
from flask_openapi3.models.data_type import DataType
from pydantic import BaseModel, ValidationError

from gridmgr.api.errors import open311_problems, open311_reply, register_open311_error_handlers
from gridmgr.cases import Actor, Case, CaseState, Role
from gridmgr.errors import AttachmentNotFoundError, CredentialError, GridMgrError
from gridmgr.intake.open311 import (
    CASE_ID_PATTERN,
    COMMAND_CENTER_NAME,
    ERRORS,
    MAX_BODY,
    PREFIX,
    SPECIFICATION,
    CreatedList,
    CreatedOut,
    DiscoveryOut,
    DiscoveryPath,
    EndpointOut,
    ErrorList,
    JurisdictionQuery,
    Open311Error,
    RequestPath,
    RequestQuery,
    RequestsQuery,
    ServiceDefinitionOut,
    ServiceList,
    ServiceOut,
    ServicePath,
    ServiceRequestForm,
    ServiceRequestList,
    TokenPath,
    case_to_request,
    request_window,
    split_list,
    status_notes,
    w3,
)
from gridmgr.privacy import Audience
from gridmgr.responsibility.routing import route_incident
from gridmgr.services.contacts import ContactError, contact_kind, keep_contact
from gridmgr.services.credentials import Credential, partner_for_key
from gridmgr.services.publication import (
    audience_of,
    published_by_id,
    published_cases,
    published_photo,
    published_photos,
    published_state_changes,
)
from gridmgr.services.queries import CaseFilter, masters_of
from gridmgr.services.reports import report_incident, report_incident_once
from gridmgr.web.deps import services as current_services
from gridmgr.web.deps import services_of

_FORMAT = "<any(json, xml):format>"
JURISDICTION_ID = "320281"
"""The one jurisdiction served: another named in a call is answered 404."""
TAG = Tag(name="open311", description="Open311 GeoReport v2 (partner systems, the 12345 hotline)")
_CHANGESET = "GRIDMGR_OPEN311_CHANGESET"
API_KEY_HEADER = "X-Api-Key"
"""Where a read carries a partner's api_key (a URL would put it in every log on the way)."""

bp = APIBlueprint("open311", __name__, url_prefix=PREFIX, abp_tags=[TAG], abp_responses=ERRORS)


@bp.record
def _remember_changeset(state: BlueprintSetupState) -> None:
    # discovery's changeset: when this app started serving (the catalog it serves is loaded once)
    state.app.config[_CHANGESET] = w3(services_of(state.app).now())


@bp.before_request
def _limits() -> None:
    request.max_content_length = MAX_BODY


_Model = typing.TypeVar("_Model", bound=BaseModel)


def _parse(model: type[_Model], data: Mapping[str, object]) -> _Model:
    """``data`` as ``model``; an empty parameter counts as absent (the spec's "optional")."""
    given = {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        raise Open311Error(400, *open311_problems(exc)) from None


def _partner() -> Credential:
    """The partner named by the form's ``api_key`` (403 per the spec otherwise)."""
    if "api_key" in request.args:
        raise Open311Error(403, "send api_key in the form body, never in the URL")
    if request.mimetype != "application/x-www-form-urlencoded":
        raise Open311Error(
            400,
            "send the request as application/x-www-form-urlencoded, "
            f"not {request.mimetype or 'an untyped body'}",
        )
    key = request.form.get("api_key", "").strip()
    if not key:
        raise Open311Error(403, "api_key was not provided")
    try:
        return partner_for_key(current_services(), key)
    except CredentialError as exc:
        raise Open311Error(403, f"api_key is invalid: {exc}") from None


def _partner_actor(credential: Credential) -> Actor:
    return Actor(f"apikey:{credential.token_id}", Role.PARTNER, credential.subject)


def _reader() -> tuple[Audience, Actor | None]:
    """Who reads: the public, or the partner of the ``X-Api-Key`` header (403 if it is bad)."""
    if "api_key" in request.args:
        raise Open311Error(403, f"send api_key in the {API_KEY_HEADER} header, never in the URL")
    key = request.headers.get(API_KEY_HEADER, "").strip()
    if not key:
        return Audience.PUBLIC, None
    try:
        credential = partner_for_key(current_services(), key)
    except CredentialError as exc:
        raise Open311Error(403, f"api_key is invalid: {exc}") from None
    audience = audience_of(credential)
    return audience, _partner_actor(credential) if audience is Audience.PARTNER else None


def _check_jurisdiction() -> None:
    given = (request.form if request.method == "POST" else request.args).get("jurisdiction_id", "")
    if given.strip() and given.strip() != JURISDICTION_ID:
        raise Open311Error(
            404,
            f"jurisdiction_id {given.strip()[:64]!r} was not found; "
            f"this endpoint serves {JURISDICTION_ID}",
        )


def open311(
    authenticate: bool = False,
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Validate the view's ``path``/``query``/``form`` models from the raw request.

    flask-openapi3 still reads the annotations to document the call; the models are checked
    here (``__delay_validate_request__``, as its ``validate_request`` does) so errors come
    out in the spec's format, and form values are taken as sent (flask-openapi3 would
    JSON-decode them: ``"123"`` would become a number, ``"null"`` nothing).
    """

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        hints = typing.get_type_hints(view)

        @functools.wraps(view)
        def validated(**path: object) -> Response:
            if authenticate:
                g.open311_partner = _partner()
            _check_jurisdiction()
            kwargs: dict[str, object] = {}
            if "path" in hints:
                kwargs["path"] = _parse(hints["path"], path)
            if "query" in hints:
                query = {k: ",".join(v) for k, v in request.args.lists()}
                kwargs["query"] = _parse(hints["query"], query)
            if "form" in hints:
                kwargs["form"] = _parse(hints["form"], request.form.to_dict())
            return view(**kwargs)

        validated.__delay_validate_request__ = True  # type: ignore[attr-defined]
        return validated

    return decorate


# -- discovery and services ------------------------------------------------------------------


@bp.get(f"/discovery.{_FORMAT}", responses={200: DiscoveryOut})
@open311()
def discovery(path: DiscoveryPath, query: JurisdictionQuery) -> Response:
    """Service discovery: where this endpoint is and what it speaks."""
    changeset = current_app.config[_CHANGESET]
    body = DiscoveryOut(
        changeset=changeset,
        contact=f"{COMMAND_CENTER_NAME}（jurisdiction_id {JURISDICTION_ID}）",
        key_service=(
            f"api_key 由{COMMAND_CENTER_NAME}签发（gridmgr apikey create <合作方>）；"
            "the command center issues api_keys to partner systems"
        ),
        endpoints=[
            EndpointOut(
                specification=SPECIFICATION,
                url=request.url_root.rstrip("/") + PREFIX,
                changeset=changeset,
                type="production",
                formats=["text/xml", "application/json"],
            )
        ],
    )
    return open311_reply("discovery", body.model_dump(mode="json"))


@bp.get(f"/services.{_FORMAT}", responses={200: ServiceList})
@open311()
def services(path: DiscoveryPath, query: JurisdictionQuery) -> Response:
    """The services: one per category of the matter catalog (no extra attributes)."""
    body = ServiceList(
        [
            ServiceOut(
                service_code=c.code,
                service_name=c.name_zh,
                description=(
                    f"{c.name_en}; {c.competent_tier.label_zh}事项，{c.priority.label_zh}优先级"
                ),
                metadata=False,
                type="realtime",
                keywords=", ".join(c.keywords),
                group=c.group.label_zh,
            )
            for c in current_services().catalog
        ]
    )
    return open311_reply("services", body.model_dump(mode="json"))


@bp.get(f"/services/<service_code>.{_FORMAT}", responses={200: ServiceDefinitionOut})
@open311()
def service_definition(path: ServicePath, query: JurisdictionQuery) -> Response:
    """A service's definition: our services take no attributes, so the list is empty."""
    if path.service_code not in current_services().catalog:
        raise Open311Error(
            404, f"service_code {path.service_code!r} was not found; services lists them"
        )
    body = ServiceDefinitionOut(service_code=path.service_code, attributes=[])
    return open311_reply("service_definition", body.model_dump(mode="json"))


# -- requests --------------------------------------------------------------------------------


@bp.post(f"/requests.{_FORMAT}", responses={200: CreatedList, 403: ErrorList})
@open311(authenticate=True)
def create_request(path: DiscoveryPath, form: ServiceRequestForm) -> Response:
    """Report an incident (form-encoded, ``api_key`` in the body); answered once committed.

    A point outside the territory is accepted into the command center's out-of-grid queue.
    Contact details and ``media_url`` are not stored.
    """
    credential: Credential = g.open311_partner
    found = current_services()
    if form.service_code not in found.catalog:
        raise Open311Error(
            404, f"service_code {form.service_code!r} was not found; services lists them"
        )
    category = found.catalog.category(form.service_code)
    contact = (form.phone or form.email) if form.contact_consent else None
    if contact is not None:
        try:
            contact_kind(contact)
        except ContactError as exc:
            raise Open311Error(400, f"phone/email: {exc}") from None
    assert form.lat is not None
    assert form.long is not None
    report: dict[str, Any] = {
        "reporter": _partner_actor(credential),
        "category": category.code,
        "at": found.now(),
        "description": form.description or f"{category.name_zh}（Open311 报告未附描述）",
        "lon": form.long,
        "lat": form.lat,
        "ingestor": found.ingestor,
        "details": None if form.media_url is None else {"media_url": form.media_url},
    }
    # Open311 brings citizens' apps and the partner systems relaying them
    if form.source_id is None:
        reported = report_incident(found.store, found.context, channel="citizen", **report)
    else:  # the sender's id, per partner: two partners may number their requests alike
        source_id = f"{credential.subject[:35]}:{form.source_id}"
        case_id, again = report_incident_once(
            found.store, found.context, channel="citizen", source_id=source_id, **report
        )
        if again is None:
            return _created(case_id, f"重复提交：该请求已受理为案件 {case_id}，未重复立案")
        reported = again
    cells = reported.decision.cell_path
    notice = f"已受理，案件编号 {reported.number}"
    if cells is None:
        notice += "；该位置不在网格范围内，已转指挥中心分拨"
    else:
        notice += f"；所在网格 {found.context.cell_names.get(cells.tier3, cells.tier3)}"
    kept = contact is not None and keep_contact(
        found,
        reported.case.case_id,
        contact,
        consent=True,
        actor=_partner_actor(credential).actor_id,
    )
    if kept:
        days = found.settings.contact_retention_days
        notice += f"；回访联系方式已加密保存，结案{days}天后删除"
    elif form.contact_given:
        notice += "；联系方式未保存"
    return _created(reported.case.case_id, notice)


def _created(case_id: str, notice: str) -> Response:
    body = CreatedList(
        [CreatedOut(service_request_id=case_id, service_notice=notice, account_id=None)]
    )
    return open311_reply("service_requests", body.model_dump(mode="json"))


@bp.get(f"/requests.{_FORMAT}", responses={200: ServiceRequestList})
@open311()
def list_requests(path: DiscoveryPath, query: RequestsQuery) -> Response:
    """Service requests, newest first: a page of at most 1000, reported within at most 90 days."""
    audience, reader = _reader()
    ids = split_list(query.service_request_id)
    if ids:  # overrides every other filter (the spec says so)
        found = published_by_id(current_services(), ids, audience, reader=reader)
        return _requests_reply(found, query.extensions, audience)
    codes = frozenset(split_list(query.service_code))
    unknown = sorted(codes - set(current_services().catalog.codes))
    if unknown:
        raise Open311Error(400, f"service_code {unknown[0]!r} was not found; services lists them")
    start, end = request_window(query.start_date, query.end_date, now=current_services().now())
    statuses = set(split_list(query.status))  # both (or neither) is no filter
    states = [s.value for s in CaseState if s.open311_status in statuses]
    where = CaseFilter(
        subtree=query.service_area,
        states=states if len(statuses) == 1 else (),
        categories=sorted(codes),
        reported_from=start,
        reported_to=end + timedelta(microseconds=1),  # end_date is included
    )
    found = published_cases(
        current_services(),
        where,
        audience,
        limit=query.page_size,
        offset=(query.page - 1) * query.page_size,
        reader=reader,
    )
    return _requests_reply(found, query.extensions, audience)


@bp.get(f"/requests/<service_request_id>.{_FORMAT}", responses={200: ServiceRequestList})
@open311()
def get_request(path: RequestPath, query: RequestQuery) -> Response:
    """One service request, as a one-element list."""
    audience, reader = _reader()
    case_id = path.service_request_id
    found = []
    if CASE_ID_PATTERN.match(case_id):
        found = published_by_id(current_services(), [case_id], audience, reader=reader)
    if not found:  # a case the audience may not read is not found either: an id reveals nothing
        raise Open311Error(404, f"service_request_id {case_id!r} was not found")
    return _requests_reply(found, query.extensions, audience)


@bp.route("/media/<attachment_id>.jpg", methods=["GET"])
def media(attachment_id: str) -> Response:
    """A public case's photo (re-encoded without EXIF); any other photo is not found."""
    try:
        row, data = published_photo(current_services(), attachment_id)
    except AttachmentNotFoundError as exc:
        raise Open311Error(404, str(exc)) from None
    response = Response(data, mimetype=row.content_type)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get(f"/tokens/<token>.{_FORMAT}")
@open311()
def token(path: TokenPath, query: JurisdictionQuery) -> Response:
    """Not used: requests are created synchronously, so no token is ever issued."""
    raise Open311Error(
        404,
        f"token {path.token[:64]!r} was not found: tokens are not used, requests are "
        "created synchronously and POST requests answers with the service_request_id",
    )


def _requests_reply(found: Sequence[Case], extensions: bool, audience: Audience) -> Response:
    cache: dict[tuple[str, str], str] = {}
    masters = masters_of(current_services(), [c.case_id for c in found])
    photos = published_photos(current_services(), found)
    changes = published_state_changes(current_services(), found) if extensions else {}
    media_root = request.url_root.rstrip("/") + PREFIX + "/media/"
    requests = []
    for c in found:
        photo = photos.get(c.case_id)
        out = case_to_request(
            c,
            catalog=current_services().catalog,
            cell_names=current_services().context.cell_names,
            agency=_agency_of(c, cache),
            extensions=extensions,
            in_full=audience.in_full,
            media_url=None if photo is None else f"{media_root}{photo.attachment_id}.jpg",
            notes=status_notes(changes.get(c.case_id, [])),
        )
        master = masters.get(c.case_id)
        if master is not None:  # a merged duplicate's reporter sees the master's outcome
            notes = f"{master.state.label_zh}（已并入案件 {master.case_id}）"
            status = master.state.open311_status
            out = out.model_copy(update={"status": status, "status_notes": notes})
        requests.append(out)
    body = ServiceRequestList(requests)
    exclude = None if extensions else {"__all__": {"extended_attributes"}}
    return open311_reply("service_requests", body.model_dump(mode="json", exclude=exclude))


def _agency_of(case: Case, cache: dict[tuple[str, str], str]) -> str:
    """The unit that handles the case, as routing names it now (else the command center)."""
    if case.cell is None:
        return COMMAND_CENTER_NAME
    key = (case.category, case.cell)
    if key not in cache:
        try:
            unit = route_incident(
                current_services().context,
                category=case.category,
                at=current_services().now(),
                cell=case.cell,
            ).handling.unit
        except (GridMgrError, LookupError, ValueError):  # a retired cell or category
            unit = None
        cache[key] = COMMAND_CENTER_NAME if unit is None else unit.name
    return cache[key]


def _document_formats(bp: APIBlueprint) -> None:
    """Complete what flask-openapi3 writes: ``POST requests`` takes a form-urlencoded body (it
    writes multipart), and every reply may also be ``text/xml`` (for the ``.xml`` paths)."""
    for item in bp.paths.values():
        for operation in (item.get, item.post):
            if operation is None:
                continue
            body = operation.requestBody
            if body is not None and "multipart/form-data" in body.content:
                form = body.content.pop("multipart/form-data")
                body.content = {"application/x-www-form-urlencoded": form}
            for response in (operation.responses or {}).values():
                if response.content and "application/json" in response.content:
                    response.content["text/xml"] = MediaType(schema=Schema(type=DataType.STRING))


_document_formats(bp)


@bp.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown_call(rest: str) -> Response:
    # anything else under the prefix answers in the spec's format, not the native one
    raise Open311Error(
        404,
        f"{request.method} {PREFIX}/{rest[:100]} is not an Open311 GeoReport v2 call here; "
        f"see {PREFIX}/discovery.json",
    )


register_open311_error_handlers(bp)
