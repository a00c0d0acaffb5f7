"""The notification outbox: notices written with the events that cause them, and their deliveries.

:func:`enqueue_for_events` is called by the store inside the very transaction that writes case
events (:mod:`gridmgr.store.eventhooks`), so a notice exists exactly when its event does:
a crash after the commit loses nothing, because the delivery worker reads pending rows from
here whenever it starts. Each notice is delivered once per configured channel; every attempt is
recorded (``notification_attempts``) and a failed one is retried later with backoff.
:class:`OutboxMethods` are the store's doors to the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, or_, select, update

from gridmgr.cases import Assignee, Case, CaseEvent
from gridmgr.notifications import TRIGGER_ACTIONS, Notice, notices_for_event
from gridmgr.store.schema import (
    cases,
    notification_attempts,
    notification_deliveries,
    notifications,
)
from gridmgr.store.transactions import StoreBase

PENDING, DELIVERED, SKIPPED = "pending", "delivered", "skipped"


def enqueue_for_events(
    conn: Connection, events: Sequence[CaseEvent], *, written: Mapping[str, Case] | None = None
) -> int:
    """Write the notices ``events`` cause into the outbox (caller's transaction); how many.

    ``written`` holds cases as this transaction just wrote them; their assignees are not read
    back."""
    return insert_notices(conn, notices_of(conn, events, written=written))


def notices_of(
    conn: Connection, events: Sequence[CaseEvent], *, written: Mapping[str, Case] | None = None
) -> list[tuple[Notice, datetime]]:
    """The notices ``events`` cause, each with its time (the assignees of cases not in
    ``written`` are read in ``conn``)."""
    triggering = [e for e in events if e.action in TRIGGER_ACTIONS]
    if not triggering:
        return []
    ids = sorted({e.case_id for e in triggering})
    known = written or {}
    if all(i in known for i in ids):
        owners = {
            i: Assignee(a.person_id, a.post or "-", a.name or "")
            for i in ids
            if (a := known[i].assignee) is not None and a.person_id
        }
    else:
        owners = _assignees(conn, ids)
    notices = [n for e in triggering for n in notices_for_event(e, assignee=owners.get(e.case_id))]
    at = {e.case_id: e.at for e in triggering}
    return [(n, at[n.case_id]) for n in notices]


def _assignees(conn: Connection, ids: Sequence[str]) -> dict[str, Assignee]:
    """The stored assignees of cases ``ids`` (those that have one)."""
    rows = conn.execute(
        select(
            cases.c.case_id, cases.c.assignee_id, cases.c.assignee_post, cases.c.assignee_name
        ).where(cases.c.case_id.in_(ids))
    ).all()
    return {
        r.case_id: Assignee(r.assignee_id, r.assignee_post or "-", r.assignee_name or "")
        for r in rows
        if r.assignee_id
    }


def insert_notices(conn: Connection, notices: Sequence[tuple[Notice, datetime]]) -> int:
    """Insert notices not written before (by ``dedup_key``); returns how many were new."""
    if not notices:
        return 0
    keys = [n.dedup_key for n, _ in notices]
    seen = set(
        conn.execute(select(notifications.c.dedup_key).where(notifications.c.dedup_key.in_(keys)))
        .scalars()
        .all()
    )
    fresh = {n.dedup_key: (n, at) for n, at in notices if n.dedup_key not in seen}
    if fresh:
        conn.execute(
            insert(notifications),
            [
                {
                    "case_id": n.case_id,
                    "recipient": n.recipient,
                    "trigger": n.trigger.value,
                    "dedup_key": n.dedup_key,
                    "created_at": at,
                    "title": n.title,
                    "body": dict(n.body),
                }
                for n, at in fresh.values()
            ],
        )
    return len(fresh)


@dataclass(frozen=True)
class Notification:
    """A notice as stored, for the in-app list."""

    notification_id: int
    case_id: str
    recipient: str
    trigger: str
    title: str
    body: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


def _row_to_notification(r: Any) -> Notification:
    return Notification(
        int(r.id), r.case_id, r.recipient, r.trigger, r.title, dict(r.body), r.created_at, r.read_at
    )


def select_notifications(
    conn: Connection,
    recipients: Sequence[str],
    *,
    after_id: int = 0,
    unread_only: bool = False,
    limit: int = 100,
) -> list[Notification]:
    """The notices of ``recipients``, newest first (ids above ``after_id``)."""
    query = select(notifications).where(
        notifications.c.recipient.in_(list(recipients)), notifications.c.id > after_id
    )
    if unread_only:
        query = query.where(notifications.c.read_at.is_(None))
    rows = conn.execute(query.order_by(notifications.c.id.desc()).limit(limit)).all()
    return [_row_to_notification(r) for r in rows]


def mark_read(
    conn: Connection, recipients: Sequence[str], ids: Sequence[int], *, at: datetime
) -> int:
    """Mark the recipients' notices ``ids`` read; how many were unread."""
    result = conn.execute(
        update(notifications)
        .where(
            notifications.c.id.in_(list(ids)),
            notifications.c.recipient.in_(list(recipients)),
            notifications.c.read_at.is_(None),
        )
        .values(read_at=at)
    )
    return int(result.rowcount)


def plan_deliveries(
    conn: Connection, channels: Sequence[str], *, now: datetime, horizon: datetime
) -> int:
    """A pending delivery row per channel for each notice since ``horizon`` that has none yet.

    Rows are planned by the delivery worker, not by the event's transaction, so channels can be
    configured at start; a notice committed just before a crash is planned on the next start.
    """
    planned = 0
    for channel in channels:
        missing = select(notifications.c.id).where(
            notifications.c.created_at >= horizon,
            ~exists().where(
                and_(
                    notification_deliveries.c.notification_id == notifications.c.id,
                    notification_deliveries.c.channel == channel,
                )
            ),
        )
        ids = conn.execute(missing).scalars().all()
        if ids:
            conn.execute(
                insert(notification_deliveries),
                [
                    {
                        "notification_id": i,
                        "channel": channel,
                        "status": PENDING,
                        "attempts": 0,
                        "next_attempt_at": now,
                    }
                    for i in ids
                ],
            )
            planned += len(ids)
    return planned


@dataclass(frozen=True)
class Delivery:
    """One notice due for delivery on one channel."""

    delivery_id: int
    channel: str
    attempts: int
    notification: Notification


def due_deliveries(
    conn: Connection, channels: Sequence[str], *, now: datetime, limit: int = 200
) -> list[Delivery]:
    """Pending deliveries on ``channels`` whose next attempt is due by ``now``, oldest first."""
    d = notification_deliveries.c
    query = (
        select(d.id.label("delivery_id"), d.channel, d.attempts, notifications)
        .join(notifications, notifications.c.id == d.notification_id)
        .where(d.status == PENDING, d.next_attempt_at <= now, d.channel.in_(list(channels)))
        .order_by(d.next_attempt_at, d.id)
        .limit(limit)
    )
    return [
        Delivery(int(r.delivery_id), r.channel, int(r.attempts), _row_to_notification(r))
        for r in conn.execute(query).all()
    ]


def claim_deliveries(
    conn: Connection,
    channels: Sequence[str],
    *,
    now: datetime,
    node: str,
    lease_until: datetime,
    limit: int = 50,
) -> list[Delivery]:
    """Claim for ``node`` until ``lease_until`` the pending deliveries due by ``now`` that no
    other node holds a running lease on, oldest first.

    ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) lets nodes claim at the same moment without waiting
    for, or taking, each other's rows; a claim whose lease has run out (its node died mid-pass)
    is free again.
    """
    d = notification_deliveries.c
    ids = (
        conn.execute(
            select(d.id)
            .where(
                d.status == PENDING,
                d.next_attempt_at <= now,
                d.channel.in_(list(channels)),
                or_(d.lease_until.is_(None), d.lease_until <= now),
            )
            .order_by(d.next_attempt_at, d.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    conn.execute(
        update(notification_deliveries)
        .where(d.id.in_(ids))
        .values(claimed_by=node, lease_until=lease_until)
    )
    query = (
        select(d.id.label("delivery_id"), d.channel, d.attempts, notifications)
        .join(notifications, notifications.c.id == d.notification_id)
        .where(d.id.in_(ids))
        .order_by(d.next_attempt_at, d.id)
    )
    return [
        Delivery(int(r.delivery_id), r.channel, int(r.attempts), _row_to_notification(r))
        for r in conn.execute(query).all()
    ]


def release_deliveries(conn: Connection, ids: Sequence[int], *, node: str) -> int:
    """Give back ``node``'s claims on the still pending deliveries ``ids``; how many."""
    if not ids:
        return 0
    d = notification_deliveries.c
    result = conn.execute(
        update(notification_deliveries)
        .where(d.id.in_(list(ids)), d.claimed_by == node, d.status == PENDING)
        .values(claimed_by=None, lease_until=None)
    )
    return int(result.rowcount)


def record_attempt(
    conn: Connection,
    delivery: Delivery,
    *,
    at: datetime,
    error: str | None,
    retry_at: datetime | None,
    skipped: bool = False,
) -> None:
    """Record one attempt: delivered (``error`` None), skipped, or failed and retried at
    ``retry_at``."""
    conn.execute(
        insert(notification_attempts).values(
            delivery_id=delivery.delivery_id, at=at, ok=error is None, error=error
        )
    )
    values: dict[str, Any] = {
        "attempts": delivery.attempts + 1,
        "last_error": error,
        "claimed_by": None,
        "lease_until": None,
    }
    if skipped:
        values.update(status=SKIPPED)
    elif error is None:
        values.update(status=DELIVERED, delivered_at=at)
    else:
        values.update(next_attempt_at=retry_at or at)
    conn.execute(
        update(notification_deliveries)
        .where(notification_deliveries.c.id == delivery.delivery_id)
        .values(**values)
    )


@dataclass(frozen=True)
class DeliveryStatus:
    """Where a notice stands on one channel (for the case page)."""

    notification_id: int
    recipient: str
    trigger: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    next_attempt_at: datetime | None = None
    """When a pending delivery is tried next (``None`` in-app)."""


def case_deliveries(conn: Connection, case_id: str) -> list[DeliveryStatus]:
    """Every notice of a case with its status per channel (in-app: always delivered)."""
    n, d = notifications.c, notification_deliveries.c
    rows = conn.execute(
        select(n.id, n.recipient, n.trigger, n.created_at, d.channel, d.status, d.attempts)
        .add_columns(d.last_error, d.delivered_at, d.next_attempt_at)
        .select_from(notifications.outerjoin(notification_deliveries, d.notification_id == n.id))
        .where(n.case_id == case_id)
        .order_by(n.id, d.channel)
    ).all()
    out: list[DeliveryStatus] = []
    seen: set[int] = set()
    for r in rows:
        if r.id not in seen:
            seen.add(r.id)
            out.append(
                DeliveryStatus(
                    r.id, r.recipient, r.trigger, "in_app", DELIVERED, 1, None, r.created_at
                )
            )
        if r.channel is not None:
            out.append(
                DeliveryStatus(
                    r.id,
                    r.recipient,
                    r.trigger,
                    r.channel,
                    r.status,
                    int(r.attempts),
                    r.last_error,
                    r.delivered_at,
                    r.next_attempt_at,
                )
            )
    return out


@dataclass(frozen=True)
class DeliveryAttempt:
    """One recorded attempt to deliver a notice on a channel."""

    delivery_id: int
    notification_id: int
    channel: str
    at: datetime
    ok: bool
    error: str | None


def case_delivery_attempts(conn: Connection, case_id: str) -> list[DeliveryAttempt]:
    """Every attempt to deliver a notice of a case, in the order they were made."""
    n, d, a = notifications.c, notification_deliveries.c, notification_attempts.c
    rows = conn.execute(
        select(a.delivery_id, d.notification_id, d.channel, a.at, a.ok, a.error)
        .select_from(
            notification_attempts.join(notification_deliveries, d.id == a.delivery_id).join(
                notifications, n.id == d.notification_id
            )
        )
        .where(n.case_id == case_id)
        .order_by(a.id)
    ).all()
    return [
        DeliveryAttempt(int(r.delivery_id), int(r.notification_id), r.channel, r.at, r.ok, r.error)
        for r in rows
    ]


def backoff(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """The wait after the ``attempts``-th failure: ``base`` doubled each time, at most ``cap``.

    >>> [backoff(n, base=timedelta(seconds=5), cap=timedelta(minutes=1)).seconds
    ...  for n in (1, 2, 3, 4, 5, 6)]
    [5, 10, 20, 40, 60, 60]
    """
    wait: timedelta = base * (2 ** max(0, min(attempts - 1, 30)))
    return min(cap, wait)


class OutboxMethods(StoreBase):
    """The store's notification outbox: inboxes, deliveries and their attempts."""

    def add_notices(self, notices: Sequence[tuple[Notice, datetime]]) -> int:
        """Add notices ``(notice, created at)`` not written before (by ``dedup_key``), in one
        transaction; how many were new."""
        with self._write() as conn:
            return insert_notices(conn, notices)

    def notifications(
        self,
        recipients: Sequence[str],
        *,
        after_id: int = 0,
        unread_only: bool = False,
        limit: int = 100,
    ) -> list[Notification]:
        """The notices of ``recipients`` (an inbox), newest first (ids above ``after_id``)."""
        with self._read() as conn:
            return select_notifications(
                conn, recipients, after_id=after_id, unread_only=unread_only, limit=limit
            )

    def mark_notifications_read(
        self, recipients: Sequence[str], ids: Sequence[int], *, at: datetime
    ) -> int:
        """Mark the notices ``ids`` of ``recipients`` read; how many were unread."""
        with self._write() as conn:
            return mark_read(conn, recipients, ids, at=at)

    def plan_deliveries(self, channels: Sequence[str], *, now: datetime, horizon: datetime) -> int:
        """A pending delivery per channel for each notice since ``horizon`` that has none yet
        (see :func:`plan_deliveries`); how many were planned."""
        # the ledger lock (not needed for the ledger here) serializes planning across nodes, so
        # two nodes never plan the same (notice, channel) row at once
        with self._write() as conn:
            return plan_deliveries(conn, channels, now=now, horizon=horizon)

    def due_deliveries(
        self, channels: Sequence[str], *, now: datetime, limit: int = 200
    ) -> list[Delivery]:
        """Pending deliveries on ``channels`` whose next attempt is due by ``now``, oldest
        first."""
        with self._read() as conn:
            return due_deliveries(conn, channels, now=now, limit=limit)

    def claim_deliveries(
        self,
        channels: Sequence[str],
        *,
        now: datetime,
        node: str,
        lease: timedelta,
        limit: int = 50,
    ) -> list[Delivery]:
        """Claim for ``node``, for ``lease``, pending deliveries on ``channels`` due by ``now``
        that no other node holds (see :func:`claim_deliveries`)."""
        with self._update() as conn:
            return claim_deliveries(
                conn, channels, now=now, node=node, lease_until=now + lease, limit=limit
            )

    def release_deliveries(self, ids: Sequence[int], *, node: str) -> int:
        """Give back ``node``'s claims on the pending deliveries ``ids`` (not attempted in its
        pass); how many."""
        with self._update() as conn:
            return release_deliveries(conn, ids, node=node)

    def record_delivery_attempt(
        self,
        delivery: Delivery,
        *,
        at: datetime,
        error: str | None,
        retry_at: datetime | None,
        skipped: bool = False,
    ) -> None:
        """Record one attempt: delivered (``error`` None), skipped, or failed and retried at
        ``retry_at``."""
        with self._update() as conn:
            record_attempt(conn, delivery, at=at, error=error, retry_at=retry_at, skipped=skipped)

    def deliveries_of(self, case_id: str) -> list[DeliveryStatus]:
        """Every notice of a case with its status per channel (in-app: always delivered)."""
        with self._read() as conn:
            return case_deliveries(conn, case_id)

    def delivery_attempts_of(self, case_id: str) -> list[DeliveryAttempt]:
        """Every attempt to deliver a notice of a case, in the order they were made."""
        with self._read() as conn:
            return case_delivery_attempts(conn, case_id)
