"""What the notices page and the navbar show: the caller's in-app notices, and how many are
unread."""

from __future__ import annotations

from gridmgr.access import Caller
from gridmgr.services.context import Services
from gridmgr.services.notices import Notification, notifications_for

__all__ = ["Notification", "notifications", "unread"]

UNREAD_CAP = 100


def notifications(services: Services, caller: Caller, *, limit: int = 50) -> list[Notification]:
    """The caller's in-app notices, newest first (operators: the command center's too)."""
    return notifications_for(services.store, caller.actor, limit=limit)


def unread(services: Services, caller: Caller) -> int:
    """How many of the caller's notices are unread (capped at :data:`UNREAD_CAP`)."""
    found = notifications_for(services.store, caller.actor, unread_only=True, limit=UNREAD_CAP)
    return len(found)
