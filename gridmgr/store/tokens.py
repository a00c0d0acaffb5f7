"""API credentials: personal Bearer tokens, Open311 api_keys and wall-display tokens; hashed,
revocable, expiring.

A credential reads ``gm_<id>_<secret>``: the id finds the row, the secret is compared by its
SHA-256 in constant time. Only the hash is stored, so a stolen database yields no usable token;
the full credential is shown once, when it is created. :class:`TokenMethods` are the store's
doors to them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update

from gridmgr.errors import CredentialError
from gridmgr.store.credentialcache import Credential as Credential
from gridmgr.store.schema import api_tokens
from gridmgr.store.transactions import StoreBase

_FORMAT = re.compile(r"^gm_([0-9a-f]{16})_([A-Za-z0-9_-]{32,64})$")


CREDENTIAL_KINDS = ("person", "apikey", "display")
"""Personal Bearer tokens, Open311 api_keys, and the read-only tokens of wall displays (大屏)."""

API_KEY_SCOPES = ("public", "partner")
"""The scopes of an api_key (:attr:`Credential.scope`); a personal token's is ``public``."""


# built once (every request checks a credential): SQLAlchemy finds it compiled
_BY_TOKEN_ID = select(api_tokens).where(api_tokens.c.token_id == bindparam("by_token_id"))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class StoredCredential:
    """A credential as stored: its id, whom it speaks for, its dates and the hash of its
    secret (never the secret; kept out of repr)."""

    token_id: str
    kind: str
    subject: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    secret_hash: str = field(repr=False)
    scope: str = "public"


class TokenMethods(StoreBase):
    """The store's API credentials: create, check, revoke, list."""

    def create_credential(
        self,
        *,
        kind: str,
        subject: str,
        now: datetime,
        days: int | None,
        label: str = "",
        scope: str = "public",
    ) -> str:
        """Create a credential and return it in full (the only time it is ever shown)."""
        if kind not in CREDENTIAL_KINDS:
            raise CredentialError(
                f"unknown credential kind {kind!r}: use person, apikey or display"
            )
        if scope not in API_KEY_SCOPES or (kind != "apikey" and scope != "public"):
            raise CredentialError(
                f"unknown scope {scope!r} for a {kind} credential: an api_key is public or partner"
            )
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self._write() as conn:
            conn.execute(
                insert(api_tokens).values(
                    token_id=token_id,
                    kind=kind,
                    subject=subject,
                    secret_hash=_hash(secret),
                    label=label,
                    scope=scope,
                    created_at=now,
                    expires_at=None if days is None else now + timedelta(days=days),
                )
            )
        return f"gm_{token_id}_{secret}"

    def check_credential(self, presented: str, *, now: datetime, kind: str) -> Credential:
        """The credential ``presented`` stands for, or :class:`CredentialError` saying why not.

        A credential found valid is taken as valid again for
        :data:`~gridmgr.store.credentialcache.RECHECK_AFTER` (5 s) without
        reading its row (every API request presents one): a revocation by this process takes
        effect at once, one by another process or node within that time; expiry is exact."""
        key = _hash(presented)
        recent = self._recent_credentials.get(key, now=now, kind=kind)
        if recent is not None:
            return recent
        match = _FORMAT.match(presented.strip())
        if not match:
            raise CredentialError("malformed credential: expected gm_<id>_<secret>")
        token_id, secret = match.groups()
        with self._read() as conn:
            row = conn.execute(_BY_TOKEN_ID, {"by_token_id": token_id}).first()
        # compare even when the id is unknown, so timing does not reveal which ids exist
        expected = row.secret_hash if row is not None else _hash("")
        if not hmac.compare_digest(expected, _hash(secret)) or row is None or row.kind != kind:
            raise CredentialError("unknown credential")
        if row.revoked_at is not None:
            raise CredentialError("this credential was revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise CredentialError("this credential has expired; ask for a new one")
        found = Credential(
            row.token_id, row.kind, row.subject, row.label, row.expires_at, row.scope
        )
        self._recent_credentials.put(key, found, now=now)
        return found

    def revoke_credential(self, token_id: str, *, now: datetime) -> bool:
        """Revoke a credential by id; False when there is no such live credential."""
        with self._write() as conn:
            result = conn.execute(
                update(api_tokens)
                .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        self._recent_credentials.clear()  # after the commit: no check re-trusts it meanwhile
        return result.rowcount == 1

    def list_credentials(self, subject: str | None = None) -> list[StoredCredential]:
        """The stored credentials (of ``subject``), oldest first, revoked and expired ones
        included."""
        query = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.token_id)
        if subject is not None:
            query = query.where(api_tokens.c.subject == subject)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            StoredCredential(
                r.token_id,
                r.kind,
                r.subject,
                r.label,
                r.created_at,
                r.expires_at,
                r.revoked_at,
                r.secret_hash,
                r.scope,
            )
            for r in rows
        ]
