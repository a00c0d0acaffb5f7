"""Case events: every change to a case written with its event and its ledger event in one
transaction, and a case's trail read back with the proof of each event.

:class:`CaseEventMethods` is the one door for a case's changes — reports
(:meth:`~CaseEventMethods.report`), lifecycle actions (:meth:`~CaseEventMethods.apply`) and side
events such as placing and merging (:meth:`~CaseEventMethods.record_side_events`) — so no caller
can forget the ledger and no crash can separate a change from its event.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from gridmgr.cases import Action, Actor, Assignee, Case, CaseEvent, apply_action, open_case
from gridmgr.errors import ConcurrentUpdateError
from gridmgr.ledger import LedgerEvent, check_event
from gridmgr.store import eventhooks, ledgerstore, outboxstore
from gridmgr.store.casestore import OPEN_STATES, case_to_row, load_case
from gridmgr.store.fieldstore import CLIENT_ID_KEY
from gridmgr.store.intakestore import IntakeReads, event_columns
from gridmgr.store.pending import PendingWrites, changed_columns, ledger_row
from gridmgr.store.schema import case_events, cases
from gridmgr.store.transactions import StoreBase

if TYPE_CHECKING:
    from gridmgr.responsibility.calendar import WorkCalendar
    from gridmgr.responsibility.catalog import Catalog
    from gridmgr.responsibility.routing import RoutingDecision
    from gridmgr.responsibility.sla import Span


@dataclass(frozen=True)
class TrailEntry:
    """One event of a case's trail, with its ledger event and whether that event verifies."""

    action: str
    actor: str
    at: datetime
    from_state: str | None
    to_state: str
    comment: str
    details: Mapping[str, Any]
    ledger: LedgerEvent
    verified: bool
    problem: str | None


def new_case_id() -> str:
    """A new case id: 128 random bits in hex, so ids cannot be guessed."""
    return secrets.token_hex(16)


def insert_cases(
    conn: Connection, rows: Sequence[tuple[Case, str, str | None, str | None]]
) -> list[int]:
    """Insert new cases ``(case, queue, tier1, tier2)`` in one statement; returns their numbers
    (1, 2, 3 … in report order)."""
    first = int(conn.execute(_NEXT_NUMBER).scalar_one()) + 1
    numbers = list(range(first, first + len(rows)))
    conn.execute(
        _INSERT_CASE,
        [
            {**case_to_row(case), "number": n, "queue": queue, "tier1": t1, "tier2": t2}
            for n, (case, queue, t1, t2) in zip(numbers, rows, strict=True)
        ],
    )
    return numbers


# statements built once: parameters travel separately, so SQLAlchemy's compiled cache is hit
_NEXT_NUMBER = select(func.coalesce(func.max(cases.c.number), 0))
_INSERT_CASE = insert(cases)
_UPDATE_CASE = (
    update(cases)
    .where(cases.c.case_id == bindparam("where_case_id"))
    .where(cases.c.version == bindparam("where_version"))
)
_INSERT_EVENT = insert(case_events)


def update_case(conn: Connection, before: Case, after: Case) -> None:
    """Write ``after`` over ``before``, only if nobody changed the case meanwhile.

    Only the columns that differ are sent (an action changes a few of forty; binding the rest,
    the location's WKB among them, cost more than the update)."""
    values = changed_columns(before, after)
    values.update(where_case_id=before.case_id, where_version=before.version)
    result = conn.execute(_UPDATE_CASE, values)
    if result.rowcount != 1:
        raise ConcurrentUpdateError(
            f"case {before.case_id} changed while it was being updated (version {before.version}); "
            "read it again and retry"
        )


def insert_events(conn: Connection, events: Sequence[tuple[CaseEvent, int]]) -> None:
    """Record case events ``(event, ledger_seq)`` beside the ledger events that prove them."""
    conn.execute(_INSERT_EVENT, event_rows(events))


def event_rows(events: Sequence[tuple[CaseEvent, int]]) -> list[dict[str, Any]]:
    """The ``case_events`` rows of ``(event, ledger_seq)``."""
    return [
        {
            "case_id": event.case_id,
            "ledger_seq": seq,
            "action": event.action.value,
            "actor": event.actor.actor_id,
            "at": event.at,
            "from_state": None if event.from_state is None else event.from_state.value,
            "to_state": event.to_state.value,
            "comment": event.comment,
            "details": dict(event.details),
        }
        for event, seq in events
    ]


def _holdable(
    events: Sequence[CaseEvent], pending: PendingWrites, opening: Collection[str] = ()
) -> bool:
    """Whether a batch may hold these events back (:mod:`gridmgr.store.pending`): none keys a
    client id or a sender's id (their unique keys must fail at once), and none sets intake
    columns of a case already stored (only of one held back, or ``opening``)."""
    return not any(
        e.details.get(CLIENT_ID_KEY)
        or e.details.get("source_id")
        or (event_columns(e) and e.case_id not in pending.inserts and e.case_id not in opening)
        for e in events
    )


class CaseEventMethods(StoreBase):
    """The store's writes of cases, each with its case event and ledger event, and trails."""

    def report(
        self,
        decision: RoutingDecision,
        *,
        reporter: Actor,
        description: str,
        at: datetime,
        case_id: str | None = None,
    ) -> tuple[Case, int]:
        """Open a case from a routing decision: the case, its event and its ledger event in one
        transaction. Returns the case and its number."""
        case_id = case_id or new_case_id()
        case, event = open_case(
            case_id=case_id, decision=decision, reporter=reporter, description=description, at=at
        )
        return self.report_opened([(case, event, decision)])[0]

    def report_opened(
        self, opened: Sequence[tuple[Case, CaseEvent, RoutingDecision]]
    ) -> list[tuple[Case, int]]:
        """Store cases already opened by :func:`gridmgr.cases.open_case`, in one transaction
        (group commit): each with its case event and its ledger event. Returns (case, number)."""
        if not opened:
            return []
        held = self._pending()
        opening = {c.case_id for c, _, _ in opened}
        if held is not None and _holdable([e for _, e, _ in opened], held[1], opening):
            return self._hold_reports(*held, opened)
        with self._write() as conn:
            numbers = insert_cases(
                conn,
                [
                    (
                        case,
                        decision.queue.value,
                        None if decision.cell_path is None else decision.cell_path.tier1,
                        None if decision.cell_path is None else decision.cell_path.tier2,
                    )
                    for case, _, decision in opened
                ],
            )
            self._log_many(
                conn, [event for _, event, _ in opened], written=[case for case, _, _ in opened]
            )
        return [(case, n) for (case, _, _), n in zip(opened, numbers, strict=True)]

    def apply(
        self,
        case_id: str,
        action: Action,
        *,
        actor: Actor,
        at: datetime,
        comment: str,
        calendar: WorkCalendar,
        catalog: Catalog,
        assignee: Assignee | None = None,
        approver: Assignee | None = None,
        extend: Span | None = None,
        defer_to: datetime | None = None,
        rating: int | None = None,
        escalate_to: Assignee | None = None,
        rung_span: Span | None = None,
        last_rung: bool | None = None,
        holder: Assignee | None = None,
        acts_for: Collection[str] = (),
        power: Mapping[str, str] | None = None,
        note: Mapping[str, object] | None = None,
        read: Case | None = None,
    ) -> Case:
        """Apply one lifecycle action to a case, with its events, in one transaction.

        ``holder`` names the person of a stage the action starts that the assignee does not
        run (see :func:`gridmgr.services.holders.holder_for`). ``read`` is the case as the
        caller just read it: inside a :meth:`batch` (one transaction, this thread its only
        writer) it is still current and is not read again; otherwise the case is read here,
        under the write lock. Inside a batch the change is held back and written with the
        next ones (:mod:`gridmgr.store.pending`)."""

        def change(before: Case) -> tuple[Case, CaseEvent]:
            return apply_action(
                before,
                action,
                actor=actor,
                at=at,
                comment=comment,
                calendar=calendar,
                category=catalog.category(before.category),
                assignee=assignee,
                approver=approver,
                extend=extend,
                defer_to=defer_to,
                rating=rating,
                escalate_to=escalate_to,
                rung_span=rung_span,
                last_rung=last_rung,
                holder=holder,
                acts_for=acts_for,
                power=power,
                note=note,
            )

        held = self._pending()
        if held is not None:
            conn, pending = held
            known = read is not None and read.case_id == case_id
            stored = read if known and read is not None else self._stored(conn, pending, case_id)
            after, event = change(stored)
            if _holdable([event], pending):
                pending.update(stored, after)
                self._hold(conn, pending, [event], [after])
                return after
        with self._write() as conn:
            in_batch = read is not None and read.case_id == case_id and self._in_batch()
            before = read if in_batch and read is not None else load_case(conn, case_id)
            after, event = change(before)
            update_case(conn, before, after)
            self._log_many(conn, [event], written=[after])
        return after

    def _stored(self, conn: Connection, pending: PendingWrites, case_id: str) -> Case:
        """The case as stored, inside a batch: as the batch knows it, else read."""
        known = pending.case(case_id)
        if known is not None:
            return known
        pending.flush(conn)
        return pending.remember(load_case(conn, case_id))

    def _hold_reports(
        self,
        conn: Connection,
        pending: PendingWrites,
        opened: Sequence[tuple[Case, CaseEvent, RoutingDecision]],
    ) -> list[tuple[Case, int]]:
        """:meth:`report_opened` inside a batch: the new cases held back, numbered in order."""
        last = pending.last_number
        if last is None:  # nothing held back: the table is current
            last = int(conn.execute(_NEXT_NUMBER).scalar_one())
        out = []
        for n, (case, event, decision) in enumerate(opened, start=last + 1):
            path = decision.cell_path
            row = {
                **case_to_row(case),
                "number": n,
                "queue": decision.queue.value,
                "tier1": None if path is None else path.tier1,
                "tier2": None if path is None else path.tier2,
                **event_columns(event),
            }
            pending.insert(row, case)
            out.append((case, n))
        self._hold(conn, pending, [e for _, e, _ in opened], [c for c, _, _ in opened])
        return out

    def _hold(
        self,
        conn: Connection,
        pending: PendingWrites,
        events: Sequence[CaseEvent],
        written: Sequence[Case],
    ) -> None:
        """:meth:`_log_many` inside a batch: the events chained into the ledger now, their rows
        held back (what :func:`gridmgr.store.eventhooks.after_case_events` writes included)."""
        entries = ledgerstore.chain(conn, [_ledger_entry(e) for e in events])
        pending.ledger.extend(ledger_row(x) for x in entries)
        seqs = [x.seq for x in entries]
        pending.events.extend(event_rows(list(zip(events, seqs, strict=True))))
        by_id = {c.case_id: c for c in written}
        pending.notices.append(outboxstore.notices_of(conn, events, written=by_id))

    def record_side_events(
        self,
        case_ids: Sequence[str],
        build: Callable[[IntakeReads, list[Case]], Sequence[tuple[Case, CaseEvent]]],
    ) -> list[Case]:
        """Side events (placing, merging: :func:`gridmgr.cases.record_side_event`) on
        ``case_ids`` in one transaction: ``build`` gets the intake columns as this transaction
        sees them and the cases as stored, and returns each changed case with its event; cases
        and events are written with their ledger events."""
        with self._write() as conn:
            before = {i: load_case(conn, i) for i in case_ids}
            built = build(IntakeReads(conn), [before[i] for i in case_ids])
            for after, _ in built:
                update_case(conn, before[after.case_id], after)
            self._log_many(conn, [event for _, event in built])
        return [after for after, _ in built]

    def hand_over(
        self,
        moves: Sequence[tuple[str, str | None, Assignee]],
        *,
        at: datetime,
        actor: str,
        details: Mapping[str, object],
    ) -> int:
        """Give open cases a new holder ``(case_id, old holder id, new holder)`` and record it as
        one ``shift.handover`` ledger event, in one transaction. A case whose holder changed
        meanwhile (an action, another node's handover) is left alone; returns how many moved."""
        moved: list[str] = []
        with self._write(cases=[case_id for case_id, _, _ in moves]) as conn:
            for case_id, old, new in moves:
                held = cases.c.holder_id.is_(None) if old is None else cases.c.holder_id == old
                result = conn.execute(
                    update(cases)
                    .where(cases.c.case_id == case_id, held, cases.c.state.in_(OPEN_STATES))
                    .values(holder_id=new.person_id, holder_post=new.post, holder_name=new.name)
                )
                if result.rowcount == 1:
                    moved.append(case_id)
            if moved:
                body = {**details, "cases": moved}
                ledgerstore.append(
                    conn,
                    at=at,
                    kind="shift.handover",
                    actor=actor,
                    subject="command_center",
                    details=body,
                )
        return len(moved)

    def _log_many(
        self,
        conn: Connection,
        events: Sequence[CaseEvent],
        *,
        written: Sequence[Case] = (),
    ) -> list[LedgerEvent]:
        entries = ledgerstore.append_many(conn, [_ledger_entry(e) for e in events])
        insert_events(conn, [(e, x.seq) for e, x in zip(events, entries, strict=True)])
        # intake columns, notification outbox, the field app's client ids
        eventhooks.after_case_events(
            conn,
            events,
            [x.seq for x in entries],
            written={c.case_id: c for c in written},
        )
        return entries

    def trail(self, case_id: str) -> list[TrailEntry]:
        """A case's events in order, each with its ledger event and whether that event verifies
        (its hash matches its contents and links to the ledger event before it)."""
        with self._read() as conn:
            load_case(conn, case_id)
            rows = (
                conn.execute(
                    select(case_events)
                    .where(case_events.c.case_id == case_id)
                    .order_by(case_events.c.id)
                )
                .mappings()
                .all()
            )
            seqs = [int(r["ledger_seq"]) for r in rows]
            events = ledgerstore.events_by_seq(conn, seqs + [s - 1 for s in seqs if s > 1])
        out = []
        for r in rows:
            ev = events[int(r["ledger_seq"])]
            ok, problem = check_event(ev, events.get(ev.seq - 1))
            out.append(
                TrailEntry(
                    r["action"],
                    r["actor"],
                    r["at"],
                    r["from_state"],
                    r["to_state"],
                    r["comment"],
                    r["details"],
                    ev,
                    ok,
                    problem,
                )
            )
        return out

    def insert_bare_cases_for_benchmarks(
        self, rows: Iterable[tuple[Case, str, str]], *, batch: int = 10_000
    ) -> int:
        """Insert cases ``(case, queue, channel)`` as bare rows — numbered in order, **without
        events or ledger entries**; how many.

        **For benchmark set-up only** — gridmgr never calls it: it fills a database with many
        cases fast, and breaks the rule that every case has its trail.
        """
        count = 0
        with self._write() as conn:
            first = int(conn.execute(_NEXT_NUMBER).scalar_one()) + 1
            values: list[dict[str, Any]] = []
            for case, queue, channel in rows:
                row = case_to_row(case)
                # no geometry: the set-up benchmarks read lon/lat, and points cost time here
                row.update(number=first + count, queue=queue, channel=channel, location=None)
                values.append(row)
                count += 1
                if len(values) == batch:
                    conn.execute(_INSERT_CASE, values)
                    values = []
            if values:
                conn.execute(_INSERT_CASE, values)
        return count


def _ledger_entry(e: CaseEvent) -> tuple[datetime, str, str, str, Mapping[str, object]]:
    """The ledger entry of a case event."""
    return (e.at, f"case.{e.action.value}", e.actor.actor_id, f"case:{e.case_id}", e.to_payload())
