"""Who is asking over HTTP: the bearer token of a request, authenticated into ``g``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import g, request

from gridmgr.access import Caller, caller_for
from gridmgr.errors import CredentialError
from gridmgr.responsibility.roster import Roster
from gridmgr.store import Store


def bearer_caller(store: Store, roster: Roster, *, now: datetime) -> Caller:
    """The caller named by this request's ``Authorization: Bearer`` personal token.

    A session cookie is never accepted here: API writes authenticate with a token only.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CredentialError("send Authorization: Bearer <token> (gridmgr token create)")
    credential = store.check_credential(token, now=now, kind="person")
    return caller_for(roster, credential.subject, now)


def current_caller() -> Caller:
    """The caller the blueprint's ``before_request`` authenticated."""
    caller: Caller = g.gridmgr_caller
    return caller


def authenticate(store: Store, roster: Roster, clock: Callable[[], datetime]) -> None:
    """A ``before_request`` hook: authenticate the caller into ``g`` (401 otherwise)."""
    g.gridmgr_caller = bearer_caller(store, roster, now=clock())
