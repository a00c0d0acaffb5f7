"""The field app's sync rules: capture times, writes keyed by the phone's ``client_id``, and
when each person's device was last heard from.

A phone queues what its worker does while offline and sends it later, perhaps more than once.
Each write carries the phone's ``client_id`` and the time it was ``captured_at``:

- the capture time becomes the report's time; it is refused when it lies in the future (beyond
  :data:`CLOCK_SKEW`) or more than :data:`MAX_CAPTURE_AGE` in the past
  (:func:`capture_time`);
- the id is scoped to the person (:func:`client_source_id`), written in the same transaction as
  the write's ledger event (:mod:`gridmgr.store.fieldstore`), and a resend gets the first
  reply again (:func:`earlier_write`, :func:`keep_reply`), writing nothing.

Every API request made with a device token notes the person's last contact, at most once a
minute per person and server (:class:`ContactClock`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from gridmgr.access import Caller
from gridmgr.cases import Action, Case, CaseError
from gridmgr.errors import CaptureTimeError, ClientIdConflictError, ConcurrentUpdateError
from gridmgr.ledger import LedgerEvent
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.actions import act_as
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services
from gridmgr.store import ClientRequest

__all__ = [
    "CLOCK_SKEW",
    "CONTACT_EVERY",
    "MAX_CAPTURE_AGE",
    "Acted",
    "ClientRequest",
    "ContactClock",
    "SyncStatus",
    "act_once",
    "capture_time",
    "client_source_id",
    "earlier_write",
    "keep_reply",
    "last_contacts",
    "sync_status",
    "wait_for_reply",
]

CLOCK_SKEW = timedelta(minutes=2)
"""How far ahead of the server's clock a capture time may be (phone clocks drift)."""
MAX_CAPTURE_AGE = timedelta(days=7)
"""How old a capture time may be: an outbox older than this is reported anew, by hand."""
CONTACT_EVERY = timedelta(minutes=1)
"""The finest grain of a person's last contact: at most one write a minute per person."""
REPORT = "report"
"""The kind of a :class:`ClientRequest` that opened a case (an action's kind is its name)."""
_SOURCE_ID_MAX = 100


def capture_time(captured_at: datetime | None, *, now: datetime) -> datetime:
    """The time a write counts from: ``captured_at`` (in Beijing time), else ``now``.

    >>> now = datetime(2026, 10, 9, 9, 0, tzinfo=TZ)
    >>> capture_time(now - timedelta(hours=3), now=now).isoformat()
    '2026-10-09T06:00:00+08:00'
    >>> capture_time(now + timedelta(minutes=1), now=now).isoformat()  # clock skew
    '2026-10-09T09:01:00+08:00'
    """
    if captured_at is None:
        return now
    if captured_at.tzinfo is None or captured_at.utcoffset() is None:
        raise CaptureTimeError(
            f"captured_at {captured_at.isoformat()} has no UTC offset; send e.g. "
            "2026-10-09T09:30:00+08:00"
        )
    at = captured_at.astimezone(TZ)
    if at > now + CLOCK_SKEW:
        raise CaptureTimeError(
            f"captured_at {at.isoformat()} is in the future (server time {now.isoformat()}); "
            "check the phone's clock"
        )
    if at < now - MAX_CAPTURE_AGE:
        raise CaptureTimeError(
            f"captured_at {at.isoformat()} is more than {MAX_CAPTURE_AGE.days} days ago "
            f"(server time {now.isoformat()}); report it again as a new report"
        )
    return at


def client_source_id(person_id: str, client_id: str) -> str:
    """The source id of a person's report sent as ``client_id``: unique per person, so two
    workers' phones never collide (hashed when it would not fit the column).

    >>> client_source_id("W001", "0b7e3c9e-5c1d-4b8e-9f3a-2d1c0e9b8a7f")
    'person:W001:0b7e3c9e-5c1d-4b8e-9f3a-2d1c0e9b8a7f'
    """
    plain = f"person:{person_id}:{client_id}"
    if len(plain) <= _SOURCE_ID_MAX:
        return plain
    return "person#" + hashlib.sha256(f"{person_id}\n{client_id}".encode()).hexdigest()


def earlier_write(
    services: Services, caller: Caller, client_id: str, *, case_id: str | None = None
) -> ClientRequest | None:
    """The caller's earlier write sent as ``client_id``, or ``None`` for a first send.

    ``case_id`` ``None`` asks about a report, a case id about an action on that case; an id
    already used for the other kind of write (or another case) is a
    :class:`~gridmgr.errors.ClientIdConflictError`.
    """
    found = services.store.client_request(caller.actor.actor_id, client_id)
    if found is None:
        return None
    if case_id is None and found.kind != REPORT:
        raise ClientIdConflictError(
            f"client_id {client_id} was already used for the action {found.kind!r} on case "
            f"{found.case_id}; give each write its own id"
        )
    if case_id is not None and (found.kind == REPORT or found.case_id != case_id):
        what = "a report" if found.kind == REPORT else f"the action {found.kind!r}"
        raise ClientIdConflictError(
            f"client_id {client_id} was already used for {what} on case {found.case_id}; "
            "give each write its own id"
        )
    return found


def keep_reply(
    services: Services, caller: Caller, client_id: str, reply: Mapping[str, Any]
) -> None:
    """Keep the reply to the caller's first send of ``client_id``, for its resends."""
    services.store.keep_client_reply(caller.actor.actor_id, client_id, reply)


def wait_for_reply(
    services: Services, caller: Caller, client_id: str, *, tries: int = 20, pause: float = 0.1
) -> ClientRequest | None:
    """The earlier write of ``client_id`` once its reply is kept, waiting a little for it: a
    resend that lost a race to the first send arrives while the first is still finishing
    (duplicates, photo). ``None`` when the reply is still missing after ``tries`` looks (the
    first send's server stopped before it kept one): rebuild it instead."""
    for attempt in range(tries):
        found = services.store.client_request(caller.actor.actor_id, client_id)
        if found is not None and found.reply is not None:
            return found
        if attempt + 1 < tries:
            time.sleep(pause)
    return None


@dataclass(frozen=True)
class Acted:
    """An action sent with a ``client_id``: the case after it (now, for a resend), its ledger
    event, the first reply if one was kept, and whether this was a resend."""

    case: Case
    event: LedgerEvent | None
    resent: bool
    reply: Mapping[str, Any] | None = None


def act_once(
    services: Services,
    caller: Caller,
    case_id: str,
    action: Action,
    *,
    client_id: str,
    captured_at: datetime | None = None,
    **act: Any,
) -> Acted:
    """Apply ``action`` as the caller (:func:`~gridmgr.services.actions.act_as`) once per
    caller and ``client_id``: a resend writes nothing and gets the first send's event back.

    The action takes effect at the server's time — a stage clock never starts before the stage
    it follows — and ``captured_at`` (checked by :func:`capture_time`) is kept in its event's
    details. A send that fails because the first send of the same id won a race (the case moved
    on, or the id's key was taken in the same instant) is answered as a resend.
    """
    case = visible_case(services.store, caller, case_id)
    earlier = earlier_write(services, caller, client_id, case_id=case.case_id)
    if earlier is not None:
        return _resent(services, caller, earlier)
    note: dict[str, object] = {"client_id": client_id}
    if captured_at is not None:
        note["captured_at"] = capture_time(captured_at, now=services.now()).isoformat()
    try:
        updated = act_as(services, caller, case.case_id, action, note=note, **act)
    except (CaseError, ConcurrentUpdateError, IntegrityError):
        earlier = earlier_write(services, caller, client_id, case_id=case.case_id)
        if earlier is None:
            raise
        return _resent(services, caller, earlier, wait=True)
    written = services.store.client_request(caller.actor.actor_id, client_id)
    event = None if written is None else _ledger_event(services, written.ledger_seq)
    return Acted(updated, event, resent=False)


def _resent(
    services: Services, caller: Caller, earlier: ClientRequest, *, wait: bool = False
) -> Acted:
    kept = earlier if earlier.reply is not None or not wait else None
    if kept is None:
        kept = wait_for_reply(services, caller, earlier.client_id) or earlier
    case = visible_case(services.store, caller, earlier.case_id)
    return Acted(case, _ledger_event(services, kept.ledger_seq), resent=True, reply=kept.reply)


def _ledger_event(services: Services, seq: int | None) -> LedgerEvent | None:
    if seq is None:
        return None
    found = services.store.ledger_since(seq - 1, limit=1)
    return found[0] if found and found[0].seq == seq else None


@dataclass
class ContactClock:
    """Notes each device token's last use, at most once per :data:`CONTACT_EVERY` per token on
    this server (an in-memory throttle in front of one UPSERT), so a busy phone costs no write
    per request. One per app, shared by its threads."""

    every: timedelta = CONTACT_EVERY
    _last: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, services: Services, person_id: str, token_id: str) -> bool:
        """Record that ``person_id`` used his device token ``token_id`` now, unless this server
        recorded a use of it within :attr:`every`; whether it wrote."""
        mark = time.monotonic()
        with self._lock:
            before = self._last.get(token_id)
            if before is not None and mark - before < self.every.total_seconds():
                return False
            self._last[token_id] = mark
        services.store.record_device_contact(person_id, at=services.now(), token_id=token_id)
        return True


def last_contacts(services: Services, persons: list[str] | None = None) -> dict[str, datetime]:
    """Each person's last contact by a device token (of ``persons`` if given)."""
    return services.store.device_contacts(persons)


@dataclass(frozen=True)
class SyncStatus:
    """What ``GET /api/v1/sync/status`` answers: the server's time and the caller's last sync."""

    person_id: str
    server_time: datetime
    last_sync: datetime | None


def sync_status(services: Services, caller: Caller) -> SyncStatus:
    """The server's time now and the caller's last contact by a device token."""
    me = caller.actor.actor_id
    return SyncStatus(me, services.now(), last_contacts(services, [me]).get(me))
