"""The field app's bookkeeping: its writes keyed by the phone's ids, and when it was last heard.

A phone on a weak network resends what it is not sure arrived. Each report or action it sends
carries a ``client_id``; :func:`record_client_requests` keys the write by (person, client id) in
the write's own transaction (called by :mod:`gridmgr.store.eventhooks` for every case event
that names one), so the primary key decides between a first send and a resend, even two racing
ones. The first reply is kept beside it (:meth:`FieldMethods.keep_client_reply`) and sent again
to every resend. ``device_contacts`` holds each person's last contact by a device token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gridmgr.cases import CaseEvent
from gridmgr.errors import CaseNotFoundError
from gridmgr.store.schema import (
    api_tokens,
    cases,
    client_requests,
    device_contacts,
    patrol_points,
)
from gridmgr.store.transactions import StoreBase

CLIENT_ID_KEY = "client_id"
"""The key of a case event's details that names the phone's id of the write."""


@dataclass(frozen=True)
class ClientRequest:
    """A write a phone sent: what it was, on which case, its ledger event and its first reply."""

    person_id: str
    client_id: str
    kind: str
    case_id: str
    ledger_seq: int | None
    created_at: datetime
    reply: Mapping[str, Any] | None


def record_client_requests(
    conn: Connection, events: Sequence[CaseEvent], seqs: Sequence[int]
) -> None:
    """Key each event that names a ``client_id`` by (actor, client id), in the caller's
    transaction: a second event with the same key fails the transaction (IntegrityError)."""
    rows = [
        {
            "person_id": e.actor.actor_id,
            "client_id": str(e.details[CLIENT_ID_KEY]),
            "kind": e.action.value,
            "case_id": e.case_id,
            "ledger_seq": seq,
            "created_at": e.at,
        }
        for e, seq in zip(events, seqs, strict=True)
        if e.details.get(CLIENT_ID_KEY)
    ]
    if rows:
        conn.execute(insert(client_requests), rows)


class FieldMethods(StoreBase):
    """The store's field-app rows: writes by client id, their replies, device contacts."""

    def client_request(self, person_id: str, client_id: str) -> ClientRequest | None:
        """The write ``person_id`` sent as ``client_id``, or ``None`` if none was stored."""
        query = select(client_requests).where(
            client_requests.c.person_id == person_id, client_requests.c.client_id == client_id
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return ClientRequest(
            row.person_id,
            row.client_id,
            row.kind,
            row.case_id,
            row.ledger_seq,
            row.created_at,
            row.reply,
        )

    def case_number(self, case_id: str) -> int:
        """The number of case ``case_id`` (:class:`CaseNotFoundError` if there is none)."""
        with self._read() as conn:
            number = conn.execute(
                select(cases.c.number).where(cases.c.case_id == case_id)
            ).scalar_one_or_none()
        if number is None:
            raise CaseNotFoundError(f"no case {case_id}")
        return int(number)

    def case_numbers(self, case_ids: Sequence[str]) -> dict[str, int]:
        """The numbers of the cases ``case_ids`` (unknown ids are left out)."""
        if not case_ids:
            return {}
        query = select(cases.c.case_id, cases.c.number).where(cases.c.case_id.in_(list(case_ids)))
        with self._read() as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute(query)}

    def keep_client_reply(self, person_id: str, client_id: str, reply: Mapping[str, Any]) -> None:
        """Keep the first reply to a write (a later call leaves it as it is)."""
        with self._update() as conn:
            conn.execute(
                update(client_requests)
                .where(
                    client_requests.c.person_id == person_id,
                    client_requests.c.client_id == client_id,
                    client_requests.c.reply.is_(None),
                )
                .values(reply=dict(reply))
            )

    def record_device_contact(self, person_id: str, *, at: datetime, token_id: str) -> None:
        """Note that ``person_id``'s device token ``token_id`` was used at ``at`` (one UPSERT;
        an older time never replaces a newer one)."""
        dialect = postgresql if self.backend == "postgresql" else sqlite
        stmt = dialect.insert(device_contacts).values(
            token_id=token_id, person_id=person_id, last_at=at
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[device_contacts.c.token_id],
            set_={"last_at": stmt.excluded.last_at},
            where=device_contacts.c.last_at < stmt.excluded.last_at,
        )
        with self._update() as conn:
            conn.execute(stmt)

    def device_contacts(self, persons: Sequence[str] | None = None) -> dict[str, datetime]:
        """Each person's last contact by any of his device tokens (of ``persons`` if given)."""
        query = select(device_contacts.c.person_id, func.max(device_contacts.c.last_at)).group_by(
            device_contacts.c.person_id
        )
        if persons is not None:
            query = query.where(device_contacts.c.person_id.in_(list(persons)))
        with self._read() as conn:
            return {str(r[0]): _utc(r[1]) for r in conn.execute(query)}

    def token_contacts(self, person_id: str) -> dict[str, datetime]:
        """When each of ``person_id``'s device tokens was last used, by token id."""
        query = select(device_contacts.c.token_id, device_contacts.c.last_at).where(
            device_contacts.c.person_id == person_id
        )
        with self._read() as conn:
            return {r.token_id: r.last_at for r in conn.execute(query)}

    def device_holders(self, *, label_prefix: str, now: datetime) -> set[str]:
        """The persons holding a live personal token whose label starts with ``label_prefix``
        (the field app's device tokens)."""
        t = api_tokens.c
        query = (
            select(t.subject)
            .distinct()
            .where(
                t.kind == "person",
                t.label.startswith(label_prefix, autoescape=True),
                t.revoked_at.is_(None),
                or_(t.expires_at.is_(None), t.expires_at > now),
            )
        )
        with self._read() as conn:
            return {str(r[0]) for r in conn.execute(query)}

    def patrol_client_ids(self, person_id: str, client_ids: Sequence[str]) -> set[str]:
        """Which of ``client_ids`` name points ``person_id`` has stored already."""
        if not client_ids:
            return set()
        query = select(patrol_points.c.client_id).where(
            patrol_points.c.person_id == person_id,
            patrol_points.c.client_id.in_(sorted(set(client_ids))),
        )
        with self._read() as conn:
            return {str(r[0]) for r in conn.execute(query)}


def _utc(value: datetime | str) -> datetime:
    """An aggregate's time as an aware UTC datetime (``max()`` skips the column type: SQLite
    hands back text, a naive UTC time)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
