"""The store: cases, their events and the ledger in SQL (SQLite embedded, PostgreSQL at scale).

Every state change is one transaction that writes the change, its case event and its ledger
event together (:meth:`Store.report`, :meth:`Store.apply`, :meth:`Store.record`), so no caller
can forget the ledger and no crash can separate them. Open one with :func:`open_store`.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select

from gridmgr.cases import Action, Actor, Assignee, Case, CaseEvent, apply_action, open_case
from gridmgr.errors import CaseNotFoundError, ConcurrentUpdateError, StoreError
from gridmgr.ledger import Checkpoint, LedgerEvent, Verification, check_event
from gridmgr.store import casestore, eventhooks, ledgerstore
from gridmgr.store.casestore import CaseFilter
from gridmgr.store.engine import check_engine, database_url, make_engine, writing
from gridmgr.store.migrate import check_schema, upgrade
from gridmgr.store.schema import case_events

if TYPE_CHECKING:
    import pandas as pd

    from gridmgr.responsibility.calendar import WorkCalendar
    from gridmgr.responsibility.catalog import Catalog
    from gridmgr.responsibility.routing import RoutingDecision
    from gridmgr.responsibility.sla import Span

__all__ = [
    "CaseFilter",
    "CaseNotFoundError",
    "ConcurrentUpdateError",
    "Store",
    "StoreError",
    "TrailEntry",
    "database_url",
    "open_store",
]


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


class Store:
    """Cases and the ledger in one database; built by :func:`open_store`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite's busy handler makes waiting writers sleep in growing steps (unfair, long
        # tails); writers of this process queue on a lock instead. Other processes still
        # serialize on BEGIN IMMEDIATE, PostgreSQL on its advisory lock.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        self._writer = writing(engine)

    def __repr__(self) -> str:
        return f"<Store {self.engine.url.render_as_string(hide_password=True)}>"

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction holding the ledger lock; committed when the block ends."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                ledgerstore.lock_ledger(conn)
                yield conn
            return
        with self._write_lock, self._writer.begin() as conn:
            yield conn

    # -- cases --------------------------------------------------------------------------------

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
        with self.write() as conn:
            numbers = casestore.insert_cases(
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
            self._log_many(conn, [event for _, event, _ in opened])
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
        approver: Actor | None = None,
        extend: Span | None = None,
        rating: int | None = None,
        escalate_to: Assignee | None = None,
    ) -> Case:
        """Apply one lifecycle action to a case, with its events, in one transaction."""
        with self.write() as conn:
            before = casestore.load_case(conn, case_id)
            after, event = apply_action(
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
                rating=rating,
                escalate_to=escalate_to,
            )
            casestore.update_case(conn, before, after)
            self._log(conn, event)
        return after

    def record_side_events(
        self,
        case_ids: Sequence[str],
        build: Callable[[Connection, list[Case]], Sequence[tuple[Case, CaseEvent]]],
    ) -> list[Case]:
        """Side events (placing, merging: :func:`gridmgr.cases.record_side_event`) on
        ``case_ids`` in one transaction: ``build`` gets the cases as stored and returns each
        changed case with its event; cases and events are written with their ledger events."""
        with self.write() as conn:
            before = {i: casestore.load_case(conn, i) for i in case_ids}
            built = build(conn, [before[i] for i in case_ids])
            for after, _ in built:
                casestore.update_case(conn, before[after.case_id], after)
            self._log_many(conn, [event for _, event in built])
        return [after for after, _ in built]

    def _log(self, conn: Connection, event: CaseEvent) -> LedgerEvent:
        return self._log_many(conn, [event])[0]

    def _log_many(self, conn: Connection, events: Sequence[CaseEvent]) -> list[LedgerEvent]:
        entries = ledgerstore.append_many(
            conn,
            [
                (
                    e.at,
                    f"case.{e.action.value}",
                    e.actor.actor_id,
                    f"case:{e.case_id}",
                    e.to_payload(),
                )
                for e in events
            ],
        )
        casestore.insert_events(conn, [(e, x.seq) for e, x in zip(events, entries, strict=True)])
        eventhooks.after_case_events(conn, events)  # intake columns, notification outbox
        return entries

    def record(
        self, *, at: datetime, kind: str, actor: str, subject: str, details: Mapping[str, object]
    ) -> LedgerEvent:
        """Record a state change that is not a case's (a roster import, a grid import …)."""
        with self.write() as conn:
            return ledgerstore.append(
                conn, at=at, kind=kind, actor=actor, subject=subject, details=details
            )

    def case(self, case_id: str) -> Case:
        """One case by id."""
        with self.engine.connect() as conn:
            return casestore.load_case(conn, case_id)

    def cases(
        self, where: CaseFilter | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Case]:
        """Cases matching ``where`` (default: all), newest first."""
        query = casestore.select_cases(where or CaseFilter()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [casestore.row_to_case(r) for r in conn.execute(query).mappings()]

    def count_cases(self, where: CaseFilter | None = None) -> int:
        """How many cases match ``where``."""
        query = casestore.select_cases(where or CaseFilter()).order_by(None).subquery()
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(query)).scalar_one())

    def cell_load(
        self, now: datetime, *, soon: timedelta, scope: tuple[str, ...] | None = None
    ) -> list[casestore.CellLoad]:
        """Open cases per tier-3 cell in ``scope``: open, overdue, due within ``soon``,
        escalated (the out-of-grid queue is the row with ``cell`` ``None``)."""
        query = casestore.select_cell_load(now, now + soon, scope)
        with self.engine.connect() as conn:
            return [
                casestore.CellLoad(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0))
                for r in conn.execute(query)
            ]

    def case_stats(
        self,
        now: datetime,
        *,
        since: datetime,
        window: timedelta,
        scope: tuple[str, ...] | None = None,
    ) -> casestore.CaseStats:
        """Key figures of the cases in ``scope`` (see :class:`CaseStats`)."""
        query = casestore.select_case_stats(now, since, now - window, scope)
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return casestore.CaseStats(*(int(v or 0) for v in row))

    def case_facts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        scope: tuple[str, ...] | None = None,
    ) -> pd.DataFrame:
        """One row per case reported in ``[since, until)`` in ``scope``, for analytics
        (:mod:`gridmgr.analytics`): its place, owner, state and counts, and the first time it
        was dispatched, accepted (signed for), handled and closed, and how often a stage of it
        was escalated. Columns: :data:`gridmgr.analytics.CASE_FACT_COLUMNS` (times aware, UTC)."""
        import pandas as pd

        from gridmgr.analytics import CASE_FACT_COLUMNS

        query = casestore.select_case_facts(since, until, scope)
        with self.engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(query)]
        frame = pd.DataFrame(rows, columns=CASE_FACT_COLUMNS)
        for col in ("reported_at", *casestore.CASE_FACT_ACTIONS):
            frame[col] = pd.to_datetime(frame[col], utc=True)
        for col in ("number", "escalations", "escalation_level", "return_count", "reopen_count"):
            frame[col] = frame[col].astype("int64")
        for col in ("lon", "lat"):
            frame[col] = frame[col].astype(float)
        return frame

    def to_escalate(self, now: datetime, *, limit: int = 1000) -> list[Case]:
        """Open cases whose running stage is due by ``now`` and not escalated yet."""
        with self.engine.connect() as conn:
            rows = conn.execute(casestore.select_to_escalate(now).limit(limit)).mappings()
            return [casestore.row_to_case(r) for r in rows]

    def trail(self, case_id: str) -> list[TrailEntry]:
        """A case's events in order, each with its ledger event and whether that event verifies
        (its hash matches its contents and links to the ledger event before it)."""
        with self.engine.connect() as conn:
            casestore.load_case(conn, case_id)
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

    # -- ledger -------------------------------------------------------------------------------

    def verify_ledger(
        self, *, checkpoint: Checkpoint | None = None, progress: Callable[[int], None] | None = None
    ) -> Verification:
        """Verify the ledger end to end (and against ``checkpoint``)."""
        return ledgerstore.verify(self.engine, checkpoint=checkpoint, progress=progress)

    def checkpoint(self, *, at: datetime) -> Checkpoint:
        """The verified head of the ledger, to publish or sign."""
        return ledgerstore.take_checkpoint(self.engine, at=at)

    def ledger_since(self, since: int, *, limit: int = 500) -> list[LedgerEvent]:
        """Ledger events with a sequence number above ``since``, oldest first."""
        return ledgerstore.events_after(self.engine, since, limit=limit)

    def ledger_head(self) -> LedgerEvent | None:
        """The newest ledger event."""
        with self.engine.connect() as conn:
            return ledgerstore.head(conn)


def open_store(url: str, *, create: bool = False, check: bool = True) -> Store:
    """Open the database at ``url`` (see :func:`database_url`).

    ``create`` creates or upgrades the schema; otherwise the schema must be current. ``check``
    refuses unsafe durability settings (:func:`gridmgr.store.engine.check_engine`).
    """
    engine = make_engine(url)
    try:
        if check:
            check_engine(engine)
        if create:
            upgrade(engine)
        check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
