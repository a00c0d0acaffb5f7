"""Merkle proof benchmarks at one million ledger events.

The ledger is a real store (SQLite, the current schema) with a million valid events written
straight into its table; the Merkle cache is filled once (timed too), then proofs for random
events are asked of the store: an in-process call of the store's method, as the API's handler
makes it (HTTP adds its own request cost, measured by ``python -m benchmarks http``). The first
proof loads the tree's upper levels into memory; the figure is the median over rounds of 500
proofs. Anchor, measured in the same run: reading one ledger event by its sequence number
through the same store, the cheapest read a proof could be. Replay has its own benchmark
(``python -m benchmarks replay``).
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console

from benchmarks.common import Row
from benchmarks.ledger_bench import build_rows
from gridmgr.ledger.merkle import event_leaf, verify_inclusion
from gridmgr.store import open_store

N_EVENTS = 1_000_000
PROOFS = 500
BUDGET = "a proof at 1 M events ≤ 1 ms"


def _per_call(fn: object, args: list[int], repeats: int) -> float:
    """The median over ``repeats`` rounds of the mean time of one call over ``args``."""
    rounds = []
    for _ in range(repeats):
        t = time.perf_counter()
        for a in args:
            fn(a)  # type: ignore[operator]
        rounds.append((time.perf_counter() - t) / len(args))
    return statistics.median(rounds)


def run(*, repeats: int, console: Console) -> list[Row]:
    """Measure the Merkle figures."""
    console.print(f"merkle: building {N_EVENTS:,} ledger events in a SQLite store ...")
    rows, _ = build_rows(N_EVENTS)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gridmgr.sqlite"
        open_store(f"sqlite:///{path}", create=True).close()
        db = sqlite3.connect(path)
        with db:
            db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.close()
        store = open_store(f"sqlite:///{path}")
        try:
            t = time.perf_counter()
            store.warm_merkle_cache()  # as the scheduled checkpoint does
            fill_s = time.perf_counter() - t
            store.forget_merkle_levels()  # as a restarted server: loaded from the cache table
            t = time.perf_counter()
            size, root = store.merkle_root()
            load_s = time.perf_counter() - t
            seqs = random.Random(7).sample(range(1, N_EVENTS + 1), PROOFS)
            proof = store.inclusion_proof(seqs[0])
            path_ = [bytes.fromhex(h) for h in proof.path]
            if not verify_inclusion(
                seqs[0] - 1, size, event_leaf(rows[seqs[0] - 1][7]), path_, root
            ):
                raise RuntimeError("the benchmark's inclusion proof does not verify")
            proof_s = _per_call(store.inclusion_proof, seqs, repeats)
            firsts = [s for s in seqs if s < size]
            consistency_s = _per_call(store.consistency_proof, firsts, repeats)
            read_s = _per_call(store.ledger_event, seqs, repeats)
        finally:
            store.close()
    console.print(
        f"merkle: the cache of {N_EVENTS:,} events filled in {fill_s:.1f} s (once, by the "
        f"scheduled checkpoint); its upper levels loaded into memory in {load_s:.2f} s"
    )
    anchor = "one ledger event by seq, same store"
    return [
        Row(
            f"inclusion proof at {N_EVENTS:,} events (SQLite store)",
            f"{proof_s * 1e3:.2f} ms/proof",
            anchor,
            f"{read_s * 1e3:.3f} ms",
            f"{proof_s / read_s:.1f}x",
            BUDGET,
        ),
        Row(
            f"consistency proof at {N_EVENTS:,} events (SQLite store)",
            f"{consistency_s * 1e3:.2f} ms/proof",
            anchor,
            f"{read_s * 1e3:.3f} ms",
            f"{consistency_s / read_s:.1f}x",
            BUDGET,
        ),
    ]


if __name__ == "__main__":
    from benchmarks.common import print_table

    console = Console(width=170)
    print_table(console, run(repeats=3, console=console), "Merkle proof benchmarks (medians of 3)")
