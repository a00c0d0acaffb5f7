"""Dashboard accounts: a password (argon2id hash, never the password) for a roster person.

An account is a row of the ``accounts`` table keyed by the roster person id; the store's
:class:`AccountMethods` read and change them. Setting a password, disabling and enabling an
account each write their ledger event in the same transaction; the event never carries the
password or its hash. :meth:`~AccountMethods.check_password` spends the same work on an unknown
or disabled account as on a real one, so its timing does not tell who has an account.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, func, insert, select, update

from gridmgr.errors import AccountError, UnknownAccountError
from gridmgr.store.ledgerstore import append
from gridmgr.store.schema import accounts, api_tokens, ledger
from gridmgr.store.transactions import StoreBase

if TYPE_CHECKING:
    from gridmgr.responsibility.roster import Person, Roster

DEMO_ACTOR = "system:demo"
"""Who creates the demo logins, in the ledger."""
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
"""Longer passwords are refused when set (and fail at once when checked): argon2 would hash
them, but nobody types 256 characters and a megabyte "password" is a way to burn CPU."""


@dataclass(frozen=True)
class Account:
    """A person's dashboard account; ``password_hash`` is the argon2id hash (kept out of repr)."""

    person_id: str
    created_at: datetime
    updated_at: datetime
    disabled: bool
    session_epoch: int
    """Bumped by a logout, "log out everywhere" and a password change: a session cookie
    carrying an older epoch is logged out."""
    demo: bool
    """Made by demo mode with the public demo password (cleared when the password is set)."""
    password_hash: str = field(repr=False)


def _hasher() -> PasswordHasher:
    # argon2-cffi's defaults (RFC 9106 low-memory profile), argon2id
    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, verified against when there is no account to check."""
    return _hasher().hash("gridmgr: no such account")


def check_password_policy(person_id: str, password: str) -> None:
    """Refuse a password that is too short, too long, all digits, or the person id.

    >>> check_password_policy("P00044", "correct horse battery")
    >>> check_password_policy("P00044", "1234567890")
    Traceback (most recent call last):
    ...
    gridmgr.errors.AccountError: the password is only digits; mix in letters or symbols
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"the password has {len(password)} characters; use at least {MIN_PASSWORD_LENGTH}"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            f"the password has {len(password)} characters; use at most {MAX_PASSWORD_LENGTH}"
        )
    if password.isdigit():
        raise AccountError("the password is only digits; mix in letters or symbols")
    if password.strip().casefold() == person_id.strip().casefold():
        raise AccountError("the password is the person id; choose something else")


def _load(conn: Connection, person_id: str) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.person_id == person_id)).first()
    if row is None:
        return None
    m = row._mapping
    return Account(
        person_id=m["person_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        disabled=bool(m["disabled"]),
        session_epoch=int(m["session_epoch"]),
        demo=bool(m["demo"]),
        password_hash=m["password_hash"],
    )


def _update(conn: Connection, person_id: str, **values: object) -> None:
    conn.execute(update(accounts).where(accounts.c.person_id == person_id).values(**values))


class AccountMethods(StoreBase):
    """The store's dashboard accounts: passwords set, checked, disabled and enabled."""

    def account(self, person_id: str) -> Account | None:
        """The account of ``person_id``, or ``None`` when he has none."""
        with self._read() as conn:
            return _load(conn, person_id)

    def set_password(
        self, person_id: str, password: str, *, now: datetime, actor: str | None = None
    ) -> Account:
        """Set (or create the account with) ``password`` for ``person_id``, after the policy
        check; his session epoch moves on, so every older session ends.

        ``actor`` is who did it, for the ledger (default: the person himself); the demo logins
        (``actor`` :data:`DEMO_ACTOR`) are marked as such. A disabled account stays disabled
        (see :meth:`enable_account`).
        """
        check_password_policy(person_id, password)
        password_hash = _hasher().hash(password)
        with self._write() as conn:
            before = _load(conn, person_id)
            if before is None:
                conn.execute(
                    insert(accounts).values(
                        person_id=person_id,
                        password_hash=password_hash,
                        created_at=now,
                        updated_at=now,
                        disabled=False,
                        session_epoch=0,
                        demo=actor == DEMO_ACTOR,
                    )
                )
            else:
                _update(
                    conn,
                    person_id,
                    password_hash=password_hash,
                    updated_at=now,
                    session_epoch=before.session_epoch + 1,
                    demo=False,
                )
            append(
                conn,
                at=now,
                kind="account.password_set",
                actor=actor or person_id,
                subject=f"person:{person_id}",
                details={"person_id": person_id, "created": before is None, "scheme": "argon2id"},
            )
            after = _load(conn, person_id)
        assert after is not None
        return after

    def check_password(self, person_id: str, password: str, *, now: datetime) -> bool:
        """Whether ``password`` is the password of the enabled account of ``person_id``.

        Unknown and disabled accounts cost one verification too. A hash made with older argon2
        parameters is replaced on success (with its ledger event, ``account.password_rehashed``).
        """
        if len(password) > MAX_PASSWORD_LENGTH:
            return False  # never a valid password (see MAX_PASSWORD_LENGTH); says nothing of who
        hasher = _hasher()
        account = self.account(person_id) if person_id else None
        stored = _dummy_hash() if account is None else account.password_hash
        try:
            hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
        if account is None or account.disabled:
            return False
        if hasher.check_needs_rehash(stored):
            self._rehash(account, hasher.hash(password), now=now)
        return True

    def disable_account(
        self, person_id: str, *, now: datetime, actor: str = "cli:account"
    ) -> Account:
        """Refuse every further login of ``person_id`` (sessions already open end at once)."""
        return self._set_disabled(person_id, disabled=True, now=now, actor=actor)

    def enable_account(
        self, person_id: str, *, now: datetime, actor: str = "cli:account"
    ) -> Account:
        """Allow ``person_id`` to log in again with his existing password."""
        return self._set_disabled(person_id, disabled=False, now=now, actor=actor)

    def ensure_demo_logins(self, roster: Roster, *, at: datetime) -> list[tuple[str, Person]]:
        """In demo mode: one account per role with the public demo password, created once.

        Existing accounts (a password someone changed) are left alone.
        """
        from gridmgr.responsibility.demo_roster import DEMO_PASSWORD, demo_logins

        logins = demo_logins(roster, at)
        for _, person in logins:
            if self.account(person.person_id) is None:
                self.set_password(person.person_id, DEMO_PASSWORD, now=at, actor=DEMO_ACTOR)
        return logins

    def end_sessions(self, person_id: str, *, now: datetime, actor: str, reason: str) -> int:
        """Move ``person_id``'s session epoch on (every session logged in before ends); returns
        the new epoch. ``reason`` (``logout``, ``everywhere`` …) goes into the ledger."""
        with self._write() as conn:
            before = _load(conn, person_id)
            if before is None:
                raise UnknownAccountError(f"{person_id} has no account")
            epoch = before.session_epoch + 1
            _update(conn, person_id, session_epoch=epoch)
            append(
                conn,
                at=now,
                kind="account.sessions_ended",
                actor=actor,
                subject=f"person:{person_id}",
                details={"person_id": person_id, "reason": reason},
            )
        return epoch

    def demo_accounts(self) -> list[Account]:
        """The enabled accounts demo mode made whose password nobody has set since."""
        query = select(accounts.c.person_id).where(
            accounts.c.demo.is_(True), accounts.c.disabled.is_(False)
        )
        with self._read() as conn:
            ids = conn.execute(query.order_by(accounts.c.person_id)).scalars().all()
            found = [_load(conn, i) for i in ids]
        return [a for a in found if a is not None]

    def is_demo_over(self) -> bool:
        """Whether no demo login was made since the demo last ended (or ever)."""
        with self._read() as conn:
            made = conn.execute(
                select(func.max(ledger.c.seq)).where(
                    ledger.c.kind == "account.password_set", ledger.c.actor == DEMO_ACTOR
                )
            ).scalar()
            ended = conn.execute(
                select(func.max(ledger.c.seq)).where(ledger.c.kind == "demo.ended")
            ).scalar()
        return made is None or (ended is not None and ended > made)

    def end_demo(self, *, now: datetime, actor: str) -> int:
        """End demo mode: revoke every live API token and api_key made so far (all of the demo
        era), with the ledger event ``demo.ended``; returns how many were revoked."""
        with self._write() as conn:
            revoked = _revoke_tokens(conn, now=now)
            append(
                conn,
                at=now,
                kind="demo.ended",
                actor=actor,
                subject="demo",
                details={"tokens_revoked": revoked},
            )
        self._recent_credentials.clear()  # after the commit: no check re-trusts one meanwhile
        return revoked

    def _set_disabled(
        self, person_id: str, *, disabled: bool, now: datetime, actor: str
    ) -> Account:
        kind = "account.disabled" if disabled else "account.enabled"
        with self._write() as conn:
            before = _load(conn, person_id)
            if before is None:
                raise UnknownAccountError(
                    f"{person_id} has no account; create one with "
                    f"`gridmgr account set-password --person {person_id}`"
                )
            if before.disabled == disabled:
                return before  # nothing changes, so nothing is recorded
            _update(conn, person_id, disabled=disabled, updated_at=now)
            details: dict[str, object] = {"person_id": person_id}
            if disabled:  # his API tokens end with his login
                details["tokens_revoked"] = _revoke_tokens(
                    conn, now=now, subject=person_id, kind="person"
                )
            append(
                conn,
                at=now,
                kind=kind,
                actor=actor,
                subject=f"person:{person_id}",
                details=details,
            )
            after = _load(conn, person_id)
        assert after is not None
        self._recent_credentials.clear()  # after the commit: his tokens are revoked
        return after

    def _rehash(self, account: Account, password_hash: str, *, now: datetime) -> None:
        with self._write() as conn:
            current = _load(conn, account.person_id)
            if current is None or current.password_hash != account.password_hash:
                return  # changed meanwhile: the newer password wins
            _update(conn, account.person_id, password_hash=password_hash, updated_at=now)
            append(
                conn,
                at=now,
                kind="account.password_rehashed",
                actor="system:login",
                subject=f"person:{account.person_id}",
                details={"person_id": account.person_id, "scheme": "argon2id"},
            )


def _revoke_tokens(
    conn: Connection, *, now: datetime, subject: str | None = None, kind: str | None = None
) -> int:
    """Revoke the live credentials made before ``now`` (of ``subject``, of ``kind``)."""
    query = update(api_tokens).where(
        api_tokens.c.revoked_at.is_(None), api_tokens.c.created_at <= now
    )
    if subject is not None:
        query = query.where(api_tokens.c.subject == subject)
    if kind is not None:
        query = query.where(api_tokens.c.kind == kind)
    return int(conn.execute(query.values(revoked_at=now)).rowcount)
