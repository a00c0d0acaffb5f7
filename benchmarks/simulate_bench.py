"""History, fast (issue #21): a simulated weekday of the Jiangyin grid, as ``gridmgr simulate``
writes it, with and without the batch apply.

The figure: the CPU time (``time.process_time``) of one simulated day — 2026-11-02, a Monday,
seed 2026, ≈ 1,000 reports and their whole case loop, the grid workers' walks — advanced hour by
hour, each :data:`~gridmgr.cli.simulate.BATCH_HOURS` hours one ``Store.batch`` (reports and
actions held back and written per table, :mod:`gridmgr.store.pending`), exactly as
``gridmgr simulate`` at full speed does. The anchor,
same run: the same day written change by change (every report and action its own transaction, as
a live server writes them), on a fresh SQLite file each. Both must end on the same ledger head —
the benchmark refuses to print figures for two histories that differ. Start-up (the grid, the
roster, the reference data) is left out of both and printed beside them; the budget is 30 days in
≤ 2 minutes, so the row also gives the month the day's figure projects to.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from rich.console import Console

from benchmarks.common import Row, print_table
from gridmgr.cli.simulate import BATCH_HOURS
from gridmgr.responsibility.calendar import TZ

DAY = datetime(2026, 11, 2, tzinfo=TZ)
SEED = 2026
BUDGET_S = 120.0  # 30 days


def one_day(folder: Path, *, batched: bool) -> tuple[float, float, int, str]:
    """Simulate :data:`DAY` into a fresh SQLite file in ``folder``: (start-up CPU seconds, the
    day's CPU seconds, ledger head seq, head hash)."""
    from gridmgr.datafiles import routing_context
    from gridmgr.grid.generations import load_current_grid
    from gridmgr.services.reference import sync_reference
    from gridmgr.services.simulator import SIMULATOR_ACTOR, Simulator, mark_database
    from gridmgr.settings import Settings
    from gridmgr.simulation.activity import ActivityModel
    from gridmgr.store import open_store

    began = time.process_time()
    settings = Settings.from_env(data_dir=folder)
    grid = load_current_grid(settings)
    context = routing_context(settings, grid).warm()
    name = "batched" if batched else "single"
    store = open_store(f"sqlite:///{folder / name}.sqlite", create=True)
    try:
        details = {"seed": SEED, "days": 1, "per_day": 1000.0, "end": DAY.isoformat()}
        sync_reference(store, grid=grid, context=context, at=DAY, actor=SIMULATOR_ACTOR)
        mark_database(store, at=DAY, details=details)
        sim = Simulator(
            store, context, seed=SEED, start=DAY, model=ActivityModel(reports_per_day=1000.0)
        )
        ready = time.process_time()
        for first in range(0, 24, BATCH_HOURS):
            with store.batch() if batched else nullcontext():
                for hour in range(first + 1, min(first + BATCH_HOURS, 24) + 1):
                    sim.advance(DAY + timedelta(hours=hour))
        sim.flush()
        done = time.process_time()
        head = store.ledger_head()
    finally:
        store.close()
    assert head is not None
    return ready - began, done - ready, head.seq, head.hash


def run(*, repeats: int, console: Console) -> list[Row]:
    """The simulated weekday's CPU with the batch apply, beside the same day change by change."""
    del repeats  # one day each: a day is its own median of 24 hours, and takes a minute
    with TemporaryDirectory() as folder:
        console.print(f"simulate: one weekday in {BATCH_HOURS}-hour batches ...")
        start_b, day_b, seq_b, hash_b = one_day(Path(folder), batched=True)
        console.print("simulate: the same weekday change by change ...")
        start_s, day_s, seq_s, hash_s = one_day(Path(folder), batched=False)
    if (seq_b, hash_b) != (seq_s, hash_s):
        raise RuntimeError(
            f"the batched day ended on seq {seq_b} {hash_b[:12]}, change by change on seq "
            f"{seq_s} {hash_s[:12]}: the batch apply changed the history"
        )
    month = 30 * day_b + start_b
    return [
        Row(
            f"a simulated weekday (2026-11-02, seed {SEED}, ≈ 1,000 reports, walks) in "
            f"{BATCH_HOURS}-hour batches, CPU; same ledger in both: seq {seq_b}, {hash_b[:12]}…",
            f"{day_b:.1f} s (+ {start_b:.1f} s start-up); 30 days ≈ {month / 60:.1f} min",
            "the same day change by change (each change its own transaction), CPU",
            f"{day_s:.1f} s (+ {start_s:.1f} s start-up)",
            f"{day_b / day_s:.2f}x",
            f"30 days ≤ {BUDGET_S / 60:.0f} min: {'✔' if month <= BUDGET_S else '✘'}",
        )
    ]


def main() -> None:
    console = Console()
    print_table(console, run(repeats=1, console=console), "gridmgr simulate benchmark")


if __name__ == "__main__":
    main()
