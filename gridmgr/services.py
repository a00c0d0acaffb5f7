"""Use cases: report an incident, act on a case, escalate overdue stages — the one way in.

The API, the CLI, the dashboard and the simulator all call these, so every change goes through
routing, the pure state machine and one store transaction with its ledger event.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime

from gridmgr.cases import (
    Action,
    Actor,
    Assignee,
    Case,
    CaseError,
    CaseEvent,
    Role,
    decision_to_assignee,
    open_case,
)
from gridmgr.datum import Datum
from gridmgr.escalation import acting_for, escalation_path
from gridmgr.intake import Channel
from gridmgr.loops import PeriodicLoop
from gridmgr.notifications import COMMAND_CENTER_INBOX, due_soon_notice
from gridmgr.roster import COMMAND_CENTER, Post, PostKind
from gridmgr.routing import RoutingContext, RoutingDecision, route_incident, route_unlocated
from gridmgr.sla import Span
from gridmgr.store import Store, new_case_id, outboxstore
from gridmgr.store.casestore import ConcurrentUpdateError

log = logging.getLogger(__name__)

ESCALATOR = Actor("system:escalator", Role.SYSTEM, "自动升级")
"""The actor every automatic escalation is recorded under."""


@dataclass(frozen=True)
class Reported:
    """A report accepted into the store: the case, its number and how it was routed."""

    case: Case
    number: int
    decision: RoutingDecision


def report_incident(
    store: Store,
    context: RoutingContext,
    *,
    reporter: Actor,
    category: str,
    at: datetime,
    description: str,
    lon: float | None = None,
    lat: float | None = None,
    cell: str | None = None,
    datum: str | Datum = Datum.WGS84,
    ingestor: Ingestor | None = None,
    case_id: str | None = None,
    channel: str = "grid_worker",
    source_id: str | None = None,
    address: str | None = None,
) -> Reported:
    """Route a report and open its case (out-of-grid reports open a case in that queue).

    Returns once the case is committed. With an ``ingestor`` the write joins a group commit.
    ``case_id`` (default: 128 random bits) lets a seeded simulation be reproducible.
    ``channel`` (a :class:`gridmgr.intake.Channel` value) and the sender's ``source_id`` are
    recorded on the case and in its report event; (channel, source id) is unique. Without
    coordinates or a cell, an ``address`` opens the case in the *unlocated* queue.
    """
    channel = Channel.parse(channel).value
    if lon is None and cell is None and address is not None:
        decision = route_unlocated(context, category=category, at=at, address=address)
    else:
        decision = route_incident(
            context, category=category, at=at, lon=lon, lat=lat, cell=cell, datum=datum
        )
    case, event = open_case(
        case_id=case_id or new_case_id(),
        decision=decision,
        reporter=reporter,
        description=description,
        at=at,
    )
    intake = {"channel": channel, "source_id": source_id, "address": address}
    if channel != "grid_worker" or source_id is not None or address is not None:
        event = replace(event, details={**event.details, **intake})
    if ingestor is not None:
        case, number = ingestor.write(case, event, decision)
    else:
        case, number = store.report_opened([(case, event, decision)])[0]
    return Reported(case, number, decision)


class Ingestor:
    """Group commit: reports from many request threads are written by one writer thread, many
    per transaction, so one fsync acknowledges a whole batch.

    :meth:`write` returns only after the report's transaction has committed (durable). If a
    batch fails, its reports are retried one by one, so one bad report cannot sink the others.
    """

    def __init__(self, store: Store, *, max_batch: int = 256) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="gridmgr-ingest", daemon=True)
        self._thread.start()

    def write(
        self, case: Case, event: CaseEvent, decision: RoutingDecision, *, timeout: float = 30.0
    ) -> tuple[Case, int]:
        """Store one opened case; block until it is committed."""
        pending = _Pending((case, event, decision))
        self._queue.put(pending)
        return pending.future.result(timeout=timeout)

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = self._store.report_opened([p.item for p in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            for pending in batch:  # isolate the bad report
                self._commit([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            pending.future.set_result(result)


@dataclass
class _Pending:
    item: tuple[Case, CaseEvent, RoutingDecision]
    future: Future[tuple[Case, int]] = field(default_factory=Future)


def act(
    store: Store,
    context: RoutingContext,
    case_id: str,
    action: Action,
    *,
    actor: Actor,
    at: datetime,
    comment: str,
    assignee: Assignee | None = None,
    approver: Actor | None = None,
    extend: Span | None = None,
    rating: int | None = None,
) -> Case:
    """Apply one lifecycle action (for DISPATCH without an assignee: the cell's owner now)."""
    if action is Action.DISPATCH and assignee is None:
        assignee = owner_now(store, context, case_id, at)
    return store.apply(
        case_id,
        action,
        actor=actor,
        at=at,
        comment=comment,
        calendar=context.calendar,
        catalog=context.catalog,
        assignee=assignee,
        approver=approver,
        extend=extend,
        rating=rating,
    )


def owner_now(store: Store, context: RoutingContext, case_id: str, at: datetime) -> Assignee:
    """Who answers for a case's cell now: the first acting person of its owner chain."""
    case = store.case(case_id)
    decision = (
        route_incident(context, category=case.category, at=at, cell=case.cell)
        if (case.cell is not None)
        else None
    )
    assignee = None if decision is None else decision_to_assignee(decision)
    if assignee is None:
        crew = context.roster.on_duty(at)
        if not crew:
            raise CaseError(f"case {case_id}: nobody to dispatch to; name an assignee")
        return Assignee(crew[0].person_id, COMMAND_CENTER.key, crew[0].name)
    return assignee


def escalation_target(context: RoutingContext, case: Case, now: datetime) -> Assignee | None:
    """The person one tier above the case's assignee post who acts for that post ``now``."""
    if case.assignee is None:
        return None
    kind, _, place = case.assignee.post.partition(":")
    try:
        post = Post(PostKind(kind), place)
        path = escalation_path(context.escalation, post)
    except (ValueError, KeyError):
        path = [COMMAND_CENTER]
    for upper in path[1:] or [COMMAND_CENTER]:
        person, _, _ = acting_for(context.roster, upper, now, adjacency=context.adjacency)
        if person is not None:
            return Assignee(person.person_id, upper.key, person.name)
    return None


def escalate_overdue(store: Store, context: RoutingContext, *, now: datetime) -> list[Case]:
    """Escalate every overdue stage not yet escalated, one tier up; returns the escalated cases.

    Safe to run often, from several processes, and after downtime: a stage is escalated at most
    once (the state machine refuses a second time; the store's version check refuses a race).
    """
    done: list[Case] = []
    for case in store.to_escalate(now):
        target = escalation_target(context, case, now)
        assert case.due_at is not None
        late = now - case.due_at
        who = "nobody available" if target is None else f"{target.name} ({target.post})"
        comment = (
            f"{case.stage.value if case.stage else 'stage'} overdue by "
            f"{int(late.total_seconds() // 60)} min: escalated to {who}"
        )
        try:
            done.append(
                store.apply(
                    case.case_id,
                    Action.ESCALATE,
                    actor=ESCALATOR,
                    at=now,
                    comment=comment,
                    calendar=context.calendar,
                    catalog=context.catalog,
                    escalate_to=target,
                )
            )
        except (ConcurrentUpdateError, CaseError) as exc:
            log.info("case %s not escalated: %s", case.case_id, exc)
    return done


def warn_due_soon(
    store: Store, context: RoutingContext, *, now: datetime, within_hours: float
) -> int:
    """Notify each assignee whose running stage falls due within ``within_hours`` working
    hours (once per stage); returns how many notices were new."""
    end = context.calendar.add_working_hours(now, within_hours)
    with store.engine.connect() as conn:
        soon = outboxstore.select_due_between(conn, now, end)
    notices = [due_soon_notice(c, within_hours=within_hours, now=now) for c in soon]
    with store.write() as conn:
        return outboxstore.insert_notices(conn, [(n, now) for n in notices if n is not None])


def notifications_for(
    store: Store,
    actor: Actor,
    *,
    after_id: int = 0,
    unread_only: bool = False,
    limit: int = 100,
) -> list[outboxstore.Notification]:
    """The in-app notifications of ``actor`` (operators also see the command center's),
    newest first — what the worker page and the dashboard show."""
    with store.engine.connect() as conn:
        return outboxstore.select_notifications(
            conn, inbox_of(actor), after_id=after_id, unread_only=unread_only, limit=limit
        )


def inbox_of(actor: Actor) -> list[str]:
    """The recipients whose notices ``actor`` reads: himself, and for operators the center."""
    return [actor.actor_id] + ([COMMAND_CENTER_INBOX] if actor.role is Role.OPERATOR else [])


def mark_notifications_read(store: Store, actor: Actor, ids: list[int], *, at: datetime) -> int:
    """Mark some of ``actor``'s notifications read; how many were unread."""
    with store.write() as conn:
        return outboxstore.mark_read(conn, inbox_of(actor), ids, at=at)


class EscalationLoop(PeriodicLoop):
    """Runs :func:`escalate_overdue` (and :func:`warn_due_soon`, when ``due_within_hours`` > 0)
    at start — catching up with everything overdue — and every ``every`` seconds until stopped."""

    def __init__(
        self,
        store: Store,
        context: RoutingContext,
        *,
        every: float,
        clock: Callable[[], datetime],
        due_within_hours: float = 0.0,
    ) -> None:
        def step() -> None:
            escalated = escalate_overdue(store, context, now=clock())
            if escalated:
                log.info("escalated %d overdue stage(s)", len(escalated))
            if due_within_hours > 0:
                warn_due_soon(store, context, now=clock(), within_hours=due_within_hours)

        super().__init__(step, every=every, name="gridmgr-escalator")
