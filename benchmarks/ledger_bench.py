"""Ledger benchmarks: verifying a one-million-event hash chain, in memory and read from SQLite.

Anchor, measured in the same run: ``hashlib.sha256(...).hexdigest()`` over the same canonical
bytes with no checks at all, the floor any verifier of this format pays.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from benchmarks.common import Row, median_seconds
from gridmgr.ledger import GENESIS_HASH, canonical_json, format_time, verify_chain

N_EVENTS = 1_000_000
KINDS = ("case.reported", "case.registered", "case.dispatched", "case.escalated", "case.closed")
ACTORS = ("person:320281001002003-01", "system:escalator", "apikey:3f2a", "person:王小明")
BUDGET = "≥ 1 M events in ≤ 10 s (with storage)"

LedgerRow = tuple[int, str, str, str, str, str, str, str]


def build_rows(n: int) -> tuple[list[LedgerRow], list[bytes]]:
    """``n`` valid ledger rows and, for each, the canonical bytes its hash is taken over.

    Hashes are computed with ``json.dumps`` directly (not with gridmgr), so a verified chain also
    cross-checks the two encodings.
    """
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    payloads = [
        canonical_json(
            {
                "cell": f"320281{i % 17 + 1:03d}{i % 13 + 1:03d}{i % 11 + 1:03d}",
                "category": "street_vending",
                "comment": f"第{i}号：占道经营，已通知网格员到场处置",
                "deadline": start + timedelta(hours=i),
            }
        )
        for i in range(1000)
    ]
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    sha256 = hashlib.sha256
    rows: list[LedgerRow] = []
    data: list[bytes] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        at = format_time(start + timedelta(milliseconds=seq * 250))
        kind, actor = KINDS[seq % 5], ACTORS[seq % 4]
        subject, payload = f"case:{seq * 2654435761 % 2**32:08x}", payloads[seq % 1000]
        raw = encoder.encode([seq, at, kind, actor, subject, payload, prev]).encode()
        digest = sha256(raw).hexdigest()
        rows.append((seq, at, kind, actor, subject, payload, prev, digest))
        data.append(raw)
        prev = digest
    return rows, data


def hash_only(data: list[bytes]) -> None:
    """The anchor: hash every event's bytes, check nothing."""
    sha256 = hashlib.sha256
    for raw in data:
        sha256(raw).hexdigest()


def _sqlite_row(rows: list[LedgerRow], repeats: int) -> Row:
    """Verify the rows read back from a temporary SQLite file, beside the bare read."""
    head = rows[-1][7]
    select = (
        "SELECT seq, at, kind, actor, subject, payload, prev_hash, hash FROM ledger ORDER BY seq"
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "ledger.sqlite")
        try:
            db.execute(
                "CREATE TABLE ledger (seq INTEGER PRIMARY KEY, at TEXT NOT NULL,"
                " kind TEXT NOT NULL, actor TEXT NOT NULL, subject TEXT NOT NULL,"
                " payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)"
            )
            with db:
                db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

            def verify_sqlite() -> None:
                result = verify_chain(db.execute(select))
                if not (result.ok and result.head_hash == head):
                    raise RuntimeError(f"benchmark ledger did not verify: {result}")

            def read_only() -> None:
                for _ in db.execute(select):
                    pass

            verify_s = median_seconds(verify_sqlite, repeats)
            read_s = median_seconds(read_only, repeats)
        finally:
            db.close()
    return Row(
        f"verify_chain, {len(rows):,} events read from SQLite (sqlite3 cursor)",
        f"{len(rows) / verify_s / 1e3:,.0f} k events/s ({verify_s:.2f} s)",
        "reading the same rows from SQLite, no checks",
        f"{len(rows) / read_s / 1e3:,.0f} k events/s ({read_s:.2f} s)",
        f"{verify_s / read_s:.1f}x the read alone",
        BUDGET,
    )


def run(*, repeats: int, console: Console) -> list[Row]:
    """Measure the ledger figures."""
    console.print(f"ledger: building {N_EVENTS:,} events ...")
    rows, data = build_rows(N_EVENTS)
    head = rows[-1][7]

    def verify_memory() -> None:
        result = verify_chain(rows)
        if not (result.ok and result.head_hash == head):
            raise RuntimeError(f"benchmark ledger did not verify: {result}")

    verify_s = median_seconds(verify_memory, repeats)
    anchor_s = median_seconds(lambda: hash_only(data), repeats)
    memory = Row(
        f"verify_chain, {N_EVENTS:,} events in memory (tuples)",
        f"{N_EVENTS / verify_s / 1e3:,.0f} k events/s ({verify_s:.2f} s)",
        "hashlib.sha256 over the same canonical bytes, no checks",
        f"{N_EVENTS / anchor_s / 1e3:,.0f} k events/s ({anchor_s:.2f} s)",
        f"{verify_s / anchor_s:.1f}x the hashing floor",
        BUDGET,
    )
    data.clear()
    console.print("ledger: the same events read back from a temporary SQLite file ...")
    return [memory, _sqlite_row(rows, repeats)]


if __name__ == "__main__":
    from benchmarks.common import print_table

    console = Console(width=170)
    print_table(console, run(repeats=3, console=console), "ledger benchmarks (medians of 3)")
