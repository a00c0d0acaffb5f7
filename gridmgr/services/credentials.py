"""Credentials at the doors: a person's bearer token or a partner's api_key, checked in the store.

The API reads the header or the form field; whom it speaks for, and whether it is still valid,
is decided here, so no door touches the token table.
"""

from __future__ import annotations

from datetime import datetime

from gridmgr.access import Caller, caller_for
from gridmgr.services.context import Services
from gridmgr.store import Store
from gridmgr.store.tokens import Credential

__all__ = ["Credential", "caller_for_token", "partner_for_key", "person_for_token"]


def person_for_token(store: Store, token: str, *, now: datetime) -> str:
    """The person id a personal token (``gridmgr token create``) speaks for.

    Raises :class:`~gridmgr.errors.CredentialError` (malformed, unknown, revoked, expired).
    """
    return _check(store, token, now=now, kind="person").subject


def caller_for_token(services: Services, token: str) -> Caller:
    """The caller a personal token names now: his role and cells from the current roster.

    Raises :class:`~gridmgr.errors.CredentialError` for a bad token and
    :class:`~gridmgr.errors.ForbiddenError` for a person who holds no post now.
    """
    now = services.now()
    return caller_for(services.roster, person_for_token(services.store, token, now=now), now)


def partner_for_key(services: Services, key: str) -> Credential:
    """The partner system an Open311 ``api_key`` (``gridmgr apikey create``) speaks for."""
    return _check(services.store, key, now=services.now(), kind="apikey")


def _check(store: Store, presented: str, *, now: datetime, kind: str) -> Credential:
    return store.check_credential(presented, now=now, kind=kind)
