"""Replay: the city as it stood at a past moment, rebuilt from the ledger alone.

Every case change is one ledger event whose payload records the state it left the case in
(``to_state``) and what changed with it (``details``: the cell at the report and when a case is
placed, the running stage's deadline ``due_at``, the holder, the queue when a case is merged).
Folding the events up to a moment gives each case's state then; from those, the open and overdue
cases per cell and the "nothing escapes the grid" lines on cases. No table but the ledger is read,
so what replay shows is what the hash chain proves.

An event counts from its ``at``. Escalation stamps a catch-up pass at each missed deadline, so a
stage the live desk showed overdue for the seconds before the next pass (the server runs one a
minute) replays as escalated at its deadline: replay shows the ledger's account of the moment.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from gridmgr.cases import CaseState
from gridmgr.ledger import LedgerEvent, format_time
from gridmgr.services.context import Services

MERGED = "merged"
"""The queue of a case merged into another (not counted open, as on the live map)."""


@dataclass
class ReplayedCase:
    """One case as the ledger had it at the moment."""

    case_id: str
    state: CaseState
    cell: str | None = None
    due_at: datetime | None = None
    holder: str | None = None
    queue: str | None = None

    @property
    def is_open(self) -> bool:
        """Open, and not merged into another case."""
        return self.state.is_open and self.queue != MERGED


@dataclass
class CityState:
    """The open and overdue cases per tier-3 cell (``None``: out of grid) at ``at``."""

    at: datetime
    events: int
    cases: dict[str, ReplayedCase] = field(default_factory=dict)

    def open_by_cell(self) -> Counter[str | None]:
        """Open cases per cell."""
        return Counter(c.cell for c in self.cases.values() if c.is_open)

    def overdue_by_cell(self) -> Counter[str | None]:
        """Open cases whose deadline had passed at :attr:`at`, per cell."""
        return Counter(
            c.cell
            for c in self.cases.values()
            if c.is_open and c.due_at is not None and c.due_at <= self.at
        )

    def without_holder(self) -> int:
        """Open cases with no named person (the invariant says 0)."""
        return sum(1 for c in self.cases.values() if c.is_open and not c.holder)

    def without_deadline(self) -> int:
        """Open cases with no deadline (the invariant says 0)."""
        return sum(1 for c in self.cases.values() if c.is_open and c.due_at is None)


def fold_events(events: Iterable[LedgerEvent], at: datetime) -> CityState:
    """The city at ``at`` from ledger events in ``seq`` order (those after ``at`` are skipped)."""
    until = format_time(at)
    state = CityState(at=at, events=0)
    for event in events:
        if event.at > until or not event.subject.startswith("case:"):
            continue
        payload = json.loads(event.payload)
        to_state = payload.get("to_state")
        if not isinstance(to_state, str):
            continue  # a photo, a read, a contact: no change of state
        state.events += 1
        case_id = event.subject.removeprefix("case:")
        case = state.cases.get(case_id)
        if case is None:
            case = state.cases[case_id] = ReplayedCase(case_id, CaseState(to_state))
        case.state = CaseState(to_state)
        _apply_details(case, payload.get("details"))
    return state


def _apply_details(case: ReplayedCase, details: object) -> None:
    if not isinstance(details, dict):
        return
    if "cell" in details:
        case.cell = details["cell"]
    if "due_at" in details:
        due = details["due_at"]
        case.due_at = datetime.fromisoformat(due) if isinstance(due, str) else None
    holder = details.get("holder")
    if isinstance(holder, dict):
        case.holder = holder.get("person_id") or holder.get("name")
    elif "holder" in details:
        case.holder = None
    if "queue" in details:
        case.queue = details["queue"]


def replay(services: Services, at: datetime) -> CityState:
    """The city at ``at``, from the ledger's events (streamed, not held in memory)."""
    return fold_events(services.store.ledger_events(), at)
