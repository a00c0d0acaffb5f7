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
import re
import typing
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, Literal

from flask import Response, g, request
from flask_openapi3 import APIBlueprint, MediaType, Schema, Tag
from flask_openapi3.models.data_type import DataType
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from gridmgr.cases import Actor, Case, CaseState, Role
from gridmgr.catalog import Catalog
from gridmgr.codes import code_length
from gridmgr.errors import GridMgrError, UnknownCategoryError
from gridmgr.routing import RoutingContext, route_incident
from gridmgr.services import Ingestor, report_incident
from gridmgr.store import CaseFilter, CaseNotFoundError, Store
from gridmgr.store.engine import StoreError
from gridmgr.store.tokens import Credential, CredentialError, check_credential
from gridmgr.workcal import TZ

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
COMMAND_CENTER_NAME = "江阴市网格化管理指挥中心"
"""The agency answering for a case no unit is known for (out of grid, or unit not on the roster)."""
MAX_WINDOW = timedelta(days=90)
"""The longest ``start_date``–``end_date`` span ``GET requests`` serves (the spec's default)."""
MAX_RECORDS = 1000
"""The most requests one ``GET requests`` returns (the spec's response volume)."""
MAX_BODY = 64 * 1024
MAX_DESCRIPTION = 2000
TAG = Tag(name="open311", description="Open311 GeoReport v2 (partner systems, the 12345 hotline)")

Format = Literal["json", "xml"]
_FORMAT = "<any(json, xml):format>"
_CASE_ID = re.compile(r"^[0-9a-f]{32}$")
_SERVICE_CODE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ITEM_TAGS = {
    "service_requests": "request",
    "services": "service",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}
"""XML element of each item of a list, by the list's element (the spec's Spark convention)."""


class Open311Error(GridMgrError):
    """A call refused with a status and the spec's error list (one description per problem)."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = descriptions or ("error",)


# -- input models (documented by flask-openapi3, validated by ``_open311``) ------------------


class _Input(BaseModel):
    """An Open311 input (``_parse`` drops empty parameters: the spec makes them absent ones)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class JurisdictionQuery(_Input):
    jurisdiction_id: str | None = Field(
        default=None, max_length=64, description="optional: this endpoint serves one jurisdiction"
    )


class RequestQuery(JurisdictionQuery):
    extensions: bool = Field(
        default=False, description="true adds extended_attributes: grid cells, owner, full state"
    )


class RequestsQuery(RequestQuery):
    """Filters of ``GET requests`` (each list comma separated)."""

    service_request_id: str | None = Field(
        default=None, max_length=40_000, description="case ids; overrides every other filter"
    )
    service_code: str | None = Field(default=None, max_length=4000)
    start_date: datetime | None = Field(
        default=None, description="ISO 8601 (w3), e.g. 2026-05-01T00:00:00+08:00"
    )
    end_date: datetime | None = Field(default=None, description="at most 90 days after start_date")
    status: str | None = Field(default=None, max_length=20, description="open, closed or both")

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _w3_datetime(cls, value: object) -> object:
        return value if value is None else parse_w3_datetime(str(value))

    @field_validator("service_request_id")
    @classmethod
    def _case_ids(cls, value: str | None) -> str | None:
        ids = split_list(value)
        bad = [i for i in ids if not _CASE_ID.match(i)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a service_request_id (32 hex digits)")
        if len(ids) > MAX_RECORDS:
            raise ValueError(f"{len(ids)} ids; ask for at most {MAX_RECORDS} at a time")
        return value

    @field_validator("service_code")
    @classmethod
    def _codes(cls, value: str | None) -> str | None:
        bad = [c for c in split_list(value) if not _SERVICE_CODE.match(c)]
        if bad:
            raise ValueError(f"{bad[0][:64]!r} is not a service_code; services.json lists them")
        return value

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        bad = [s for s in split_list(value) if s not in ("open", "closed")]
        if bad:
            raise ValueError(f"unknown status {bad[0]!r}; use open, closed, or open,closed")
        return value


class ServiceRequestForm(_Input):
    """``POST requests``: ``application/x-www-form-urlencoded``; a location by ``lat``/``long``."""

    api_key: str = Field(max_length=200, description="the partner's key (gridmgr apikey create)")
    jurisdiction_id: str | None = Field(default=None, max_length=64)
    service_code: str = Field(max_length=64, description="a category code from services.json")
    lat: float | None = Field(
        default=None, ge=-90, le=90, allow_inf_nan=False, description="WGS84, required"
    )
    long: float | None = Field(
        default=None, ge=-180, le=180, allow_inf_nan=False, description="WGS84, required"
    )
    address_string: str | None = Field(
        default=None, max_length=500, description="accepted, not located: send lat/long"
    )
    address_id: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    email: str | None = Field(default=None, max_length=254, description="checked, not stored")
    first_name: str | None = Field(default=None, max_length=100, description="not stored")
    last_name: str | None = Field(default=None, max_length=100, description="not stored")
    phone: str | None = Field(default=None, max_length=40, description="not stored")
    device_id: str | None = Field(default=None, max_length=200, description="not stored")
    account_id: str | None = Field(default=None, max_length=200, description="not stored")
    media_url: str | None = Field(default=None, max_length=2048, description="not stored yet")

    @field_validator("*", mode="before")
    @classmethod
    def _one_line(cls, value: object, info: ValidationInfo) -> object:
        one_line = info.field_name != "description"
        if one_line and isinstance(value, str) and _CONTROL_OR_NEWLINE.search(value):
            raise ValueError("contains control characters or line breaks; send one line of text")
        return value

    @field_validator("description", mode="before")
    @classmethod
    def _plain_text(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.replace("\r\n", "\n").replace("\r", "\n")
        if _CONTROL.search(text):
            raise ValueError("contains control characters; send plain text (line breaks allowed)")
        return text

    @field_validator("lat", mode="before")
    @classmethod
    def _not_swapped(cls, value: object) -> object:
        try:
            degrees = float(str(value))
        except ValueError:
            return value
        if 90 < abs(degrees) <= 180:
            raise ValueError(f"latitude {value} is out of range; are lat and long swapped?")
        return value

    @field_validator("media_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value, re.IGNORECASE):
            raise ValueError("must be an http:// or https:// address")
        return value

    @model_validator(mode="after")
    def _located(self) -> ServiceRequestForm:
        if self.lat is None or self.long is None:
            given = (
                "address_string/address_id alone" if self.address_string or self.address_id else ""
            )
            raise ValueError(
                "a coordinate is needed: send lat and long (WGS84 degrees); "
                + (f"{given} cannot be placed in a grid cell" if given else "none was sent")
            )
        return self

    @property
    def contact_given(self) -> bool:
        """Whether the form carried contact details (which are not kept)."""
        fields = (self.email, self.first_name, self.last_name, self.phone, self.device_id)
        return any(v is not None for v in (*fields, self.account_id))


class DiscoveryPath(BaseModel):
    format: Format


class ServicePath(DiscoveryPath):
    service_code: str = Field(max_length=64)


class RequestPath(DiscoveryPath):
    service_request_id: str = Field(max_length=64, description="the case id")


class TokenPath(DiscoveryPath):
    token: str = Field(max_length=200)


# -- output models (one source for the JSON and the XML body) --------------------------------


class ErrorOut(BaseModel):
    code: int
    description: str


class ErrorList(RootModel[list[ErrorOut]]):
    """``[{"code": …, "description": …}]``; in XML ``<errors><error>…</error></errors>``."""


class EndpointOut(BaseModel):
    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class DiscoveryOut(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[EndpointOut]


class ServiceOut(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str


class ServiceList(RootModel[list[ServiceOut]]):
    """The services (``<services><service>…``)."""


class ServiceDefinitionOut(BaseModel):
    service_code: str
    attributes: list[dict[str, Any]]


class CreatedOut(BaseModel):
    service_request_id: str
    service_notice: str | None
    account_id: str | None


class CreatedList(RootModel[list[CreatedOut]]):
    """The created request (``<service_requests><request>…``)."""


class OwnerOut(BaseModel):
    name: str
    post: str


class ExtendedOut(BaseModel):
    """``extended_attributes`` (``extensions=true``): where the case is and who answers for it."""

    tier1: str | None
    tier2: str | None
    tier3: str | None
    owner: OwnerOut | None
    state: str
    state_zh: str
    deadline: str | None


class ServiceRequestOut(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None
    extended_attributes: ExtendedOut | None = None


class ServiceRequestList(RootModel[list[ServiceRequestOut]]):
    """Service requests (``<service_requests><request>…``), newest first."""


ERRORS: dict[str | int | HTTPStatus, type[BaseModel] | dict[Any, Any] | None] = {
    400: ErrorList,
    404: ErrorList,
}


# -- pure helpers ----------------------------------------------------------------------------


def split_list(text: str | None) -> list[str]:
    """The items of a comma-separated parameter, stripped, empty ones dropped.

    >>> split_list(" open, closed,,"), split_list(None)
    (['open', 'closed'], [])
    """
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def parse_w3_datetime(text: str) -> datetime:
    """An ISO 8601 (w3) date or date-time; without an offset it is Beijing time.

    >>> parse_w3_datetime("2026-05-01T00:00:00Z").isoformat()
    '2026-05-01T00:00:00+00:00'
    >>> parse_w3_datetime("2026-05-01").isoformat()
    '2026-05-01T00:00:00+08:00'
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not an ISO 8601 date-time; write e.g. 2026-05-01T00:00:00+08:00"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=TZ)


def request_window(
    start: datetime | None, end: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """The ``[start, end]`` span ``GET requests`` searches: the last 90 days unless told, never
    more than 90 days (:class:`Open311Error` 400 otherwise).

    >>> from gridmgr.workcal import TZ
    >>> now = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
    >>> [t.date().isoformat() for t in request_window(None, None, now=now)]
    ['2026-02-05', '2026-05-06']
    >>> [t.date().isoformat() for t in request_window(now - timedelta(days=10), None, now=now)]
    ['2026-04-26', '2026-07-25']
    """
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - MAX_WINDOW
    if end is None:
        end = start + MAX_WINDOW
    if end < start:
        raise Open311Error(400, f"end_date {w3(end)} is before start_date {w3(start)}")
    if end - start > MAX_WINDOW:
        days = (end - start) / timedelta(days=1)
        raise Open311Error(
            400,
            f"start_date to end_date spans {days:.1f} days; ask for at most "
            f"{MAX_WINDOW.days} days at a time",
        )
    return start, end


def w3(at: datetime) -> str:
    """A time as the spec writes it: ISO 8601 to the second, in Beijing time.

    >>> from datetime import timezone
    >>> w3(datetime(2026, 5, 6, 1, 0, 0, 500, tzinfo=timezone.utc))
    '2026-05-06T09:00:00+08:00'
    """
    return at.astimezone(TZ).replace(microsecond=0).isoformat()


def case_to_request(
    case: Case,
    *,
    catalog: Catalog,
    cell_names: Mapping[str, str],
    agency: str,
    extensions: bool,
) -> ServiceRequestOut:
    """A case as an Open311 service request (no reporter: a case carries no contact data)."""
    try:
        service_name = catalog.category(case.category).name_zh
    except UnknownCategoryError:  # retired from the catalog since
        service_name = case.category
    cell = case.cell
    tiers = [None if cell is None else cell[: code_length(t)] for t in (1, 2, 3)]
    names = [cell_names[c] for c in reversed(tiers) if c is not None and c in cell_names]
    due = case.due_at if case.state.is_open else None  # the running stage's deadline
    stage = case.stage
    notice = None if due is None or stage is None else f"{stage.label_zh}时限 {w3(due)}"
    extended = None
    if extensions:
        a = case.assignee
        extended = ExtendedOut(
            tier1=tiers[0],
            tier2=tiers[1],
            tier3=tiers[2],
            owner=None if a is None else OwnerOut(name=a.name, post=a.post),
            state=case.state.value,
            state_zh=case.state.label_zh,
            deadline=None if case.due_at is None else w3(case.due_at),
        )
    return ServiceRequestOut(
        service_request_id=case.case_id,
        status="open" if case.state.open311_status == "open" else "closed",
        status_notes=case.state.label_zh,
        service_name=service_name,
        service_code=case.category,
        description=case.description,
        agency_responsible=agency,
        service_notice=notice,
        requested_datetime=w3(case.reported_at),
        updated_datetime=w3(case.updated_at),
        expected_datetime=None if due is None else w3(due),
        address=", ".join(names) or None,
        address_id=None,
        zipcode=None,
        lat=case.lat,
        long=case.lon,
        media_url=None,
        extended_attributes=extended,
    )


def to_xml(root: str, body: object) -> bytes:
    """``body`` (dicts, lists, scalars) as an XML document with root element ``root``.

    Text is escaped by the serializer; characters XML cannot carry become U+FFFD.

    >>> to_xml("errors", [{"code": 400, "description": "a < b"}]).decode().splitlines()[1]
    '<errors><error><code>400</code><description>a &lt; b</description></error></errors>'
    """
    document: bytes = ET.tostring(_element(root, body), encoding="utf-8", xml_declaration=True)
    return document


def _element(tag: str, value: object) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, Mapping):
        for key, child in value.items():
            element.append(_element(str(key), child))
    elif isinstance(value, list):
        item = _ITEM_TAGS.get(tag, "item")
        for child in value:
            element.append(_element(item, child))
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("\ufffd", str(value))
    return element


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
            return check_credential(store.engine, key, now=clock(), kind="apikey")
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
        body = ServiceRequestList(
            [
                case_to_request(
                    c,
                    catalog=catalog,
                    cell_names=context.cell_names,
                    agency=agency_of(c, cache),
                    extensions=extensions,
                )
                for c in found
            ]
        )
        exclude = None if extensions else {"__all__": {"extended_attributes"}}
        return _reply("service_requests", body.model_dump(mode="json", exclude=exclude))

    def find_cases(where: CaseFilter, codes: frozenset[str]) -> list[Case]:
        """At most :data:`MAX_RECORDS` cases matching ``where`` and, if given, ``codes``."""
        if not codes:
            return store.cases(where, limit=MAX_RECORDS)
        # the case filter has no category: page through the window (newest first)
        found: dict[str, Case] = {}
        offset = 0
        while len(found) < MAX_RECORDS:
            page = store.cases(where, limit=MAX_RECORDS, offset=offset)
            found.update((c.case_id, c) for c in page if c.category in codes)
            if len(page) < MAX_RECORDS:
                break
            offset += len(page)
        return list(found.values())[:MAX_RECORDS]

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
            reported_from=start,
            reported_to=end + timedelta(microseconds=1),  # end_date is included
        )
        return requests_reply(find_cases(where, codes), query.extensions)

    @bp.get(f"/requests/<service_request_id>.{_FORMAT}", responses={200: ServiceRequestList})
    @open311()
    def get_request(path: RequestPath, query: RequestQuery) -> Response:
        """One service request, as a one-element list."""
        case_id = path.service_request_id
        try:
            if not _CASE_ID.match(case_id):
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
