"""API credentials as an administrator hands them out: personal tokens, partner api_keys, revoking.

A credential is shown in full once, when it is created; the database keeps only its hash
(:mod:`gridmgr.store.tokens`). Checking a presented credential is the HTTP side's business.
"""

from __future__ import annotations

from datetime import datetime

from gridmgr.store import Store

__all__ = ["create_api_key", "create_token", "revoke"]


def create_token(store: Store, person_id: str, *, now: datetime, days: int, label: str = "") -> str:
    """A new personal token (``Authorization: Bearer …``) for ``person_id``, valid ``days``
    days; returned in full, the only time it is shown."""
    return store.create_credential(
        kind="person", subject=person_id, now=now, days=days, label=label
    )


def create_api_key(store: Store, name: str, *, now: datetime, days: int) -> str:
    """A new Open311 api_key for the partner system ``name``, valid ``days`` days; returned in
    full, the only time it is shown."""
    return store.create_credential(kind="apikey", subject=name, now=now, days=days, label=name)


def revoke(store: Store, token_id: str, *, now: datetime) -> bool:
    """Revoke a token or api_key by its id; ``False`` when there is no such live credential."""
    return store.revoke_credential(token_id, now=now)
