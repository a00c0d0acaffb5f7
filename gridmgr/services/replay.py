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
import logging
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gridmgr.cases import CaseState
from gridmgr.ledger import LedgerEvent, format_time
from gridmgr.services.context import Services
from gridmgr.store import CellLoad, SnapshotMark, StateEvent

log = logging.getLogger(__name__)

SNAPSHOT_EVERY = 20_000
"""Ledger events between two replay snapshots: a replay reads at most about this many."""

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

    def open_cases(self) -> dict[str, ReplayedCase]:
        """The cases in an open state (merged ones too), by id: what a replay must agree on."""
        return {k: c for k, c in self.cases.items() if c.state.is_open}

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

    def cell_load(self, *, soon: timedelta = timedelta(hours=2)) -> dict[str | None, CellLoad]:
        """The open cases per cell as the live map counts them: open, overdue at :attr:`at`,
        due within ``soon`` (escalations are not replayed: 0)."""
        out: dict[str | None, CellLoad] = {}
        for c in self.cases.values():
            if not c.is_open:
                continue
            late = c.due_at is not None and c.due_at <= self.at
            near = not late and c.due_at is not None and c.due_at <= self.at + soon
            row = out.get(c.cell) or CellLoad(c.cell, 0, 0, 0, 0)
            out[c.cell] = CellLoad(c.cell, row.open + 1, row.overdue + late, row.due_soon + near, 0)
        return out

    def without_holder(self) -> int:
        """Open cases with no named person (the invariant says 0)."""
        return sum(1 for c in self.cases.values() if c.is_open and not c.holder)

    def without_deadline(self) -> int:
        """Open cases with no deadline (the invariant says 0)."""
        return sum(1 for c in self.cases.values() if c.is_open and c.due_at is None)


def fold_events(events: Iterable[LedgerEvent], at: datetime) -> CityState:
    """The city at ``at`` from ledger events in ``seq`` order (those after ``at`` are skipped)."""
    state = CityState(at=at, events=0)
    _fold(state, ((e.seq, e.at, e.subject, e.payload) for e in events), format_time(at))
    return state


def _fold(
    state: CityState,
    events: Iterable[StateEvent],
    until: str,
    history: Callable[[str], ReplayedCase | None] | None = None,
) -> tuple[str, str] | None:
    """Fold ``events`` stamped at or before ``until`` into ``state``; the earliest and latest
    ``at`` of the changes applied (``None``: none). A change to a case ``state`` does not hold
    that is not its report (a case a snapshot left out: closed) starts from ``history``."""
    lo = hi = None
    cases = state.cases
    for _seq, at, subject, payload in events:
        if at > until or not subject.startswith("case:"):
            continue
        parsed = json.loads(payload)
        to_state = parsed.get("to_state")
        if not isinstance(to_state, str):
            continue  # a photo, a read, a contact: no change of state
        state.events += 1
        lo = at if lo is None or at < lo else lo
        hi = at if hi is None or at > hi else hi
        case_id = subject[5:]
        case = cases.get(case_id)
        if case is None:
            earlier = None
            if history is not None and parsed.get("from_state") is not None:
                earlier = history(case_id)
            case = cases[case_id] = earlier or ReplayedCase(case_id, CaseState(to_state))
        case.state = CaseState(to_state)
        _apply_details(case, parsed.get("details"))
    return None if lo is None or hi is None else (lo, hi)


def _history(services: Services, upto: int) -> Callable[[str], ReplayedCase | None]:
    """A case as the ledger's first ``upto`` events left it, from its own events (indexed)."""

    def case_before(case_id: str) -> ReplayedCase | None:
        own = services.store.subject_events(f"case:{case_id}")
        alone = CityState(at=datetime.fromtimestamp(0, UTC), events=0)
        _fold(alone, ((e.seq, e.at, e.subject, e.payload) for e in own if e.seq <= upto), "~")
        return alone.cases.get(case_id)

    return case_before


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


def encode_state(state: CityState) -> bytes:
    """The cases of ``state`` in an open state as compressed JSON (a snapshot's ``state``):
    a closed case counts nowhere, and a later change to it is replayed from its own events."""
    rows = [
        [c.case_id, c.state.value, c.cell, None if c.due_at is None else c.due_at.isoformat(),
         c.holder, c.queue]
        for c in state.cases.values()
        if c.state.is_open
    ]  # fmt: skip
    data = json.dumps({"events": state.events, "cases": rows}, separators=(",", ":"))
    return zlib.compress(data.encode(), 6)


def decode_state(data: bytes, at: datetime) -> CityState:
    """The city of a snapshot, as of ``at`` (the moment its overdue cases are counted at)."""
    parsed = json.loads(zlib.decompress(data))
    state = CityState(at=at, events=int(parsed["events"]))
    for case_id, value, cell, due, holder, queue in parsed["cases"]:
        state.cases[case_id] = ReplayedCase(
            case_id,
            CaseState(value),
            cell,
            None if due is None else datetime.fromisoformat(due),
            holder,
            queue,
        )
    return state


def replay(services: Services, at: datetime) -> CityState:
    """The city at ``at``: the newest snapshot all of whose changes precede ``at``, then the
    ledger's changes after it, up to the last snapshot interval that holds one stamped at or
    before ``at`` (every interval's earliest stamp is kept), filtered by time in the query."""
    store, until = services.store, format_time(at)
    marks = store.replay_marks()
    usable = [m for m in marks if m.at_max <= until]
    start = usable[-1] if usable else None
    data = None if start is None else store.replay_snapshot(start.seq)
    if start is not None and (data is None or store.ledger_hash_of(start.seq) != start.head_hash):
        log.warning("replay snapshot at event %d does not match the ledger; not used", start.seq)
        start, data = None, None
    state = CityState(at=at, events=0) if data is None else decode_state(data, at)
    after = 0 if start is None else start.seq
    later = [m for m in marks if m.seq > after]
    tail_min = store.state_min_at(after=marks[-1].seq) if later else None
    upto = _last_needed(after, later, until, tail_min)
    if upto is None or upto > after:
        events = store.state_events(after=after, upto=upto, until=until)
        _fold(state, events, until, None if start is None else _history(services, after))
    return state


def _last_needed(
    after: int, later: list[SnapshotMark], until: str, tail_min: str | None
) -> int | None:
    """The last event a replay to ``until`` must read after event ``after`` (``None``: to the
    ledger's end): past it, no interval between snapshots (``later``, oldest first) and not the
    events after the newest (earliest change ``tail_min``) hold a change at or before ``until``.
    """
    if not later or (tail_min is not None and tail_min <= until):
        return None
    bounds = [after, *(m.seq for m in later)]
    upto = bounds[-1]
    for i in range(len(later) - 1, -1, -1):
        earliest = later[i].min_at
        if earliest is not None and earliest <= until:
            break
        upto = bounds[i]
    return upto


def take_snapshots(services: Services, *, every: int = SNAPSHOT_EVERY) -> int:
    """Make the replay snapshots the ledger is due, one every ``every`` events, each from the
    one before; returns how many were made."""
    store = services.store
    marks = store.replay_marks()
    last = marks[-1] if marks else None
    total = store.ledger_length()
    done = 0 if last is None else last.seq
    if total - done < every:
        return 0
    data = None if last is None else store.replay_snapshot(last.seq)
    epoch = datetime.fromtimestamp(0, UTC)
    state = CityState(at=epoch, events=0) if data is None else decode_state(data, epoch)
    at_max, made = "" if last is None else last.at_max, 0
    while total - done >= every:
        upto = done + every
        events = store.state_events(after=done, upto=upto)
        span = _fold(state, events, "~", _history(services, done) if done else None)
        state.cases = state.open_cases()  # as the snapshot keeps them, and the next starts
        at_max = max(at_max, span[1]) if span else at_max
        mark = SnapshotMark(upto, store.ledger_hash_of(upto) or "", at_max, span and span[0])
        made += store.save_replay_snapshot(mark, cases=len(state.cases), state=encode_state(state))
        done = upto
    return made
