"""Who is asking over HTTP: the bearer token of a request, authenticated into ``g``.

A session cookie is never accepted here: API writes authenticate with a token only. The token
is checked, and the caller's role and cells resolved, by :mod:`gridmgr.services.credentials`.
"""

from __future__ import annotations

import hashlib

from flask import current_app, g, request

from gridmgr.access import Caller
from gridmgr.errors import CredentialError
from gridmgr.intake.open311 import MAX_BODY
from gridmgr.services.credentials import authenticate_token
from gridmgr.services.devices import is_device_token
from gridmgr.services.fieldsync import ContactClock
from gridmgr.web.deps import services


def bearer_token() -> str:
    """The token of this request's ``Authorization: Bearer`` header (401 without one)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CredentialError("send Authorization: Bearer <token> (gridmgr token create)")
    return token


def authenticate() -> None:
    """A ``before_request`` hook: authenticate the caller into ``g`` (401 otherwise); a field
    app's device token also notes the person's last contact (at most once a minute)."""
    found = services()
    caller, credential = authenticate_token(found, bearer_token())
    g.gridmgr_caller = caller
    if is_device_token(credential):
        contact_clock().note(found, caller.actor.actor_id, credential.token_id)


def contact_clock() -> ContactClock:
    """This app's throttle of last-contact writes (one per app, made on first use)."""
    clock: ContactClock = current_app.extensions.setdefault("gridmgr_contacts", ContactClock())
    return clock


def current_caller() -> Caller:
    """The caller the blueprint's ``before_request`` authenticated."""
    caller: Caller = g.gridmgr_caller
    return caller


def token_key() -> str:
    """A rate-limit key: the presented token's hash, else the client address."""
    header = request.headers.get("Authorization", "")
    if header:
        return "t:" + hashlib.sha256(header.encode()).hexdigest()[:24]
    return "ip:" + (request.remote_addr or "unknown")


def api_key_key() -> str:
    """A rate-limit key for an Open311 write: the hash of its form's ``api_key`` (whatever
    address sends it), else the client address."""
    key = ""
    length = request.content_length
    # only a body of a size Open311 accepts is parsed here; a larger one is refused later
    if request.mimetype == "application/x-www-form-urlencoded" and length and length <= MAX_BODY:
        key = request.form.get("api_key", "").strip()
    if key:
        return "k:" + hashlib.sha256(key.encode()).hexdigest()[:24]
    return "ip:" + (request.remote_addr or "unknown")


def is_not_open311_write() -> bool:
    """Whether this request is anything but an Open311 write (exempt from the api_key limit)."""
    return request.method != "POST" or (request.blueprint or "").split(".")[0] != "open311"
