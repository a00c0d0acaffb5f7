"""The Open311 GeoReport v2 server, ``/open311/v2``: partner systems report and follow incidents.

Every call exists as ``<call>.json`` and ``<call>.xml`` (http://wiki.open311.org/GeoReport_v2):
``discovery``, ``services``, ``services/{service_code}``, ``requests`` (GET and POST),
``requests/{service_request_id}`` and ``tokens/{token}``. A service is a category of the matter
catalog; a service request is a case. Requests are created synchronously (services are
``realtime``): the reply names the case once it is committed, so ``tokens`` are never issued.

Writes authenticate by the partner's ``api_key`` form field only (``gridmgr apikey create``) —
never by a cookie, never by the URL — so a cross-site form posted from a logged-in browser
carries no credential and is refused. Contact details (``email``, ``first_name``, ``last_name``,
``phone``, ``device_id``, ``account_id``) and ``media_url`` are checked and then discarded: the
ledger is permanent, and personal data has no place in it. Reads need no key and show no personal
data: no reporter, only the officials who own a case (with ``extensions=true``).

Errors use the spec's format, ``[{"code": 400, "description": "…"}]`` or ``<errors><error>…``,
in the format the path asked for; the blueprint handles its own errors, so the native API's
format is untouched. flask-openapi3 documents the pydantic models; they are validated here,
from the raw request, because its own validation answers in the native format.
"""

from __future__ import annotations

import functools
import json
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from flask import Response, g, request
from flask_openapi3 import APIBlueprint, MediaType, Schema, Tag
from flask_openapi3.models.data_type import DataType
from pydantic import (
    BaseModel,
    ValidationError,
)
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from gridmgr.cases import Actor, Case, CaseState, Role
from gridmgr.errors import (
    CaseNotFoundError,
    CredentialError,
    GridMgrError,
    StoreError,
    UnknownCategoryError,
)
from gridmgr.intake.open311 import (
    CASE_ID_PATTERN,
    COMMAND_CENTER_NAME,
    ERRORS,
    MAX_BODY,
    MAX_RECORDS,
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
    to_xml,
    w3,
)
from gridmgr.responsibility.routing import RoutingContext, route_incident
from gridmgr.services.reports import Ingestor, report_incident
from gridmgr.store import CaseFilter, Store
from gridmgr.store.tokens import Credential

_FORMAT = "<any(json, xml):format>"
TAG = Tag(name="open311", description="Open311 GeoReport v2 (partner systems, the 12345 hotline)")


# -- the blueprint ---------------------------------------------------------------------------


def _wants_xml() -> bool:
    return request.path.endswith(".xml")


def _reply(root: str, body: object, status: int = 200) -> Response:
    """``body`` in the format the path asked for (``root`` names its XML document element)."""
    if _wants_xml():
        data, mimetype = to_xml(root, body), "text/xml"
    else:
        data, mimetype = json.dumps(body, ensure_ascii=False).encode(), "application/json"
    response = Response(data, status=status, content_type=f"{mimetype}; charset=utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"  # never sniffed into HTML
    return response


def _errors(status: int, *descriptions: str) -> Response:
    body = [{"code": status, "description": d} for d in descriptions]
    return _reply("errors", body, status)


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in e["loc"])
        message = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "missing":
            out.append(f"{field} was not provided")
        else:
            out.append(f"{field}: {message}" if field else message)
    return out


_Model = typing.TypeVar("_Model", bound=BaseModel)


def _parse(model: type[_Model], data: Mapping[str, object]) -> _Model:
    """``data`` as ``model``; an empty parameter counts as absent (the spec's "optional")."""
    given = {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        raise Open311Error(400, *_problems(exc)) from None


def open311_blueprint(
    store: Store,
    context: RoutingContext,
    *,
    clock: Callable[[], datetime],
    ingestor: Ingestor | None = None,
    jurisdiction_id: str = "320281",
) -> APIBlueprint:
    """The ``/open311/v2`` blueprint over ``store`` and ``context``.

    Reports group-commit through ``ingestor`` when given. ``jurisdiction_id`` is the one
    jurisdiction served: another named in a call is answered 404.
    """
    bp = APIBlueprint("open311", __name__, url_prefix=PREFIX, abp_tags=[TAG], abp_responses=ERRORS)
    catalog = context.catalog
    changeset = w3(clock())

    def partner() -> Credential:
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
            return store.check_credential(key, now=clock(), kind="apikey")
        except CredentialError as exc:
            raise Open311Error(403, f"api_key is invalid: {exc}") from None

    def open311(
        authenticate: bool = False,
    ) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
        """Validate the view's ``path``/``query``/``form`` models from the raw request.

        flask-openapi3 still reads the annotations to document the call; the models are checked
        here (``__delay_validate_request__``, as its ``validate_request`` does) so errors come
        out in the spec's format, and form values are taken as sent (flask-openapi3 would
        JSON-decode them: ``"123"`` would become a number, ``"null"`` nothing).
        """

        def decorate(
            view: Callable[..., Response],
        ) -> Callable[..., Response]:
            hints = typing.get_type_hints(view)

            @functools.wraps(view)
            def validated(**path: object) -> Response:
                if authenticate:
                    g.open311_partner = partner()
                given = (request.form if request.method == "POST" else request.args).get(
                    "jurisdiction_id", ""
                )
                if given.strip() and given.strip() != jurisdiction_id:
                    raise Open311Error(
                        404,
                        f"jurisdiction_id {given.strip()[:64]!r} was not found; "
                        f"this endpoint serves {jurisdiction_id}",
                    )
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

    @bp.before_request
    def _limits() -> None:
        request.max_content_length = MAX_BODY

    # -- discovery and services --------------------------------------------------------------

    @bp.get(f"/discovery.{_FORMAT}", responses={200: DiscoveryOut})
    @open311()
    def discovery(path: DiscoveryPath, query: JurisdictionQuery) -> Response:
        """Service discovery: where this endpoint is and what it speaks."""
        body = DiscoveryOut(
            changeset=changeset,
            contact=f"{COMMAND_CENTER_NAME}（jurisdiction_id {jurisdiction_id}）",
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
        return _reply("discovery", body.model_dump(mode="json"))

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
                for c in catalog
            ]
        )
        return _reply("services", body.model_dump(mode="json"))

    @bp.get(f"/services/<service_code>.{_FORMAT}", responses={200: ServiceDefinitionOut})
    @open311()
    def service_definition(path: ServicePath, query: JurisdictionQuery) -> Response:
        """A service's definition: our services take no attributes, so the list is empty."""
        if path.service_code not in catalog:
            raise Open311Error(
                404, f"service_code {path.service_code!r} was not found; services lists them"
            )
        body = ServiceDefinitionOut(service_code=path.service_code, attributes=[])
        return _reply("service_definition", body.model_dump(mode="json"))

    # -- requests ----------------------------------------------------------------------------

    @bp.post(f"/requests.{_FORMAT}", responses={200: CreatedList, 403: ErrorList})
    @open311(authenticate=True)
    def create_request(path: DiscoveryPath, form: ServiceRequestForm) -> Response:
        """Report an incident (form-encoded, ``api_key`` in the body); answered once committed.

        A point outside the territory is accepted into the command center's out-of-grid queue.
        Contact details and ``media_url`` are not stored.
        """
        credential: Credential = g.open311_partner
        if form.service_code not in catalog:
            raise Open311Error(
                404, f"service_code {form.service_code!r} was not found; services lists them"
            )
        category = catalog.category(form.service_code)
        assert form.lat is not None
        assert form.long is not None
        reported = report_incident(
            store,
            context,
            reporter=Actor(f"apikey:{credential.token_id}", Role.PARTNER, credential.subject),
            category=category.code,
            at=clock(),
            description=form.description or f"{category.name_zh}（Open311 报告未附描述）",
            lon=form.long,
            lat=form.lat,
            ingestor=ingestor,
            channel="citizen",  # Open311: citizens' apps and the partner systems relaying them
        )
        cells = reported.decision.cell_path
        notice = f"已受理，案件编号 {reported.number}"
        if cells is None:
            notice += "；该位置不在网格范围内，已转指挥中心分拨"
        else:
            notice += f"；所在网格 {context.cell_names.get(cells.tier3, cells.tier3)}"
        if form.contact_given or form.media_url:
            notice += "；联系方式与媒体链接未保存"
        body = CreatedList(
            [
                CreatedOut(
                    service_request_id=reported.case.case_id,
                    service_notice=notice,
                    account_id=None,
                )
            ]
        )
        return _reply("service_requests", body.model_dump(mode="json"))

    def agency_of(case: Case, cache: dict[tuple[str, str], str]) -> str:
        """The unit that handles the case, as routing names it now (else the command center)."""
        if case.cell is None:
            return COMMAND_CENTER_NAME
        key = (case.category, case.cell)
        if key not in cache:
            try:
                unit = route_incident(
                    context, category=case.category, at=clock(), cell=case.cell
                ).handling.unit
            except (GridMgrError, LookupError, ValueError):  # a retired cell or category
                unit = None
            cache[key] = COMMAND_CENTER_NAME if unit is None else unit.name
        return cache[key]

    def requests_reply(found: Sequence[Case], extensions: bool) -> Response:
        cache: dict[tuple[str, str], str] = {}
        merged = {
            i.case_id: i.merged_into
            for i in store.intake_info([c.case_id for c in found]).values()
            if i.merged_into is not None
        }
        masters = {m: store.case(m) for m in set(merged.values())}
        requests = []
        for c in found:
            out = case_to_request(
                c,
                catalog=catalog,
                cell_names=context.cell_names,
                agency=agency_of(c, cache),
                extensions=extensions,
            )
            if c.case_id in merged:  # a merged duplicate's reporter sees the master's outcome
                master = masters[merged[c.case_id]]
                notes = f"{master.state.label_zh}（已并入案件 {master.case_id}）"
                status = master.state.open311_status
                out = out.model_copy(update={"status": status, "status_notes": notes})
            requests.append(out)
        body = ServiceRequestList(requests)
        exclude = None if extensions else {"__all__": {"extended_attributes"}}
        return _reply("service_requests", body.model_dump(mode="json", exclude=exclude))

    @bp.get(f"/requests.{_FORMAT}", responses={200: ServiceRequestList})
    @open311()
    def list_requests(path: DiscoveryPath, query: RequestsQuery) -> Response:
        """Service requests, newest first: at most 1000, reported within at most 90 days."""
        ids = split_list(query.service_request_id)
        if ids:  # overrides every other filter (the spec says so)
            found = []
            for case_id in dict.fromkeys(ids):
                try:
                    found.append(store.case(case_id))
                except CaseNotFoundError:
                    continue
            return requests_reply(found, query.extensions)
        codes = frozenset(split_list(query.service_code))
        unknown = sorted(codes - set(catalog.codes))
        if unknown:
            raise Open311Error(
                400, f"service_code {unknown[0]!r} was not found; services lists them"
            )
        start, end = request_window(query.start_date, query.end_date, now=clock())
        statuses = set(split_list(query.status))  # both (or neither) is no filter
        states = [s.value for s in CaseState if s.open311_status in statuses]
        where = CaseFilter(
            states=states if len(statuses) == 1 else (),
            categories=sorted(codes),
            reported_from=start,
            reported_to=end + timedelta(microseconds=1),  # end_date is included
        )
        return requests_reply(store.cases(where, limit=MAX_RECORDS), query.extensions)

    @bp.get(f"/requests/<service_request_id>.{_FORMAT}", responses={200: ServiceRequestList})
    @open311()
    def get_request(path: RequestPath, query: RequestQuery) -> Response:
        """One service request, as a one-element list."""
        case_id = path.service_request_id
        try:
            if not CASE_ID_PATTERN.match(case_id):
                raise CaseNotFoundError(case_id)
            case = store.case(case_id)
        except CaseNotFoundError:
            raise Open311Error(404, f"service_request_id {case_id!r} was not found") from None
        return requests_reply([case], query.extensions)

    @bp.get(f"/tokens/<token>.{_FORMAT}")
    @open311()
    def token(path: TokenPath, query: JurisdictionQuery) -> Response:
        """Not used: requests are created synchronously, so no token is ever issued."""
        raise Open311Error(
            404,
            f"token {path.token[:64]!r} was not found: tokens are not used, requests are "
            "created synchronously and POST requests answers with the service_request_id",
        )

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

    _register_error_handlers(bp)
    return bp


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


def _register_error_handlers(bp: APIBlueprint) -> None:
    """Every error of this blueprint in the spec's format, with statuses 400/403/404 for input."""

    @bp.errorhandler(Open311Error)
    def _open311(exc: Open311Error) -> Response:
        return _errors(exc.status, *exc.descriptions)

    @bp.errorhandler(GridMgrError)
    def _gridmgr(exc: GridMgrError) -> Response:
        if isinstance(exc, CredentialError):
            return _errors(403, str(exc))
        if isinstance(exc, CaseNotFoundError | UnknownCategoryError):
            return _errors(404, str(exc))
        if isinstance(exc, StoreError):  # retry later: the report was not acknowledged
            return _errors(503, f"the store is unavailable: {exc}")
        return _errors(400, str(exc))

    @bp.errorhandler(ValidationError)
    def _invalid(exc: ValidationError) -> Response:
        return _errors(400, *_problems(exc))

    @bp.errorhandler(DataError)
    def _refused(exc: DataError) -> Response:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
        return _errors(400, f"the database refused a value: {first}")

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return _errors(exc.code or 500, exc.description or exc.name)
