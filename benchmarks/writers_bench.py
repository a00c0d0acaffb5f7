"""SQLite writers of several processes (issue #21): the writers' queue against SQLite's busy
handler, on one database file.

Two processes (as ``gridmgr serve --workers 2``, or a server beside a CLI command), each with
four threads, write small transactions (``BEGIN IMMEDIATE``, one insert, commit with
``synchronous=FULL``) for :data:`SECONDS`, each thread pausing 2 ms between writes. The figure:
gridmgr's writers' queue (:class:`gridmgr.store.writers.SQLiteWriters`: a thread lock, then a
``flock`` shared by the processes). The anchor, same run: each process's threads queue on a
thread lock, and the processes meet on SQLite's lock, whose busy handler sleeps in growing
steps (what gridmgr did before). Figures: writes a second (both processes) and the latency of a
write, p50/p99/max; median over the repeats, the two kinds alternating.

Run alone: ``python -m benchmarks.writers_bench [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from benchmarks.common import Row, print_table

PROCESSES = 2
THREADS = 4
SECONDS = 3.0
PAUSE_S = 0.002


@dataclass(frozen=True)
class Writes:
    """What one run achieved: writes a second and latency percentiles (ms)."""

    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def _writer(path: str, queued: bool, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """One process: :data:`THREADS` threads writing for :data:`SECONDS`; puts the latencies."""
    from sqlalchemy import text

    from gridmgr.store.engine import make_engine, writing
    from gridmgr.store.writers import SQLiteWriters

    engine = make_engine(f"sqlite:///{path}")
    writer = writing(engine)
    writers = SQLiteWriters(path)
    threads_lock = threading.Lock()
    latencies: list[float] = []

    def turn() -> AbstractContextManager[object]:
        """The queue's turn, or (the anchor) this process's thread lock alone."""
        return writers.turn() if queued else threads_lock

    def run() -> None:
        mine = []
        end = time.perf_counter() + SECONDS
        while time.perf_counter() < end:
            began = time.perf_counter()
            with turn(), writer.begin() as conn:
                conn.execute(text("INSERT INTO writes(v) VALUES (1)"))
            mine.append(time.perf_counter() - began)
            time.sleep(PAUSE_S)
        with threads_lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    writers.close()
    out.put(latencies)


def one_run(queued: bool) -> Writes:
    """:data:`PROCESSES` processes writing to a fresh SQLite file at once."""
    from sqlalchemy import text

    from gridmgr.store.engine import make_engine, writing

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "writers.sqlite")
        engine = make_engine(f"sqlite:///{path}")
        with writing(engine).begin() as conn:
            conn.execute(text("CREATE TABLE writes (id INTEGER PRIMARY KEY, v INTEGER)"))
        engine.dispose()
        context = mp.get_context("spawn")  # fresh interpreters, as separate servers are
        out = context.Queue()
        procs = [
            context.Process(target=_writer, args=(path, queued, out)) for _ in range(PROCESSES)
        ]
        for p in procs:
            p.start()
        latencies = sorted(x for _ in procs for x in out.get(timeout=120))
        for p in procs:
            p.join(timeout=30)
    n = len(latencies)
    return Writes(
        n / SECONDS,
        1e3 * latencies[n // 2],
        1e3 * latencies[min(n - 1, int(n * 0.99))],
        1e3 * latencies[-1],
    )


def _median(runs: list[Writes]) -> Writes:
    return Writes(
        statistics.median(r.per_second for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        statistics.median(r.max_ms for r in runs),
    )


def run(*, repeats: int, console: Console) -> list[Row]:
    """The writers' queue beside SQLite's busy handler, alternating, ``repeats`` runs each."""
    queued_runs, busy_runs = [], []
    for i in range(repeats):
        console.print(f"writers: run {i + 1} of {repeats} (queue, then busy handler) ...")
        queued_runs.append(one_run(queued=True))
        busy_runs.append(one_run(queued=False))
    q, b = _median(queued_runs), _median(busy_runs)
    return [
        Row(
            f"SQLite writes from {PROCESSES} processes × {THREADS} threads at once "
            f"({SECONDS:.0f} s, synchronous=FULL; median of {repeats}): the writers' queue "
            "(gridmgr.store.writers)",
            f"{q.per_second:,.0f} writes/s; p50 {q.p50_ms:.1f} ms, p99 {q.p99_ms:.1f} ms, "
            f"max {q.max_ms:.0f} ms",
            "SQLite's busy handler between the processes (a thread lock within each)",
            f"{b.per_second:,.0f} writes/s; p50 {b.p50_ms:.1f} ms, p99 {b.p99_ms:.1f} ms, "
            f"max {b.max_ms:.0f} ms",
            f"p99 {q.p99_ms / b.p99_ms:.2f}x, {q.per_second / b.per_second:.2f}x writes/s",
            "p99 below the busy handler's",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.writers_bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    console = Console(width=170)
    print_table(console, run(repeats=args.repeats, console=console), "SQLite writers benchmark")


if __name__ == "__main__":
    main()
