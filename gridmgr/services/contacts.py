"""A reporter's callback contact (回访), with his consent: kept encrypted, shown to operators,
erased N days after the case closes.

The contact is encrypted with Fernet (``cryptography``) under ``GRIDMGR_CONTACT_KEY``
(:attr:`~gridmgr.settings.Settings.contact_key`) before it reaches the store, so the database
file holds no readable phone number or address; without a key, or without consent, nothing is
kept. Only operators read a contact back, and each read is recorded in the access log.
:func:`erase_expired_contacts` runs in the background loop of ``gridmgr serve`` (safe to run in
several processes at once: each contact is erased once, with one ledger event that holds none of
the data).
"""

from __future__ import annotations

import re
from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken

from gridmgr.access import Caller
from gridmgr.cases import Role
from gridmgr.errors import ForbiddenError, GridMgrError
from gridmgr.services.accesslog import record_reads
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services

__all__ = ["ContactError", "contact_kind", "erase_expired_contacts", "keep_contact", "read_contact"]

ERASER = "system:contact-erasure"
"""Who erases contacts, in the ledger."""
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,30}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")


class ContactError(GridMgrError, ValueError):
    """A contact that is neither a phone number nor an e-mail address, or cannot be read."""


def contact_kind(contact: str) -> str:
    """``phone`` or ``email`` (:class:`ContactError` for anything else).

    >>> contact_kind("138 0000 0000"), contact_kind("a@example.com")
    ('phone', 'email')
    """
    if _PHONE.match(contact.strip()):
        return "phone"
    if _EMAIL.match(contact.strip()):
        return "email"
    raise ContactError(f"{contact[:40]!r} is neither a phone number nor an e-mail address")


def _fernet(services: Services) -> Fernet | None:
    key = services.settings.contact_key
    return None if key is None else Fernet(key.encode("ascii"))


def keep_contact(
    services: Services, case_id: str, contact: str, *, consent: bool, actor: str
) -> bool:
    """Keep the reporter's contact of a case, encrypted; ``False`` (nothing kept) without the
    reporter's consent or without a contact key."""
    fernet = _fernet(services)
    if not consent or fernet is None:
        return False
    kind = contact_kind(contact)
    ciphertext = fernet.encrypt(contact.strip().encode("utf-8")).decode("ascii")
    services.store.keep_contact(
        case_id, kind=kind, ciphertext=ciphertext, consent=consent, at=services.now(), actor=actor
    )
    return True


def read_contact(services: Services, caller: Caller, case_id: str) -> tuple[str, str] | None:
    """(kind, contact) of a case's reporter for an operator, the read recorded in the access
    log; ``None`` when none is kept (never given, or erased)."""
    if caller.actor.role is not Role.OPERATOR:
        raise ForbiddenError("a reporter's contact is shown to command-center operators only")
    case = visible_case(services.store, caller, case_id)
    stored = services.store.contact_of(case.case_id)
    if stored is None or stored.ciphertext is None:
        return None
    fernet = _fernet(services)
    if fernet is None:
        raise ContactError("GRIDMGR_CONTACT_KEY is not set: the contact cannot be decrypted")
    try:
        contact = fernet.decrypt(stored.ciphertext.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ContactError(
            "the contact was encrypted with another GRIDMGR_CONTACT_KEY; set the key it was "
            "kept with"
        ) from None
    record_reads(services, caller.actor, [case], door="api:contact", everything=True)
    return stored.kind, contact


def erase_expired_contacts(services: Services, *, limit: int = 500) -> int:
    """Erase the contacts of cases closed more than the retention period ago; how many this
    call erased (another process may erase some of the same at the same time)."""
    now = services.now()
    cutoff = now - timedelta(days=services.settings.contact_retention_days)
    erased = 0
    for case_id in services.store.contacts_due_for_erasure(closed_before=cutoff, limit=limit):
        reason = f"retention: {services.settings.contact_retention_days} days after closing"
        if services.store.erase_contact(case_id, at=now, actor=ERASER, reason=reason):
            erased += 1
    return erased
