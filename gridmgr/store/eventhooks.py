"""What every case event also writes, in its own transaction: intake columns and notifications.

The store calls :func:`after_case_events` from the one place every case event is logged
(:meth:`gridmgr.store.caseevents.CaseEventMethods._log_many`), so reports, lifecycle actions,
escalations, placements and merges all pass through it and none can forget its side effects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection

from gridmgr.cases import Case, CaseEvent
from gridmgr.store import fieldstore, intakestore, outboxstore


def after_case_events(
    conn: Connection,
    events: Sequence[CaseEvent],
    seqs: Sequence[int],
    *,
    written: Mapping[str, Case] | None = None,
) -> None:
    """Write the columns, outbox rows and client-id keys ``events`` (logged as ledger events
    ``seqs``) imply, in the caller's transaction (``written``: the cases as the caller just
    wrote them, not read back)."""
    intakestore.apply_event_columns(conn, events)
    outboxstore.enqueue_for_events(conn, events, written=written)
    fieldstore.record_client_requests(conn, events, seqs)
