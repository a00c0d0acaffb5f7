"""Replay benchmark: the city at any moment of a 30-day ledger of a million events.

The ledger is a real store (SQLite, the current schema) holding 30 days of synthetic case
histories written straight into its table: 125,000 cases of 8 state changes each (report with
cell, deadline and holder; register, dispatch, accept, handle, verify, close; one case in ten
left open), payloads shaped as the store writes them, and one event in fifty stamped up to an
hour before it was appended, as catch-up escalations are. The replay snapshots are made once
(timed, as the scheduled checkpoint makes them), then the city is replayed at random moments of
the 30 days. Anchor, measured in the same run: the same replay from the ledger alone (every
event read and folded), as it ran before snapshots.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from benchmarks.common import Row
from gridmgr.ledger import format_time
from gridmgr.services.context import Services
from gridmgr.services.replay import fold_events, replay, take_snapshots
from gridmgr.settings import Settings
from gridmgr.store import open_store
from gridmgr.testing import tiny_context

DAYS = 30
CASES = 125_000
STEPS = ("reported", "registered", "dispatched", "accepted", "in_progress", "handled",
         "verified", "closed")  # fmt: skip
START = datetime(2026, 10, 1, tzinfo=UTC)
MOMENTS = 15
BUDGET = "replay a 30-day database to any moment ≤ 2 s"


def build_rows(seed: int = 3) -> list[tuple[object, ...]]:
    """About a million ledger rows of case histories (see the module docstring), in append
    order."""
    rng = random.Random(seed)
    span = DAYS * 86400
    events: list[tuple[float, float, int, int]] = []  # (appended, stamped, case, step)
    for case in range(CASES):
        t = rng.uniform(0, span - 3600)
        last = len(STEPS) - 1 if rng.random() < 0.1 else len(STEPS)
        for step in range(last):
            stamped = t
            appended = t + (rng.uniform(0, 3600) if rng.random() < 0.02 else 0.0)
            events.append((appended, stamped, case, step))
            t += rng.expovariate(1 / 5400)
    events.sort()
    rows: list[tuple[object, ...]] = []
    for seq, (_, stamped, case, step) in enumerate(events, start=1):
        at = START + timedelta(seconds=stamped)
        details: dict[str, object] = {
            "holder": {"person_id": f"P{case % 1557:05d}", "name": "王网格"},
            "due_at": (at + timedelta(hours=4)).isoformat(),
            "comment": "已到场处置，拍照留存",
        }
        if step == 0:
            details["cell"] = f"320281{case % 17 + 1:03d}{case % 13 + 1:03d}{case % 11 + 1:03d}"
        payload = json.dumps(
            {"from_state": STEPS[step - 1] if step else None, "to_state": STEPS[step],
             "details": details},
            ensure_ascii=False, separators=(",", ":"), sort_keys=True,
        )  # fmt: skip
        digest = hashlib.sha256(seq.to_bytes(8, "big")).hexdigest()
        rows.append(
            (seq, format_time(at), f"case.{STEPS[step]}", "P1", f"case:C{case:07d}", payload,
             "0" * 64, digest)
        )  # fmt: skip
    return rows


def run(*, repeats: int, console: Console) -> list[Row]:
    """Measure replay with snapshots against replay from the ledger alone."""
    console.print(f"replay: writing {DAYS} days of case histories into a SQLite store ...")
    rows = build_rows()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gridmgr.sqlite"
        open_store(f"sqlite:///{path}", create=True).close()
        db = sqlite3.connect(path)
        with db:
            db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.close()
        store = open_store(f"sqlite:///{path}")
        services = Services(store, tiny_context(), Settings(data_dir=Path(tmp)))
        try:
            t = time.perf_counter()
            made = take_snapshots(services)
            snapshots_s = time.perf_counter() - t
            rng = random.Random(5)
            moments = [
                START + timedelta(seconds=rng.uniform(0, DAYS * 86400)) for _ in range(MOMENTS)
            ]
            truth = moments[len(moments) // 2]
            alone = fold_events(store.ledger_events(), truth)
            if replay(services, truth).open_cases() != alone.open_cases():
                raise RuntimeError("replay from snapshots differs from the ledger's fold")
            times = []
            for _ in range(repeats):
                for moment in moments:
                    t = time.perf_counter()
                    replay(services, moment)
                    times.append(time.perf_counter() - t)
            anchor = []
            for _ in range(max(1, repeats // 3)):
                t = time.perf_counter()
                fold_events(store.ledger_events(), truth)
                anchor.append(time.perf_counter() - t)
        finally:
            store.close()
    console.print(
        f"replay: {len(rows):,} events; {made} snapshots made in {snapshots_s:.1f} s (once, by "
        "the scheduled checkpoint)"
    )
    median, worst, anchor_s = statistics.median(times), max(times), statistics.median(anchor)
    return [
        Row(
            f"replay to a moment of {DAYS} days, {len(rows):,} events (SQLite, snapshots)",
            f"{median:.2f} s median, {worst:.2f} s max",
            "the same replay from the ledger alone",
            f"{anchor_s:.2f} s",
            f"{median / anchor_s:.2f}x",
            BUDGET,
        )
    ]


if __name__ == "__main__":
    from benchmarks.common import print_table

    console = Console(width=170)
    print_table(console, run(repeats=3, console=console), "Replay benchmark (medians)")
