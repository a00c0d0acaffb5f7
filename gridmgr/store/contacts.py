"""Reporters' callback contacts (回访): kept encrypted, read by operators, erased after closing.

A row holds a contact as ciphertext only (the services encrypt it; the store never sees the
key), so the database file alone yields no phone number or address. Erasing blanks the
ciphertext and writes the ledger event ``contact.erased`` in the same transaction; the event
names the case and the reason, never the contact. The erasure is guarded by ``erased_at IS NULL``
under the ledger lock, so several processes running it erase each contact once, with one event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, select, update

from gridmgr.store.casestore import OPEN_STATES
from gridmgr.store.ledgerstore import append
from gridmgr.store.schema import cases, reporter_contacts
from gridmgr.store.transactions import StoreBase


@dataclass(frozen=True)
class StoredContact:
    """A reporter's contact as stored: its kind, its ciphertext (``None`` once erased), the
    consent it was given with, and when it was kept and erased."""

    case_id: str
    kind: str
    ciphertext: str | None
    consent: bool
    created_at: datetime
    erased_at: datetime | None


class ContactMethods(StoreBase):
    """The store's reporters' contacts: keep one, read one, erase those whose time is up."""

    def keep_contact(
        self, case_id: str, *, kind: str, ciphertext: str, consent: bool, at: datetime, actor: str
    ) -> None:
        """Keep the encrypted contact of case ``case_id``'s reporter, with the ledger event
        ``contact.kept`` (which names the case and the kind, never the contact)."""
        with self._write() as conn:
            conn.execute(
                insert(reporter_contacts).values(
                    case_id=case_id,
                    kind=kind,
                    ciphertext=ciphertext,
                    consent=consent,
                    created_at=at,
                )
            )
            append(
                conn,
                at=at,
                kind="contact.kept",
                actor=actor,
                subject=f"case:{case_id}",
                details={"case_id": case_id, "kind": kind, "consent": consent},
            )

    def contact_of(self, case_id: str) -> StoredContact | None:
        """The stored contact of a case's reporter (``None``: none was kept)."""
        with self._read() as conn:
            row = conn.execute(
                select(reporter_contacts).where(reporter_contacts.c.case_id == case_id)
            ).first()
        if row is None:
            return None
        return StoredContact(
            row.case_id, row.kind, row.ciphertext, row.consent, row.created_at, row.erased_at
        )

    def contacts_due_for_erasure(self, *, closed_before: datetime, limit: int = 500) -> list[str]:
        """Case ids whose contact is still kept although the case closed (its last change, as a
        closed case) before ``closed_before``."""
        c, k = cases.c, reporter_contacts.c
        query = (
            select(k.case_id)
            .join(cases, c.case_id == k.case_id)
            .where(
                and_(
                    k.erased_at.is_(None),
                    c.state.not_in(list(OPEN_STATES)),
                    c.updated_at < closed_before,
                )
            )
            .order_by(c.updated_at)
            .limit(limit)
        )
        with self._read() as conn:
            return [r.case_id for r in conn.execute(query)]

    def erase_contact(self, case_id: str, *, at: datetime, actor: str, reason: str) -> bool:
        """Erase a kept contact with its ledger event ``contact.erased``; ``False`` (and no
        event) when it was erased already, e.g. by another process a moment ago."""
        k = reporter_contacts.c
        with self._write() as conn:
            done = conn.execute(
                update(reporter_contacts)
                .where(k.case_id == case_id, k.erased_at.is_(None))
                .values(ciphertext=None, erased_at=at)
            )
            if done.rowcount != 1:
                return False
            append(
                conn,
                at=at,
                kind="contact.erased",
                actor=actor,
                subject=f"case:{case_id}",
                details={"case_id": case_id, "reason": reason},
            )
        return True
