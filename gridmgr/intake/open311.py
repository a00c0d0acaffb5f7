"""Open311 GeoReport v2 vocabulary: its input and output models, cases as service requests, XML.

Pure: no request, no session. :mod:`gridmgr.api.open311` serves these over HTTP. The models are
the one source for the JSON and the XML body of every call (http://wiki.open311.org/GeoReport_v2).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gridmgr.cases import Case, CaseState
from gridmgr.errors import GridMgrError, UnknownCategoryError
from gridmgr.grid.codes import code_length
from gridmgr.privacy import coarsen, mask_text
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.catalog import Catalog

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
COMMAND_CENTER_NAME = "江阴市网格化管理指挥中心"
"""The agency answering for a case no unit is known for (out of grid, or unit not on the roster)."""
MAX_WINDOW = timedelta(days=90)
"""The longest ``start_date``–``end_date`` span ``GET requests`` serves (the spec's default)."""
MAX_RECORDS = 1000
"""The most requests one ``GET requests`` returns (the spec's response volume): a page's size
at most; ``page`` reads on beyond it."""
MAX_PAGE = 10_000
"""The highest ``page`` served (ten million records at the largest page size)."""
MAX_BODY = 64 * 1024
MAX_DESCRIPTION = 2000

Format = Literal["json", "xml"]
CASE_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
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
    "notes": "note",
}
"""XML element of each item of a list, by the list's element (the spec's Spark convention)."""


class Open311Error(GridMgrError):
    """A call refused with a status and the spec's error list (one description per problem)."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = descriptions or ("error",)


# -- input models (documented by flask-openapi3, validated by gridmgr.api.open311) ----------


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
    page: int = Field(default=1, ge=1, le=MAX_PAGE, description="1 for the newest page_size")
    page_size: int = Field(default=MAX_RECORDS, ge=1, le=MAX_RECORDS, description="at most 1000")
    service_area: str | None = Field(
        default=None,
        pattern=r"^[0-9]{6,15}$",
        description="a grid cell code (town, community or unit grid): its requests only",
    )

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _w3_datetime(cls, value: object) -> object:
        return value if value is None else parse_w3_datetime(str(value))

    @field_validator("service_request_id")
    @classmethod
    def _case_ids(cls, value: str | None) -> str | None:
        ids = split_list(value)
        bad = [i for i in ids if not CASE_ID_PATTERN.match(i)]
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
    email: str | None = Field(
        default=None, max_length=254, description="kept encrypted with contact_consent only"
    )
    first_name: str | None = Field(default=None, max_length=100, description="not stored")
    last_name: str | None = Field(default=None, max_length=100, description="not stored")
    phone: str | None = Field(
        default=None, max_length=40, description="kept encrypted with contact_consent only"
    )
    contact_consent: bool = Field(
        default=False,
        description="true: the reporter agrees to be called back (回访) on phone or email; "
        "the contact is kept encrypted and erased 90 days after the case closes",
    )
    device_id: str | None = Field(default=None, max_length=200, description="not stored")
    account_id: str | None = Field(default=None, max_length=200, description="not stored")
    media_url: str | None = Field(
        default=None, max_length=2048, description="kept in the case's trail, never fetched"
    )
    source_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[\x21-\x7e]+$",
        description="the sender's own request id: a resend with it creates nothing twice",
    )

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
    name: str | None
    post: str


class NoteOut(BaseModel):
    """A public status change: when, to which status, and the state's name."""

    datetime: str
    status: Literal["open", "closed"]
    status_notes: str


class ExtendedOut(BaseModel):
    """``extended_attributes`` (``extensions=true``): where the case is and who answers for it."""

    tier1: str | None
    tier2: str | None
    tier3: str | None
    owner: OwnerOut | None
    state: str
    state_zh: str
    deadline: str | None
    notes: list[NoteOut] = []


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

    >>> from gridmgr.responsibility.calendar import TZ
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


def status_notes(changes: Sequence[tuple[datetime, str | None, str]]) -> list[NoteOut]:
    """The public status changes among a case's (time, from state, to state) events: the
    report, then each event that turns the case from open to closed or back.

    >>> from gridmgr.responsibility.calendar import TZ
    >>> at = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
    >>> notes = status_notes([(at, None, "reported"), (at, "reported", "registered"),
    ...     (at, "registered", "rejected")])
    >>> [(n.status, n.status_notes) for n in notes]
    [('open', '上报'), ('closed', '不予立案')]
    """
    out: list[NoteOut] = []
    for at, before, after in changes:
        state = CaseState(after)
        status: Literal["open", "closed"] = "open" if state.open311_status == "open" else "closed"
        if before is None or CaseState(before).open311_status != state.open311_status:
            out.append(NoteOut(datetime=w3(at), status=status, status_notes=state.label_zh))
    return out


def case_to_request(
    case: Case,
    *,
    catalog: Catalog,
    cell_names: Mapping[str, str],
    agency: str,
    extensions: bool,
    in_full: bool = True,
    media_url: str | None = None,
    notes: Sequence[NoteOut] = (),
) -> ServiceRequestOut:
    """A case as an Open311 service request (no reporter: a case carries no contact data).

    Unless ``in_full``, what the anonymous public reads (:mod:`gridmgr.privacy`): the place
    rounded to about 100 m, the description masked, and no owner's name.
    """
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
            owner=None if a is None else OwnerOut(name=a.name if in_full else None, post=a.post),
            state=case.state.value,
            state_zh=case.state.label_zh,
            deadline=None if case.due_at is None else w3(case.due_at),
            notes=list(notes),
        )
    lon, lat = (case.lon, case.lat) if in_full else coarsen(case.lon, case.lat)
    return ServiceRequestOut(
        service_request_id=case.case_id,
        status="open" if case.state.open311_status == "open" else "closed",
        status_notes=case.state.label_zh,
        service_name=service_name,
        service_code=case.category,
        description=case.description if in_full else mask_text(case.description),
        agency_responsible=agency,
        service_notice=notice,
        requested_datetime=w3(case.reported_at),
        updated_datetime=w3(case.updated_at),
        expected_datetime=None if due is None else w3(due),
        address=", ".join(names) or None,
        address_id=None,
        zipcode=None,
        lat=lat,
        long=lon,
        media_url=media_url,
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
