"""Delivering notifications from the outbox: webhook (HMAC-signed), e-mail (SMTP), with retries.

In-app notifications need no delivery: the outbox row *is* the in-app notice
(``GET /api/v1/notifications``). The :class:`DeliveryWorker` thread delivers every notice to each
external channel configured (:func:`channels_from_settings`): it plans a delivery row per channel
for new notices, sends what is due, and records every attempt. A failure is retried with
exponential backoff (``base`` doubled per attempt, at most ``cap``) and never given up: a dead
channel costs only its own retries, never a case transaction, and a notice committed before a
crash is sent when the worker starts again.

The channels are configured by :attr:`gridmgr.settings.Settings.delivery`, read once from the
environment by :class:`~gridmgr.settings.Settings`:

- ``GRIDMGR_WEBHOOK_URL`` and ``GRIDMGR_WEBHOOK_SECRET`` (required with the URL): POST each
  notice as JSON with ``X-Gridmgr-Timestamp`` and ``X-Gridmgr-Signature: sha256=<hex>``, the
  HMAC-SHA256 of ``<timestamp>.<body>`` under the secret.
- ``GRIDMGR_SMTP_HOST``, ``GRIDMGR_SMTP_PORT`` (25), ``GRIDMGR_SMTP_FROM``,
  ``GRIDMGR_SMTP_TO`` (a template such as ``{person_id}@notify.jiangyin.gov.cn``),
  ``GRIDMGR_SMTP_USER`` / ``GRIDMGR_SMTP_PASSWORD`` (optional), ``GRIDMGR_SMTP_STARTTLS`` (0/1).
- ``GRIDMGR_DELIVERY_LEASE_S`` (120): how long a node's claim on a delivery lasts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

from gridmgr.errors import GridMgrError
from gridmgr.notifications import COMMAND_CENTER_INBOX
from gridmgr.services.loops import PeriodicLoop
from gridmgr.store import Delivery, Notification, Store
from gridmgr.store.outboxstore import backoff

if TYPE_CHECKING:
    from gridmgr.settings import Settings

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
"""How long a node's claim on a delivery lasts by default (``GRIDMGR_DELIVERY_LEASE_S``): after
it, a node that died mid-pass has let go."""
SIGNATURE_HEADER = "X-Gridmgr-Signature"
TIMESTAMP_HEADER = "X-Gridmgr-Timestamp"


class DeliveryError(GridMgrError, RuntimeError):
    """A channel could not deliver a notice now (it will be retried)."""


class NoAddressError(GridMgrError, LookupError):
    """The channel has no address for the recipient (the delivery is skipped, not retried)."""


class NotifyConfigError(GridMgrError, ValueError):
    """A notification channel is configured wrongly."""


class Channel(Protocol):
    """A way out for notices: ``send`` returns when delivered, raises :class:`DeliveryError`."""

    @property
    def name(self) -> str: ...

    def send(self, notification: Notification, *, delivery_id: int) -> None: ...


def notification_payload(notification: Notification, *, delivery_id: int) -> dict[str, object]:
    """The JSON a webhook receives."""
    return {
        "delivery_id": delivery_id,
        "notification_id": notification.notification_id,
        "case_id": notification.case_id,
        "recipient": notification.recipient,
        "trigger": notification.trigger,
        "title": notification.title,
        "body": notification.body,
        "created_at": notification.created_at.isoformat(),
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` + HMAC-SHA256 of ``timestamp.body``.

    >>> sign("s3cret", "1700000000", b"{}")[:15]
    'sha256=97926816'
    """
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Whether ``header`` is the right signature (for receivers; constant-time)."""
    return hmac.compare_digest(sign(secret, timestamp, body), header)


@dataclass(frozen=True)
class WebhookChannel:
    """POST each notice as signed JSON to ``url``; any 2xx answer is a delivery."""

    url: str
    secret: str
    timeout: float = 5.0
    name: str = "webhook"

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise NotifyConfigError(f"webhook URL {self.url!r} must start with http(s)://")
        if len(self.secret) < 16:
            raise NotifyConfigError(
                "the webhook secret must have at least 16 characters (GRIDMGR_WEBHOOK_SECRET)"
            )

    def send(self, notification: Notification, *, delivery_id: int) -> None:
        body = json.dumps(
            notification_payload(notification, delivery_id=delivery_id), ensure_ascii=False
        ).encode()
        stamp = str(int(time.time()))
        req = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: sign(self.secret, stamp, body),
                "X-Gridmgr-Delivery": str(delivery_id),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"webhook {self.url} answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"webhook {self.url} unreachable: {reason}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook {self.url} answered {status}")


@dataclass(frozen=True)
class EmailChannel:
    """Send each notice as a plain-text e-mail over SMTP to the recipient's address.

    ``to`` maps a person id to an address: a template with ``{person_id}``, or a mapping.
    """

    host: str
    sender: str
    to: str | Mapping[str, str]
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0
    name: str = "email"

    def address(self, recipient: str) -> str:
        if isinstance(self.to, str):
            if recipient == COMMAND_CENTER_INBOX and "{person_id}" in self.to:
                return self.to.format(person_id="command-center")
            return self.to.format(person_id=recipient)
        found = self.to.get(recipient)
        if not found:
            raise NoAddressError(f"no e-mail address for {recipient}")
        return found

    def send(self, notification: Notification, *, delivery_id: int) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = self.address(notification.recipient)
        message["Subject"] = notification.title
        message["X-Gridmgr-Delivery"] = str(delivery_id)
        lines = [notification.title, ""] + [f"{k}: {v}" for k, v in notification.body.items()]
        message.set_content("\n".join(lines))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from None


def channels_from_settings(settings: Settings) -> list[Channel]:
    """The external channels ``settings.delivery`` configures (none: in-app notices only)."""
    channels: list[Channel] = []
    webhook, smtp = settings.delivery.webhook, settings.delivery.smtp
    if webhook is not None:
        channels.append(WebhookChannel(webhook.url, webhook.secret))
    if smtp is not None:
        channels.append(
            EmailChannel(
                smtp.host,
                smtp.sender,
                smtp.to,
                port=smtp.port,
                username=smtp.username,
                password=smtp.password,
                starttls=smtp.starttls,
            )
        )
    return channels


@dataclass(frozen=True)
class PassReport:
    """What one delivery pass did."""

    planned: int
    delivered: int
    failed: int
    skipped: int


def deliver_pending(
    store: Store,
    channels: Sequence[Channel],
    *,
    now: datetime,
    base: timedelta = timedelta(seconds=10),
    cap: timedelta = timedelta(hours=1),
    horizon: timedelta = timedelta(days=7),
    limit: int = 100,
    lease: timedelta = LEASE,
) -> PassReport:
    """One pass: plan deliveries of new notices, claim those due, send them, record each attempt.

    The claim is this node's for ``lease`` (other nodes skip it meanwhile); the pass stops
    sending when half the lease is gone and gives back what it did not try, so a claim never
    outlives its lease while this node still works on it. A node that dies mid-pass frees its
    claims when their lease ends. A channel that fails is not tried again in this pass (its
    other deliveries wait for the next), so a dead channel costs at most one timeout per pass.
    """
    if not channels:
        return PassReport(0, 0, 0, 0)
    by_name = {c.name: c for c in channels}
    planned = store.plan_deliveries(list(by_name), now=now, horizon=now - horizon)
    node = store.node_id
    due = store.claim_deliveries(list(by_name), now=now, node=node, lease=lease, limit=limit)
    delivered = failed = skipped = 0
    down: set[str] = set()
    stop_at = time.monotonic() + lease.total_seconds() / 2
    untried: list[int] = []
    for delivery in due:
        if delivery.channel in down or time.monotonic() > stop_at:
            untried.append(delivery.delivery_id)
            continue
        error, skip = _attempt(by_name[delivery.channel], delivery)
        if error is not None and not skip:
            down.add(delivery.channel)
        retry = now + backoff_for(delivery.attempts + 1, base=base, cap=cap)
        store.record_delivery_attempt(delivery, at=now, error=error, retry_at=retry, skipped=skip)
        if skip:
            skipped += 1
        elif error is None:
            delivered += 1
        else:
            failed += 1
            log.warning(
                "notice %s via %s failed: %s", delivery.delivery_id, delivery.channel, error
            )
    store.release_deliveries(untried, node=node)
    return PassReport(planned, delivered, failed, skipped)


def backoff_for(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """The wait after ``attempts`` failures (see :func:`gridmgr.store.outboxstore.backoff`)."""
    return backoff(attempts, base=base, cap=cap)


def _attempt(channel: Channel, delivery: Delivery) -> tuple[str | None, bool]:
    """(error or None, skipped) of one send."""
    try:
        channel.send(delivery.notification, delivery_id=delivery.delivery_id)
    except NoAddressError as exc:
        return str(exc), True
    except DeliveryError as exc:
        return str(exc), False
    except Exception as exc:  # a channel bug must not stop the others
        return f"{type(exc).__name__}: {exc}", False
    return None, False


class DeliveryWorker(PeriodicLoop):
    """Runs :func:`deliver_pending` every ``every`` seconds in a daemon thread until stopped
    (``wake()`` runs a pass at once).

    The first pass runs at start, so notices committed before a crash or restart go out at once.
    """

    def __init__(
        self,
        store: Store,
        channels: Sequence[Channel],
        *,
        clock: Callable[[], datetime],
        every: float = 5.0,
        base: timedelta = timedelta(seconds=10),
        cap: timedelta = timedelta(hours=1),
        lease: timedelta = LEASE,
    ) -> None:
        chosen = list(channels)

        def step() -> None:
            deliver_pending(store, chosen, now=clock(), base=base, cap=cap, lease=lease)

        super().__init__(step, every=every, name="gridmgr-notify", stop_timeout=60.0)
