"""Statuses as HTTP: the one place where gridmgr's outcomes become status codes and bodies.

The native API answers errors as ``{"error": {"status", "message", …}}`` (:func:`problem`),
Open311 in its spec's list format, JSON or XML (:func:`open311_errors`). Controllers raise
gridmgr's exceptions (or the request errors below) and return :func:`created` or
:func:`not_modified` for the statuses other than 200; they never build an error response.
Open311 calls raise :class:`~gridmgr.intake.open311.Open311Error`, whose code is part of the
spec's error body.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_openapi3 import APIBlueprint
from pydantic import ValidationError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from gridmgr.cases import GuardError, IllegalTransitionError
from gridmgr.errors import (
    AttachmentFileError,
    AttachmentNotFoundError,
    CaptureTimeError,
    CaseNotFoundError,
    ClientIdConflictError,
    ConcurrentUpdateError,
    CredentialError,
    DeviceNotFoundError,
    ForbiddenError,
    GridMgrError,
    StoreError,
    UnknownCategoryError,
    UnknownPersonError,
)
from gridmgr.inspection import UnknownInspectionError
from gridmgr.intake.open311 import Open311Error, to_xml
from gridmgr.intake.photos import PhotoTooLargeError, UnsupportedPhotoError
from gridmgr.ledger.treehead import NoTreeHeadError


class RequestError(GridMgrError, ValueError):
    """A request the API cannot read: not a JSON object, or the wrong kind of body (400)."""


class BodyTooLargeError(RequestError):
    """A request body over the endpoint's limit (413)."""


class UnsupportedMediaError(RequestError):
    """A body of a media type the endpoint does not read (415)."""


VALIDATION_STATUS = 400
"""The status of a request whose parameters or body fail their pydantic model."""

STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (CredentialError, 401),
    (ForbiddenError, 403),
    (GuardError, 403),
    (CaseNotFoundError, 404),
    (AttachmentNotFoundError, 404),
    (DeviceNotFoundError, 404),
    (UnknownInspectionError, 404),
    (NoTreeHeadError, 404),
    (BodyTooLargeError, 413),
    (PhotoTooLargeError, 413),
    (UnsupportedMediaError, 415),
    (UnsupportedPhotoError, 415),
    (AttachmentFileError, 500),
    (UnknownPersonError, 404),
    (IllegalTransitionError, 409),
    (ConcurrentUpdateError, 409),
    (ClientIdConflictError, 409),
    (CaptureTimeError, 422),
    (StoreError, 503),
    (LookupError, 400),  # unknown category, cell … named in a request
    (ValueError, 400),
    (GridMgrError, 400),
)


GUARD_STATUS = {
    **dict.fromkeys(
        (
            "role",
            "owner_only",
            "verifier_is_handler",
            "reporter_only",
            "approver",
            "approver_only",
        ),
        403,
    ),
    **dict.fromkeys(
        (
            "time_order",
            "not_due",
            "already_escalated",
            "no_stage",
            "defer_pending",
            "defer_limit",
            "no_request",
        ),
        409,
    ),
}
"""Status of a broken case rule by its name; any other rule is bad input (422)."""


# -- the native API ------------------------------------------------------------------------


def problem(status: int, message: str, **extra: Any) -> Response:
    """A JSON error body ``{"error": {"status", "message", …}}``."""
    body = {"error": {"status": status, "message": message, **extra}}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="gridmgr"'
    return response


def status_of(exc: GridMgrError) -> int:
    """The HTTP status of a gridmgr error."""
    if isinstance(exc, GuardError):
        return GUARD_STATUS.get(exc.rule, 422)
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400  # pragma: no cover - GridMgrError is in STATUS


def created(body: Any, *, location: str | None = None) -> Response:
    """A 201 with ``body`` as JSON (and a ``Location`` of the new resource)."""
    response = jsonify(body)
    response.status_code = 201
    if location is not None:
        response.headers["Location"] = location
    return response


def not_modified(etag: str) -> Response:
    """A 304: the client's copy (``If-None-Match: etag``) is current."""
    return Response(status=304, headers={"ETag": etag})


def validation_problem(exc: ValidationError) -> Response:
    """A 400 listing every field that is wrong and why."""
    fields = [
        {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return problem(VALIDATION_STATUS, f"invalid request: {summary}", fields=fields)


def register_error_handlers(app: Flask) -> None:
    """Map every gridmgr error and every HTTP error to a JSON body; never an HTML 500 page."""

    @app.errorhandler(GridMgrError)
    def _gridmgr(exc: GridMgrError) -> ResponseReturnValue:
        extra = {"rule": exc.rule} if isinstance(exc, GuardError) else {}
        return problem(status_of(exc), str(exc), **extra)

    @app.errorhandler(DataError)
    def _refused_value(exc: DataError) -> ResponseReturnValue:
        return problem(400, _refused(exc))

    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError) -> ResponseReturnValue:
        return validation_problem(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        return problem(exc.code or 500, exc.description or exc.name)


def _refused(exc: DataError) -> str:
    # the database refused a value validation let through: bad input, never a 500
    first = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
    return f"the database refused a value: {first}"


# -- Open311 ---------------------------------------------------------------------------------


def open311_reply(root: str, body: object, status: int = 200) -> Response:
    """``body`` in the format the path asked for, ``.json`` or ``.xml`` (``root`` names its XML
    document element)."""
    if request.path.endswith(".xml"):
        data, mimetype = to_xml(root, body), "text/xml"
    else:
        data, mimetype = json.dumps(body, ensure_ascii=False).encode(), "application/json"
    response = Response(data, status=status, content_type=f"{mimetype}; charset=utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"  # never sniffed into HTML
    return response


def open311_errors(status: int, *descriptions: str) -> Response:
    """The spec's error list, ``[{"code": status, "description": …}, …]``."""
    body = [{"code": status, "description": d} for d in descriptions]
    return open311_reply("errors", body, status)


def open311_problems(exc: ValidationError) -> list[str]:
    """One description per invalid parameter, in the spec's words (``x was not provided``)."""
    out = []
    for e in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in e["loc"])
        message = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "missing":
            out.append(f"{field} was not provided")
        else:
            out.append(f"{field}: {message}" if field else message)
    return out


def register_open311_error_handlers(bp: APIBlueprint) -> None:
    """Every error of the Open311 blueprint in the spec's format, with statuses 400/403/404
    for input (so the native API's format is untouched)."""

    @bp.errorhandler(Open311Error)
    def _open311(exc: Open311Error) -> Response:
        return open311_errors(exc.status, *exc.descriptions)

    @bp.errorhandler(GridMgrError)
    def _gridmgr(exc: GridMgrError) -> Response:
        if isinstance(exc, CredentialError):
            return open311_errors(403, str(exc))
        if isinstance(exc, CaseNotFoundError | UnknownCategoryError):
            return open311_errors(404, str(exc))
        if isinstance(exc, StoreError):  # retry later: the report was not acknowledged
            return open311_errors(503, f"the store is unavailable: {exc}")
        return open311_errors(400, str(exc))

    @bp.errorhandler(ValidationError)
    def _invalid(exc: ValidationError) -> Response:
        return open311_errors(400, *open311_problems(exc))

    @bp.errorhandler(DataError)
    def _refused_value(exc: DataError) -> Response:
        return open311_errors(400, _refused(exc))

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return open311_errors(exc.code or 500, exc.description or exc.name)
