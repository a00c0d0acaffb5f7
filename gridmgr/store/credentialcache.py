"""Credentials found valid moments ago: every API request presents one, and reading its row
each time cost a read transaction a request.

A credential found valid is trusted for :data:`RECHECK_AFTER` without reading it again. The
store forgets every entry when it revokes anything, so a revocation by this process takes effect
at once; one by another process or node, within :data:`RECHECK_AFTER`. Expiry is checked on
every use. Entries are keyed by the SHA-256 of what was presented, never the credential.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Credential:
    """Who a valid credential speaks for."""

    token_id: str
    kind: str
    subject: str
    label: str
    expires_at: datetime | None
    scope: str = "public"
    """What an api_key reads: ``public`` (what anyone reads) or ``partner`` (restricted too)."""


RECHECK_AFTER = timedelta(seconds=5)
"""How long a credential found valid is trusted without reading its row again."""


class RecentCredentials:
    """Credentials found valid in the last :data:`RECHECK_AFTER`, by the SHA-256 of what was
    presented; bounded, shared by the request threads."""

    _MAX = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[datetime, Credential]] = {}

    def get(self, key: str, *, now: datetime, kind: str) -> Credential | None:
        with self._lock:
            seen = self._seen.get(key)
        if seen is None:
            return None
        checked, found = seen
        fresh = checked <= now < checked + RECHECK_AFTER
        expired = found.expires_at is not None and found.expires_at <= now
        return found if fresh and not expired and found.kind == kind else None

    def put(self, key: str, found: Credential, *, now: datetime) -> None:
        with self._lock:
            if len(self._seen) >= self._MAX:
                self._seen.clear()
            self._seen[key] = (now, found)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
