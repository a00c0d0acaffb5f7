"""In-app notifications: what a person's inbox holds, marking it read, and a case's deliveries."""

from __future__ import annotations

from datetime import datetime

from gridmgr.cases import (
    Actor,
    Role,
)
from gridmgr.notifications import COMMAND_CENTER_INBOX
from gridmgr.store import Notification as Notification  # re-exported for the doors
from gridmgr.store import Store

__all__ = [
    "Notification",
    "inbox_of",
    "mark_notifications_read",
    "notifications_for",
]


def notifications_for(
    store: Store,
    actor: Actor,
    *,
    after_id: int = 0,
    unread_only: bool = False,
    limit: int = 100,
) -> list[Notification]:
    """The in-app notifications of ``actor`` (operators also see the command center's),
    newest first — what the worker page and the dashboard show."""
    return store.notifications(
        inbox_of(actor), after_id=after_id, unread_only=unread_only, limit=limit
    )


def inbox_of(actor: Actor) -> list[str]:
    """The recipients whose notices ``actor`` reads: himself, and for operators the center."""
    return [actor.actor_id] + ([COMMAND_CENTER_INBOX] if actor.role is Role.OPERATOR else [])


def mark_notifications_read(store: Store, actor: Actor, ids: list[int], *, at: datetime) -> int:
    """Mark some of ``actor``'s notifications read; how many were unread."""
    return store.mark_notifications_read(inbox_of(actor), ids, at=at)
