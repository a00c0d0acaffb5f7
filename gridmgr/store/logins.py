"""Failed logins: one append-only row per refused password, read to throttle and to audit.

The ``login_failures`` table is append-only (the database refuses UPDATE and DELETE). A row
keeps the person id as typed (it may name nobody) and the client's address, never the password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select

from gridmgr.store.schema import login_failures
from gridmgr.store.transactions import StoreBase


@dataclass(frozen=True)
class LoginFailure:
    """One refused login: when, the person id typed, and from which address."""

    at: datetime
    person_id: str
    address: str


class LoginMethods(StoreBase):
    """The store's failed logins: record one, read them back."""

    def record_login_failure(self, person_id: str, address: str, *, at: datetime) -> None:
        """Record that a login as ``person_id`` from ``address`` was refused at ``at``."""
        with self._write() as conn:
            conn.execute(
                insert(login_failures).values(at=at, person_id=person_id[:64], address=address[:64])
            )

    def login_failures(
        self,
        *,
        person_id: str | None = None,
        address: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[LoginFailure]:
        """The newest ``limit`` failures (of ``person_id``, from ``address``, since ``since``),
        oldest first."""
        query = select(login_failures)
        if person_id is not None:
            query = query.where(login_failures.c.person_id == person_id)
        if address is not None:
            query = query.where(login_failures.c.address == address)
        if since is not None:
            query = query.where(login_failures.c.at >= since)
        query = query.order_by(login_failures.c.at.desc(), login_failures.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [LoginFailure(r.at, r.person_id, r.address) for r in reversed(rows)]

    def count_login_failures(self, *, since: datetime) -> int:
        """How many logins were refused since ``since`` (all persons and addresses)."""
        query = select(func.count()).select_from(login_failures)
        with self._read() as conn:
            return int(conn.execute(query.where(login_failures.c.at >= since)).scalar_one())
