"""The field app's device tokens: a worker logs in on his phone and gets a personal token for
it, lists his devices and revokes one (from the dashboard, or the phone itself).

A device token is an ordinary personal token (:mod:`gridmgr.services.credentials`) labelled
``field app: <label>`` and valid :data:`DEVICE_DAYS` days; it speaks for its person only, with
his role and cells as the roster says at each request. A login with a password is throttled
exactly as the dashboard's (:func:`gridmgr.services.logins.check_login`). A person sees and
revokes only his own devices: another person's device id is answered as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gridmgr.access import Caller, caller_for
from gridmgr.errors import CredentialError, DeviceNotFoundError
from gridmgr.services.context import Services
from gridmgr.services.credentials import Credential, create_token, revoke
from gridmgr.services.logins import check_login

__all__ = [
    "DEVICE_DAYS",
    "DEVICE_LABEL",
    "Device",
    "DeviceNotFoundError",
    "LoginThrottledError",
    "create_device",
    "is_device_token",
    "list_devices",
    "login_for_device",
    "revoke_device",
]

DEVICE_DAYS = 180
"""How long a device token lives: a phone stays logged in for half a year, or until revoked."""
DEVICE_LABEL = "field app: "
"""The label prefix that marks a personal token as a field app's device token."""
LOGIN_FAILED = "login failed: wrong login or password"


class LoginThrottledError(CredentialError):
    """Too many failed logins for this login or address: wait ``retry_after``."""

    def __init__(self, message: str, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Device:
    """One of a person's device tokens (never its secret)."""

    token_id: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


def is_device_token(credential: Credential) -> bool:
    """Whether a personal token was handed to the field app (:func:`create_device`)."""
    return credential.kind == "person" and credential.label.startswith(DEVICE_LABEL)


def login_for_device(services: Services, login: str, password: str, *, address: str) -> Caller:
    """The caller whose ``login`` and ``password`` these are, checked and throttled as the
    dashboard's login (:class:`LoginThrottledError` while throttled,
    :class:`~gridmgr.errors.CredentialError` for a wrong pair, one message for every
    reason)."""
    verdict = check_login(services, login, password, address=address)
    if verdict.retry_after is not None:
        wait = int(verdict.retry_after.total_seconds()) + 1
        raise LoginThrottledError(
            f"too many failed logins; try again in {wait} s", verdict.retry_after
        )
    if not verdict.ok:
        raise CredentialError(LOGIN_FAILED)
    return caller_for(services.roster, login, services.now())  # ForbiddenError: no post now


def create_device(services: Services, caller: Caller, label: str) -> tuple[str, Device]:
    """A new device token for the caller, labelled ``label`` (e.g. his phone's name): the
    token in full (shown once) and its listing."""
    name = " ".join(label.split())[:60] or "phone"
    token = create_token(
        services.store,
        caller.actor.actor_id,
        now=services.now(),
        days=DEVICE_DAYS,
        label=DEVICE_LABEL + name,
    )
    token_id = token.split("_")[1]
    found = next(d for d in list_devices(services, caller) if d.token_id == token_id)
    return token, found


def list_devices(services: Services, caller: Caller) -> list[Device]:
    """The caller's live device tokens, oldest first, each with when it was last used."""
    now = services.now()
    me = caller.actor.actor_id
    used = services.store.token_contacts(me)
    return [
        Device(
            c.token_id,
            c.label.removeprefix(DEVICE_LABEL),
            c.created_at,
            c.expires_at,
            used.get(c.token_id),
        )
        for c in services.store.list_credentials(me)
        if c.kind == "person"
        and c.label.startswith(DEVICE_LABEL)
        and c.revoked_at is None
        and (c.expires_at is None or c.expires_at > now)
    ]


def revoke_device(services: Services, caller: Caller, token_id: str) -> None:
    """Revoke one of the caller's own device tokens (:class:`DeviceNotFoundError` for any
    other id, so ids cannot be probed)."""
    if token_id not in {d.token_id for d in list_devices(services, caller)}:
        raise DeviceNotFoundError(f"you have no device {token_id[:16]!r}")
    revoke(services.store, token_id, now=services.now())
