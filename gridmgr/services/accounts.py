"""Dashboard accounts as the login page reads them: a person's account, and his password checked.

The web session layer (:mod:`gridmgr.web.sessions`) reads accounts only through here.
"""

from __future__ import annotations

from datetime import datetime

from gridmgr.services.context import Services
from gridmgr.store.accounts import Account

__all__ = ["Account", "account_of", "is_password_of"]


def account_of(services: Services, person_id: str) -> Account | None:
    """The account of ``person_id`` (enabled or not), or ``None``."""
    return services.store.account(person_id)


def is_password_of(services: Services, person_id: str, password: str, *, now: datetime) -> bool:
    """Whether ``password`` is the password of the enabled account of ``person_id``.

    Unknown and disabled accounts cost the same work, so the timing tells nobody who has one.
    """
    return services.store.check_password(person_id, password, now=now)
