"""The monthly assessment (考核): a month's scorecard of the 1,557 cells, their workers, the 271
communities and the 17 towns on a simulated database, against reading the month's case facts
alone, in the same run (issue #22's budget: ≤ 5 s for a 30-day month).

The database is ``GRIDMGR_BENCH_ASSESS_DB`` when set (e.g. ``gridmgr simulate --days 30 --end
"2026-12-01 00:00" --db month.sqlite``); otherwise :data:`DAYS` days of November are simulated
here first (the simulator writes about a day a minute on two shared cores, so a whole month
would take half an hour).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from rich.console import Console

from benchmarks.common import Row, median_seconds, print_table
from gridmgr import load_grid
from gridmgr.responsibility.calendar import TZ, WorkCalendar
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.demo_roster import generate_roster
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.services.assessments import compute_month, month_bounds
from gridmgr.services.context import Services
from gridmgr.settings import Settings
from gridmgr.store import Store, open_store

MONTH = "2026-11"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)  # the month is over: it is scored whole
DAYS = 7
BUDGET_S = 5.0
DB_ENV = "GRIDMGR_BENCH_ASSESS_DB"


def simulate(store: Store, context: RoutingContext, *, days: int, console: Console) -> None:
    """``days`` simulated days ending with November (an hour a transaction, as `simulate`)."""
    from gridmgr.services.simulator import Simulator, mark_database

    end = datetime(2026, 12, 1, 0, 0, tzinfo=TZ)
    start = end - timedelta(days=days)
    store.sync_reference(grid=context.grid, roster=context.roster, catalog=context.catalog,
                         at=start, actor="system:simulator")  # fmt: skip
    mark_database(store, at=start, details={"seed": 2026, "days": days, "bench": "assess"})
    sim = Simulator(store, context, seed=2026, start=start)
    t = start
    with console.status(f"simulating {days} days of the city"):
        while t < end:
            t = min(end, t + timedelta(hours=1))
            with store.batch():
                sim.advance(t)
        with store.batch():
            sim.flush()


def run(*, repeats: int, console: Console) -> list[Row]:
    """A month's scorecard (:func:`compute_month`) and the month's case facts, medians."""
    grid = load_grid()
    roster = generate_roster(grid, seed=2026)
    context = RoutingContext(grid, roster, read_catalog(), WorkCalendar())
    repeats = max(3, min(repeats, 5))
    with TemporaryDirectory() as tmp:
        given = os.environ.get(DB_ENV)
        url = f"sqlite:///{given}" if given else f"sqlite:///{Path(tmp) / 'month.sqlite'}"
        store = open_store(url, create=True)
        try:
            if not given:
                simulate(store, context, days=DAYS, console=console)
            services = Services(store, context, Settings(data_dir=Path(tmp)), clock=lambda: NOW)
            start, end = month_bounds(MONTH)
            facts = store.case_facts(since=start, until=end)
            points = store.patrol_points(since=start, until=end)
            days = (facts["reported_at"].max() - facts["reported_at"].min()).days + 1
            compute_month(services, MONTH)  # warm: caches, the kept coverage's first build
            card = median_seconds(lambda: compute_month(services, MONTH), repeats)
            read = median_seconds(lambda: store.case_facts(since=start, until=end), repeats)
        finally:
            store.close()
    what = (
        f"a month's 考核 scorecard, 1,557 cells ({days} simulated days: {len(facts):,} cases, "
        f"{len(points):,} patrol points)"
    )
    ok = "✔" if card <= BUDGET_S else "✘"
    return [
        Row(
            what,
            f"{card:.2f} s",
            "the month's case facts read alone",
            f"{read:.2f} s",
            f"{card / read:.1f}×",
            f"≤ {BUDGET_S:.0f} s {ok}",
        ),
    ]


if __name__ == "__main__":
    console = Console(width=170)
    print_table(console, run(repeats=3, console=console), "assessment benchmark")
