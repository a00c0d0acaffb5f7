"""Wall displays (大屏): read-only tokens, and what the big screen shows.

A display token (``gridmgr display create NAME``) is a credential of kind ``display``: hashed at
rest, lasting until it is revoked. It opens the big screen and nothing else: the API and every
dashboard page and callback refuse it (they take personal tokens and sessions only). What it
reads is city-wide but carries no personal data beyond the names of officials: counts, cells,
categories, case numbers, the named holders of overdue cases, never a citizen's words or
contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridmgr.access import Caller
from gridmgr.cases import Actor, Role
from gridmgr.errors import CredentialError
from gridmgr.services.context import Services
from gridmgr.services.queries import CaseFilter
from gridmgr.store import Store, StoredCredential

DISPLAY_KIND = "display"
OVERDUE_ROWS = 15


def create_display(store: Store, name: str, *, now: datetime) -> str:
    """A new display token for the wall named ``name`` (shown once; revoke it by its id)."""
    name = name.strip()
    if not name:
        raise CredentialError("a display needs a name, e.g. `gridmgr display create 指挥大厅`")
    return store.create_credential(kind=DISPLAY_KIND, subject=name, now=now, days=None, label=name)


def list_displays(store: Store) -> list[StoredCredential]:
    """Every display token, live, revoked or expired."""
    return [c for c in store.list_credentials() if c.kind == DISPLAY_KIND]


def display_caller(services: Services, token: str) -> Caller:
    """The read-only, city-wide caller of a display token (:class:`CredentialError` if it is not a
    live display token)."""
    credential = services.store.check_credential(token, now=services.now(), kind=DISPLAY_KIND)
    actor = Actor(f"display:{credential.token_id}", Role.MANAGER, credential.subject)
    return Caller(actor, None)


@dataclass(frozen=True)
class OverdueRow:
    """One overdue case on the wall: number, category, place, who answers, since when."""

    case_id: str
    category: str
    cell: str | None
    holder: str
    due_at: datetime


def overdue_cases(
    services: Services, caller: Caller, now: datetime, *, town: str | None = None
) -> list[OverdueRow]:
    """The most overdue open cases (in ``town`` when given), oldest deadline first."""
    where = CaseFilter(overdue_at=now, subtree=town, scope=caller.scope)
    cases = services.store.cases(where, limit=500)
    cases.sort(key=lambda c: c.due_at or now)
    rows = []
    for case in cases[:OVERDUE_ROWS]:
        holder = case.holder or case.assignee
        rows.append(
            OverdueRow(
                case_id=case.case_id,
                category=case.category,
                cell=case.cell,
                holder="—" if holder is None else holder.name or holder.person_id,
                due_at=case.due_at or now,
            )
        )
    return rows
