"""Report an incident: route it once and open its case, alone or in a group commit."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from gridmgr.cases import (
    Actor,
    Case,
    CaseEvent,
    open_case,
)
from gridmgr.grid.datum import Datum
from gridmgr.intake.channels import Channel
from gridmgr.responsibility.routing import (
    RoutingContext,
    RoutingDecision,
    route_incident,
    route_unlocated,
)
from gridmgr.services.holders import duty_operator
from gridmgr.store import Store, new_case_id


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
    details: Mapping[str, object] | None = None,
) -> Reported:
    """Route a report and open its case (out-of-grid reports open a case in that queue).

    Returns once the case is committed. With an ``ingestor`` the write joins a group commit.
    ``case_id`` (default: 128 random bits) lets a seeded simulation be reproducible.
    ``channel`` (a :class:`~gridmgr.intake.channels.Channel` value) and the sender's
    ``source_id`` are
    recorded on the case and in its report event; (channel, source id) is unique. Without
    coordinates or a cell, an ``address`` opens the case in the *unlocated* queue. ``details``
    are added to the report event (e.g. a partner's ``media_url``).
    """
    channel = Channel.parse(channel).value
    decision = route_report(
        context,
        category=category,
        at=at,
        lon=lon,
        lat=lat,
        cell=cell,
        datum=datum,
        address=address,
    )
    return open_report(
        store,
        decision,
        context=context,
        reporter=reporter,
        at=at,
        description=description,
        ingestor=ingestor,
        case_id=case_id,
        channel=channel,
        source_id=source_id,
        address=address,
        details=details,
    )


def earlier_report(store: Store, channel: str, source_id: str) -> str | None:
    """The id of the case ``(channel, source_id)`` was already reported as, or ``None``."""
    return store.existing_sources(Channel.parse(channel).value, [source_id]).get(source_id)


def report_incident_once(
    store: Store, context: RoutingContext, *, channel: str, source_id: str, **report: Any
) -> tuple[str, Reported | None]:
    """Report unless ``(channel, source_id)`` was reported before: (the new case's id, the
    report), or (the earlier case's id, ``None``) for a resend — also when the first send is
    committed by another request while this one is being stored."""
    return report_once(
        store,
        channel,
        source_id,
        lambda: report_incident(store, context, channel=channel, source_id=source_id, **report),
    )


def report_once(
    store: Store, channel: str, source_id: str | None, write: Callable[[], Reported]
) -> tuple[str, Reported | None]:
    """Call ``write`` (which opens a case as ``(channel, source_id)``) unless that source was
    reported before: (the new case's id, the report), or (the earlier case's id, ``None``).

    The unique ``(channel, source_id)`` decides a race: the losing write's transaction fails
    and the winner's case is answered. Without a ``source_id`` it just writes.
    """
    if source_id is None:
        reported = write()
        return reported.case.case_id, reported
    earlier = earlier_report(store, channel, source_id)
    if earlier is not None:
        return earlier, None
    try:
        reported = write()
    except IntegrityError:  # (channel, source_id) is unique: the other send won the race
        earlier = earlier_report(store, channel, source_id)
        if earlier is None:
            raise
        return earlier, None
    return reported.case.case_id, reported


def route_report(
    context: RoutingContext,
    *,
    category: str,
    at: datetime,
    lon: float | None = None,
    lat: float | None = None,
    cell: str | None = None,
    datum: str | Datum = Datum.WGS84,
    address: str | None = None,
) -> RoutingDecision:
    """Where a report goes: its cell and owner chain, the out-of-grid queue, or (with only an
    ``address``) the unlocated queue."""
    if lon is None and cell is None and address is not None:
        return route_unlocated(context, category=category, at=at, address=address)
    return route_incident(
        context, category=category, at=at, lon=lon, lat=lat, cell=cell, datum=datum
    )


def open_report(
    store: Store,
    decision: RoutingDecision,
    *,
    context: RoutingContext,
    reporter: Actor,
    at: datetime,
    description: str,
    ingestor: Ingestor | None = None,
    case_id: str | None = None,
    channel: str = "grid_worker",
    source_id: str | None = None,
    address: str | None = None,
    details: Mapping[str, object] | None = None,
) -> Reported:
    """Open the case of a report routed by ``decision`` (see :func:`report_incident`): its
    first stage (立案, 网格外 or 定位) starts at once, held by a named operator on duty."""
    channel = Channel.parse(channel).value
    case, event = open_case(
        case_id=case_id or new_case_id(),
        decision=decision,
        reporter=reporter,
        description=description,
        at=at,
        calendar=context.calendar,
        holder=duty_operator(store, context, at),
    )
    intake = {"channel": channel, "source_id": source_id, "address": address}
    if channel != "grid_worker" or source_id is not None or address is not None:
        event = replace(event, details={**event.details, **intake})
    if details:
        event = replace(event, details={**event.details, **details})
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
