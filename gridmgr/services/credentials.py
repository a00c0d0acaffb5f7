"""API credentials: an administrator hands out personal tokens and partner api_keys and revokes
them; the doors check a presented one.

A credential is shown in full once, when it is created; the database keeps only its hash
(:mod:`gridmgr.store.tokens`). The API reads the header or the form field; whom it speaks for,
and whether it is still valid, is decided here, so no door touches the token table.
"""

from __future__ import annotations

from datetime import datetime

from gridmgr.access import Caller, caller_for
from gridmgr.services.context import Services
from gridmgr.store import Store
from gridmgr.store.tokens import Credential

__all__ = [
    "Credential",
    "authenticate_token",
    "caller_for_token",
    "create_api_key",
    "create_token",
    "partner_for_key",
    "person_for_token",
    "revoke",
]


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
    return authenticate_token(services, token)[0]


def authenticate_token(services: Services, token: str) -> tuple[Caller, Credential]:
    """:func:`caller_for_token`, and the credential itself (its id and label say whether it
    is a field app's device token)."""
    now = services.now()
    found = _check(services.store, token, now=now, kind="person")
    return caller_for(services.roster, found.subject, now), found


def partner_for_key(services: Services, key: str) -> Credential:
    """The partner system an Open311 ``api_key`` (``gridmgr apikey create``) speaks for."""
    return _check(services.store, key, now=services.now(), kind="apikey")


def _check(store: Store, presented: str, *, now: datetime, kind: str) -> Credential:
    return store.check_credential(presented, now=now, kind=kind)


def create_token(store: Store, person_id: str, *, now: datetime, days: int, label: str = "") -> str:
    """A new personal token (``Authorization: Bearer …``) for ``person_id``, valid ``days``
    days; returned in full, the only time it is shown."""
    return store.create_credential(
        kind="person", subject=person_id, now=now, days=days, label=label
    )


def create_api_key(
    store: Store, name: str, *, now: datetime, days: int, scope: str = "public"
) -> str:
    """A new Open311 api_key for the partner system ``name``, valid ``days`` days; returned in
    full, the only time it is shown. ``scope`` ``partner`` also reads ``restricted`` cases in
    full (see :mod:`gridmgr.privacy`); ``public`` reads what anyone reads."""
    return store.create_credential(
        kind="apikey", subject=name, now=now, days=days, label=name, scope=scope
    )


def revoke(store: Store, token_id: str, *, now: datetime) -> bool:
    """Revoke a token or api_key by its id; ``False`` when there is no such live credential."""
    return store.revoke_credential(token_id, now=now)
