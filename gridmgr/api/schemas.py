"""The native API's request models (pydantic): what a client may send, checked field by field.

flask-openapi3 turns them into the OpenAPI document at ``/api/openapi.json``; every message
names the field and what to fix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask_openapi3 import FileStorage
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

MAX_PAGE = 200
"""The largest page a case list returns."""
CLIENT_ID_PATTERN = r"^[A-Za-z0-9-]{8,64}$"
"""A field app's id of one write (a UUID): 8 to 64 letters, digits and hyphens."""
CLIENT_ID_HELP = (
    "the app's id of this write (a UUID): a resend with the same id writes nothing and "
    "gets the first reply again (200)"
)
CAPTURED_AT_HELP = (
    "when the worker captured it (ISO 8601 with offset); not in the future (2 min clock "
    "skew allowed), at most 7 days ago"
)


def _text_without_controls(value: str) -> str:
    bad = sorted({f"U+{ord(c):04X}" for c in value if ord(c) < 32 and c not in "\n\t"})
    if bad:
        raise ValueError(f"contains control characters ({', '.join(bad)}); remove them")
    return value


def _json_number(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a JSON number (degrees), got {type(value).__name__}")
    return value


class ReportIn(BaseModel):
    """A report from a grid worker's app (coordinates in ``datum``; WGS84 unless said)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    datum: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    category: str = Field(min_length=1, max_length=48)
    description: str = Field(min_length=1, max_length=2000)
    client_id: str | None = Field(
        default=None, pattern=CLIENT_ID_PATTERN, description=CLIENT_ID_HELP
    )
    captured_at: AwareDatetime | None = Field(default=None, description=CAPTURED_AT_HELP)

    @field_validator("lon", "lat", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        return _json_number(value)

    @field_validator("lat", mode="before")
    @classmethod
    def _not_swapped(cls, value: object) -> object:
        if isinstance(value, int | float) and 90 < abs(value) <= 180:
            raise ValueError(f"latitude {value} is out of range; are lon and lat swapped?")
        return value

    @field_validator("category", "description")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        return _text_without_controls(value)


ActionName = Literal[
    "register",
    "reject",
    "dispatch",
    "accept",
    "return",
    "transfer",
    "start",
    "request_defer",
    "approve_defer",
    "refuse_defer",
    "handle",
    "verify",
    "reopen",
    "close",
    "evaluate",
    "supervise",
]
"""The lifecycle actions a client may ask for."""


class ActionIn(BaseModel):
    """One lifecycle action on a case."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: ActionName
    comment: str = Field(min_length=1, max_length=2000)
    assignee: str | None = Field(default=None, max_length=64, description="dispatch: person id")
    unit: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="dispatch or transfer (移交执法): a unit id (default: routing's choice)",
    )
    extend: str | None = Field(
        default=None, max_length=16, description="request_defer: added to the deadline, e.g. 1d"
    )
    defer_to: AwareDatetime | None = Field(
        default=None, description="request_defer: the new deadline (instead of extend)"
    )
    rating: int | None = Field(default=None, ge=1, le=5, description="evaluate: 1..5")
    version: int | None = Field(default=None, ge=0, description="the case version you saw")
    client_id: str | None = Field(
        default=None, pattern=CLIENT_ID_PATTERN, description=CLIENT_ID_HELP
    )
    captured_at: AwareDatetime | None = Field(
        default=None, description=CAPTURED_AT_HELP + "; kept in the event's details"
    )

    @field_validator("comment")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        return _text_without_controls(value)


class ReportWithPhotoForm(BaseModel):
    """A report and its photo in one multipart request (one round trip from a phone)."""

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    datum: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    category: str = Field(min_length=1, max_length=48)
    description: str = Field(min_length=1, max_length=2000)
    photo: FileStorage
    client_id: str | None = Field(
        default=None, pattern=CLIENT_ID_PATTERN, description=CLIENT_ID_HELP
    )
    captured_at: AwareDatetime | None = Field(default=None, description=CAPTURED_AT_HELP)

    @field_validator("lat", mode="before")
    @classmethod
    def _not_swapped(cls, value: object) -> object:
        try:
            number = float(str(value))
        except ValueError:
            return value
        if 90 < abs(number) <= 180:
            raise ValueError(f"latitude {number} is out of range; are lon and lat swapped?")
        return value

    @field_validator("category", "description")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        return _text_without_controls(value.strip())


class ActionWithPhotoForm(BaseModel):
    """One lifecycle action and its photo in one multipart request (反馈 with the after-photo,
    from a phone's outbox)."""

    action: ActionName
    comment: str = Field(min_length=1, max_length=2000)
    photo: FileStorage
    client_id: str | None = Field(
        default=None, pattern=CLIENT_ID_PATTERN, description=CLIENT_ID_HELP
    )
    captured_at: AwareDatetime | None = Field(
        default=None, description=CAPTURED_AT_HELP + "; kept in the event's details"
    )

    @field_validator("comment")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        return _text_without_controls(value.strip())


class PhotoForm(BaseModel):
    photo: FileStorage


class AttachmentPath(BaseModel):
    attachment_id: str = Field(pattern=r"^[0-9a-f]{32}$")


class CasePath(BaseModel):
    case_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")


class CaseQuery(BaseModel):
    """Filters for listing cases (all optional); results are limited to the caller's scope."""

    model_config = ConfigDict(extra="forbid")

    subtree: str | None = Field(default=None, pattern=r"^\d{6,15}$", description="cell code prefix")
    state: str | None = Field(default=None, max_length=200, description="comma-separated states")
    open: bool | None = None
    overdue: bool | None = Field(default=None, description="open with a stage past its deadline")
    assignee: str | None = Field(default=None, max_length=64)
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class EventsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: int = Field(default=0, ge=0, le=2**62, description="the last ledger sequence you saw")
    limit: int = Field(default=500, ge=1, le=5000)


class AccessLogQuery(BaseModel):
    """Whose reads to list: of one case, or by one person (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    case: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$", description="a case id")
    person: str | None = Field(
        default=None, max_length=100, description="a reader: a person id, or apikey:<key id>"
    )
    since: datetime | None = None
    limit: int = Field(default=1000, ge=1, le=5000)


class TierPath(BaseModel):
    tier: int = Field(ge=1, le=3)


class LocateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    datum: Literal["wgs84", "gcj02", "bd09"] = "wgs84"


class PersonPath(BaseModel):
    person_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
