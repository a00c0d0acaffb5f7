"""Dashboard accounts: the login page reads an account and checks a password; an administrator
sets a password, disables and enables a login, and (in demo mode) creates the demo logins.

Each change writes its ledger event in the store's transaction (:mod:`gridmgr.store.accounts`);
the password policy is checked before the database is touched. The web session layer
(:mod:`gridmgr.web.sessions`) and the CLI reach accounts only through here.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gridmgr.services.context import Services
from gridmgr.store import Store
from gridmgr.store.accounts import Account, check_password_policy

if TYPE_CHECKING:
    from gridmgr.responsibility.roster import Person, Roster

__all__ = [
    "Account",
    "account_of",
    "check_password_policy",
    "disable_login",
    "enable_login",
    "end_sessions",
    "ensure_demo_logins",
    "is_password_of",
    "set_login_password",
]


def account_of(services: Services, person_id: str) -> Account | None:
    """The account of ``person_id`` (enabled or not), or ``None``."""
    return services.store.account(person_id)


def is_password_of(services: Services, person_id: str, password: str, *, now: datetime) -> bool:
    """Whether ``password`` is the password of the enabled account of ``person_id``.

    Unknown and disabled accounts cost the same work, so the timing tells nobody who has one.
    """
    return services.store.check_password(person_id, password, now=now)


def set_login_password(
    store: Store, person_id: str, password: str, *, now: datetime, actor: str
) -> Account:
    """Set ``person_id``'s dashboard password (creating his account) after the policy check;
    sessions logged in with the old password end. A disabled account stays disabled."""
    return store.set_password(person_id, password, now=now, actor=actor)


def end_sessions(store: Store, person_id: str, *, now: datetime, actor: str, reason: str) -> int:
    """End every session of ``person_id`` (a logout, "log out everywhere"): his session epoch
    moves on; returns the new epoch, which a session logged in after this carries."""
    return store.end_sessions(person_id, now=now, actor=actor, reason=reason)


def disable_login(store: Store, person_id: str, *, now: datetime, actor: str) -> Account:
    """Refuse ``person_id``'s logins from now on; his open sessions end at once and his
    personal API tokens are revoked."""
    return store.disable_account(person_id, now=now, actor=actor)


def enable_login(store: Store, person_id: str, *, now: datetime, actor: str) -> Account:
    """Let a disabled account log in again, with its existing password."""
    return store.enable_account(person_id, now=now, actor=actor)


def ensure_demo_logins(store: Store, roster: Roster, *, at: datetime) -> list[tuple[str, Person]]:
    """In demo mode: one login per role with the public demo password, created once; returns
    (role label, person) of each."""
    return store.ensure_demo_logins(roster, at=at)
