"""Dashboard logins as an administrator manages them: set a password, disable, enable, demo logins.

Each change writes its ledger event in the store's transaction (:mod:`gridmgr.store.accounts`);
the password policy is checked before the database is touched.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gridmgr.store import Store
from gridmgr.store.accounts import Account, check_password_policy

if TYPE_CHECKING:
    from gridmgr.responsibility.roster import Person, Roster

__all__ = [
    "Account",
    "check_password_policy",
    "disable_login",
    "enable_login",
    "ensure_demo_logins",
    "set_login_password",
]


def set_login_password(
    store: Store, person_id: str, password: str, *, now: datetime, actor: str
) -> Account:
    """Set ``person_id``'s dashboard password (creating his account) after the policy check;
    sessions logged in with the old password end. A disabled account stays disabled."""
    return store.set_password(person_id, password, now=now, actor=actor)


def disable_login(store: Store, person_id: str, *, now: datetime, actor: str) -> Account:
    """Refuse ``person_id``'s logins from now on; his open sessions end at once."""
    return store.disable_account(person_id, now=now, actor=actor)


def enable_login(store: Store, person_id: str, *, now: datetime, actor: str) -> Account:
    """Let a disabled account log in again, with its existing password."""
    return store.enable_account(person_id, now=now, actor=actor)


def ensure_demo_logins(store: Store, roster: Roster, *, at: datetime) -> list[tuple[str, Person]]:
    """In demo mode: one login per role with the public demo password, created once; returns
    (role label, person) of each."""
    return store.ensure_demo_logins(roster, at=at)
