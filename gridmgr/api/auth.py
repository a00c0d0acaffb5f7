"""Who is asking over HTTP: the bearer token of a request, authenticated into ``g``.

A session cookie is never accepted here: API writes authenticate with a token only. The token
is checked, and the caller's role and cells resolved, by :mod:`gridmgr.services.credentials`.
"""

from __future__ import annotations

import hashlib

from flask import g, request

from gridmgr.access import Caller
from gridmgr.errors import CredentialError
from gridmgr.services.credentials import caller_for_token
from gridmgr.web.deps import services


def bearer_token() -> str:
    """The token of this request's ``Authorization: Bearer`` header (401 without one)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CredentialError("send Authorization: Bearer <token> (gridmgr token create)")
    return token


def authenticate() -> None:
    """A ``before_request`` hook: authenticate the caller into ``g`` (401 otherwise)."""
    g.gridmgr_caller = caller_for_token(services(), bearer_token())


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
