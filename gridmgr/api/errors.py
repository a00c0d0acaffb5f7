"""Errors as HTTP: the one place where gridmgr's exceptions become status codes and JSON bodies."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from gridmgr.cases import GuardError, IllegalTransitionError
from gridmgr.errors import (
    AttachmentFileError,
    AttachmentNotFoundError,
    CaseNotFoundError,
    ConcurrentUpdateError,
    CredentialError,
    ForbiddenError,
    GridMgrError,
    StoreError,
    UnknownPersonError,
)
from gridmgr.intake.photos import PhotoTooLargeError, UnsupportedPhotoError

STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (CredentialError, 401),
    (ForbiddenError, 403),
    (GuardError, 403),
    (CaseNotFoundError, 404),
    (AttachmentNotFoundError, 404),
    (PhotoTooLargeError, 413),
    (UnsupportedPhotoError, 415),
    (AttachmentFileError, 500),
    (UnknownPersonError, 404),
    (IllegalTransitionError, 409),
    (ConcurrentUpdateError, 409),
    (StoreError, 503),
    (LookupError, 400),  # unknown category, cell … named in a request
    (ValueError, 400),
    (GridMgrError, 400),
)


GUARD_STATUS = {
    **dict.fromkeys(
        ("role", "owner_only", "verifier_is_handler", "reporter_only", "approver"), 403
    ),
    **dict.fromkeys(("time_order", "not_due", "already_escalated", "no_stage"), 409),
}
"""Status of a broken case rule by its name; any other rule is bad input (422)."""


def problem(status: int, message: str, **extra: Any) -> Response:
    """A JSON error body ``{"error": {"status", "message", …}}``."""
    body = {"error": {"status": status, "message": message, **extra}}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="gridmgr"'
    return response


def validation_problem(exc: ValidationError) -> Response:
    """A 400 listing every field that is wrong and why."""
    fields = [
        {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return problem(400, f"invalid request: {summary}", fields=fields)


def register_error_handlers(app: Flask) -> None:
    """Map every gridmgr error and every HTTP error to a JSON body; never an HTML 500 page."""

    @app.errorhandler(GridMgrError)
    def _gridmgr(exc: GridMgrError) -> ResponseReturnValue:
        if isinstance(exc, GuardError):
            return problem(GUARD_STATUS.get(exc.rule, 422), str(exc), rule=exc.rule)
        for cls, status in STATUS:
            if isinstance(exc, cls):
                return problem(status, str(exc))
        return problem(400, str(exc))  # pragma: no cover - GridMgrError is in STATUS

    @app.errorhandler(DataError)
    def _refused_value(exc: DataError) -> ResponseReturnValue:
        # the database refused a value validation let through: bad input, never a 500
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
        return problem(400, f"the database refused a value: {first}")

    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError) -> ResponseReturnValue:
        return validation_problem(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        return problem(exc.code or 500, exc.description or exc.name)
