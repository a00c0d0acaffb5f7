"""The ledger watch: verification that scales with the ledger, run on one node, read by all.

A pass verifies only the events appended since the last verified head — after checking that
the head's event still carries the hash that pass saw — so a minute's pass reads a minute's
events, not the whole chain. An edit *before* that head is out of its sight: the full,
end-to-end verification catches it, and runs when the last one is older than
``GRIDMGR_FULL_VERIFY_HOURS`` (default a day). Both run in the one loop that holds the
``ledger-watch`` job lock (:func:`gridmgr.server.background_jobs`); each result is a row of
``ledger_verifications``, so every node's panel and ``GET /api/v1/invariants`` show the last
incremental pass (when, up to which event) and the last full one (when, ok) without verifying
anything themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gridmgr.ledger import Verification
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.context import Services
from gridmgr.store import StoredVerification

KINDS = ("incremental", "full")


def verification_status(result: Verification, at: datetime) -> dict[str, Any]:
    """What the ledger line shows of one verification: ok, when (HH:MM), events, problem."""
    return {
        "ok": result.ok,
        "at": at.astimezone(TZ).strftime("%H:%M"),
        "events": result.count,
        "problem": None if result.ok else f"event {result.first_bad_seq}: {result.problem}",
    }


def _kind_status(found: StoredVerification) -> dict[str, Any]:
    result = found.result
    return {
        "ok": result.ok,
        "at": found.at.astimezone(TZ).isoformat(timespec="seconds"),
        "head_seq": result.head_seq,
        "events_read": result.count,
        "from_seq": found.from_seq,
        "problem": None if result.ok else f"event {result.first_bad_seq}: {result.problem}",
        "node": found.node,
    }


@dataclass(frozen=True)
class LedgerWatch:
    """The ledger's verifications: run in the background on one node (:meth:`verify`, by a
    single-runner loop), kept in the database, read by every node's panel and API
    (:meth:`status`)."""

    services: Services

    def verify(self) -> Verification:
        """The scheduled pass: end to end when the last full verification is older than
        ``full_verify_hours`` (or there is none), else the new events only."""
        full = self.services.store.latest_verifications().get("full")
        due = timedelta(hours=self.services.settings.full_verify_hours)
        if full is None or self.services.now() - full.at >= due:
            return self.verify_full()
        return self.verify_new()

    def verify_full(self) -> Verification:
        """Verify the ledger end to end and keep how it went in the database."""
        store = self.services.store
        result = store.verify_ledger()
        store.record_verification(result, at=self.services.now(), node=store.node_id)
        return result

    def verify_new(self) -> Verification:
        """Verify the events after the last verified head (after checking the head's hash) and
        keep how it went; ``count`` is how many events it read. Without a verified head yet,
        verify end to end."""
        store = self.services.store
        head = store.last_verified_head()
        if head is None:
            return self.verify_full()
        seq, hash_ = head
        result = store.verify_ledger_after(seq, hash_)
        store.record_verification(
            result, at=self.services.now(), node=store.node_id, kind="incremental", from_seq=seq
        )
        return result

    def status(self) -> dict[str, Any]:
        """The latest verifications by any node (empty until the first one ends): ``ok`` when
        the latest of each kind is; ``at`` (HH:MM), ``events`` (the head verified) and
        ``problem`` of the newest; ``incremental`` and ``full`` each kind's own."""
        found = self.services.store.latest_verifications()
        if not found:
            return {}
        newest = max(found.values(), key=lambda x: x.at)
        bad = [f for f in found.values() if not f.result.ok]
        shown = bad[0] if bad else newest
        return {
            "ok": not bad,
            "at": newest.at.astimezone(TZ).strftime("%H:%M"),
            "events": newest.result.head_seq,
            "problem": verification_status(shown.result, shown.at)["problem"],
            **{kind: _kind_status(found[kind]) if kind in found else None for kind in KINDS},
        }
