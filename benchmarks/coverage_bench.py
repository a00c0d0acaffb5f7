"""City-wide patrol coverage: read from the per-day pixel bitmaps kept as points are stored,
against the exact computation (buffer, intersect and unite every track) over the same points,
in the same run (issue #21's budget: 7-day coverage of the 1,557 cells in ≤ 1 s).

A SQLite database gets :data:`DAYS` working days of walks in the shape the simulator makes
(each cell's worker out on about half the days, 50–150 minutes, a point every 90 s), stored a
day at a time through :func:`gridmgr.services.patrols.record_batches`, which also keeps the
bitmaps; the cost of keeping them is measured against storing the same points without them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from rich.console import Console

from benchmarks.common import Row, median_seconds, print_table
from gridmgr import Grid, load_grid
from gridmgr.patrols import patrol_coverage
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.demo_roster import generate_roster
from gridmgr.responsibility.roster import Roster, field_post
from gridmgr.services.patrols import kept_coverage, record_batches
from gridmgr.simulation.walks import walk_in_cell
from gridmgr.store import PatrolBatch, open_store

DAYS = 7
NOW = datetime(2026, 11, 9, 0, 0, tzinfo=TZ)  # a Monday: the seven days before it
BUDGET_S = 1.0


def day_of_walks(grid: Grid, roster: Roster, day: datetime, seed: int) -> list[PatrolBatch]:
    """Each cell's worker's walk on ``day`` (about half the cells)."""
    rng = np.random.default_rng([seed, day.toordinal()])
    leaves = grid.tier(3)
    batches = []
    for code, geom in zip(leaves["code"], leaves.geometry.values, strict=True):
        person = roster.owner(field_post(code), day)
        if person is None or rng.random() >= 0.5:
            continue
        start = day + timedelta(hours=float(rng.uniform(8.6, 15.0)))
        times, lon, lat = walk_in_cell(
            rng,
            geom,
            start=start,
            duration=timedelta(minutes=float(rng.uniform(50, 150))),
            every=timedelta(seconds=90),
            speed_mps=1.1,
        )
        batches.append(PatrolBatch(person.person_id, times, lon.tolist(), lat.tolist()))
    return batches


def run(*, repeats: int, console: Console) -> list[Row]:
    """Store a week of walks, then read 7-day city coverage both ways."""
    grid = load_grid()
    roster = generate_roster(grid)
    with TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'coverage.sqlite'}", create=True)
        plain = open_store(f"sqlite:///{Path(folder) / 'plain.sqlite'}", create=True)
        try:
            for s in (store, plain):
                s.sync_reference(
                    grid=grid, roster=roster, catalog=read_catalog(), at=NOW, actor="bench"
                )
            keep_s, plain_s, points = [], [], 0
            console.print(f"coverage: storing {DAYS} days of walks ...")
            for d in range(DAYS, 0, -1):
                day = NOW - timedelta(days=d)
                batches = day_of_walks(grid, roster, day, seed=21)
                points += sum(len(b.at) for b in batches)
                keep_s.append(
                    median_seconds(
                        lambda b=batches: record_batches(store, grid, b, at=NOW, actor="bench"),
                        1,
                    )
                )
                plain_s.append(
                    median_seconds(
                        lambda b=batches: plain.record_patrol_batches(b, at=NOW, actor="bench"),
                        1,
                    )
                )
            console.print("coverage: reading 7-day city coverage, kept and exact ...")
            kept = median_seconds(lambda: kept_coverage(store, grid, now=NOW, days=7), repeats)

            def exact() -> object:
                frame = store.patrol_points(since=NOW - timedelta(days=7), until=NOW)
                return patrol_coverage(grid, frame, now=NOW, days=7)

            exact_s = median_seconds(exact, 1)
            a = kept_coverage(store, grid, now=NOW, days=7).set_index("cell")
            b = patrol_coverage(
                grid,
                store.patrol_points(since=NOW - timedelta(days=7), until=NOW),
                now=NOW,
                days=7,
            ).set_index("cell")
            worst = float((a["coverage"] - b.loc[a.index, "coverage"]).abs().max())
        finally:
            store.close()
            plain.close()
    per_day = points / DAYS
    keep = float(np.median(keep_s))
    bare = float(np.median(plain_s))
    return [
        Row(
            f"city-wide patrol coverage, 7 days, {len(a)} cells, {points:,} points "
            "(read from the kept per-day 10 m bitmaps)",
            f"{kept * 1e3:,.0f} ms (largest difference from exact {100 * worst:.2f} points "
            "of coverage)",
            "exact: read the points, buffer, intersect and unite the tracks",
            f"{exact_s:,.1f} s",
            f"{exact_s / kept:,.0f}x faster",
            f"≤ {BUDGET_S:g} s",
        ),
        Row(
            f"store a day of walks ({per_day:,.0f} points) with its coverage bitmaps",
            f"{keep:.2f} s",
            "the same points stored without bitmaps",
            f"{bare:.2f} s",
            f"{keep / bare:.1f}x",
            "–",
        ),
    ]


def main() -> None:
    console = Console(width=170)
    print_table(console, run(repeats=5, console=console), "gridmgr patrol coverage")


if __name__ == "__main__":
    main()
