"""Logging in: a password checked only when neither the person id nor the address is being
guessed at, each refusal recorded, and the record read back for managers.

Throttling is decided from the recorded failures *before* any password is hashed, so a flood of
guesses costs the server one indexed read each, never an argon2 hash. A person id and an address
each get a few free failures an hour; after those, each further failure doubles the wait
(:func:`throttle_wait`). A throttled attempt is not recorded (it checked nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gridmgr.services.accounts import is_password_of
from gridmgr.services.context import Services
from gridmgr.store import Store
from gridmgr.store.logins import LoginFailure

__all__ = [
    "ADDRESS_FREE_FAILURES",
    "PERSON_FREE_FAILURES",
    "LoginFailure",
    "LoginVerdict",
    "check_login",
    "login_failures",
    "throttle_wait",
]

PERSON_FREE_FAILURES = 5
"""Failures of one person id in :data:`WINDOW` before each further one waits."""
ADDRESS_FREE_FAILURES = 20
"""Failures from one address in :data:`WINDOW` (any person ids) before each further one waits."""
WINDOW = timedelta(hours=1)
"""How far back failures count."""
FIRST_WAIT = timedelta(minutes=1)
MAX_WAIT = timedelta(hours=1)


@dataclass(frozen=True)
class LoginVerdict:
    """What a login attempt gets: ``ok`` when the password was checked and right; else
    ``retry_after`` is how long to wait when it was not even checked (throttled)."""

    ok: bool
    retry_after: timedelta | None = None


def throttle_wait(
    failures: Sequence[datetime], now: datetime, *, free: int, window: timedelta = WINDOW
) -> timedelta:
    """How long an attempt must still wait after ``failures`` (zero: go ahead).

    The first ``free`` failures within ``window`` cost nothing; from then on the wait after the
    latest failure is :data:`FIRST_WAIT`, doubled with each further one, at most
    :data:`MAX_WAIT`.

    >>> t0 = datetime(2026, 1, 1, 9, 0)
    >>> four = [t0 + timedelta(seconds=s) for s in range(4)]
    >>> throttle_wait(four, t0 + timedelta(seconds=5), free=5)
    datetime.timedelta(0)
    >>> five = [t0 + timedelta(seconds=s) for s in range(5)]
    >>> throttle_wait(five, t0 + timedelta(seconds=4), free=5)
    datetime.timedelta(seconds=60)
    >>> throttle_wait([*five, t0 + timedelta(seconds=70)], t0 + timedelta(seconds=70), free=5)
    datetime.timedelta(seconds=120)
    """
    recent = [at for at in failures if now - at < window]
    if len(recent) < free:
        return timedelta(0)
    doublings: int = min(len(recent) - free, 16)
    wait = min(FIRST_WAIT * (2**doublings), MAX_WAIT)
    left: timedelta = max(recent) + wait - now
    return max(timedelta(0), left)


def check_login(services: Services, person_id: str, password: str, *, address: str) -> LoginVerdict:
    """Check ``password`` for ``person_id`` unless he or ``address`` is throttled; a wrong
    password (unknown person and disabled account alike) is recorded."""
    store = services.store
    now = services.now()
    since = now - WINDOW
    limit = 64  # enough to reach MAX_WAIT; a flood reads no more
    by_person = [f.at for f in store.login_failures(person_id=person_id, since=since, limit=limit)]
    by_address = [f.at for f in store.login_failures(address=address, since=since, limit=limit)]
    wait = max(
        throttle_wait(by_person, now, free=PERSON_FREE_FAILURES),
        throttle_wait(by_address, now, free=ADDRESS_FREE_FAILURES),
    )
    if wait > timedelta(0):
        return LoginVerdict(ok=False, retry_after=wait)
    if is_password_of(services, person_id, password, now=now):
        return LoginVerdict(ok=True)
    store.record_login_failure(person_id, address, at=now)
    return LoginVerdict(ok=False)


def login_failures(
    store: Store,
    *,
    person_id: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[LoginFailure]:
    """The refused logins (of ``person_id``, since ``since``), oldest first, the newest
    ``limit``."""
    return store.login_failures(person_id=person_id, since=since, limit=limit)
