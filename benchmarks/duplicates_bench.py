"""Duplicate lookup: what :func:`gridmgr.services.triage.find_duplicates` adds to a report.

100,000 open cases (every catalog category, reported over the last three days, uniform over the
Jiangyin territory) are loaded into a fresh SQLite store; then reports are made one at a time
at random points, each followed by its duplicate lookup. The anchor, measured in the same run,
is the report itself (:func:`gridmgr.services.report_incident`: routing, the durable
transaction with its ledger event). Budget: the lookup adds ≤ 2 ms at p99.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from rich.console import Console

from benchmarks.common import Row
from benchmarks.grid_bench import benchmark_points
from gridmgr import load_grid
from gridmgr.cases import Actor, Case, CaseState, Role
from gridmgr.responsibility.calendar import TZ, WorkCalendar
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.demo_roster import generate_roster
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.services.reports import report_incident
from gridmgr.services.triage import find_duplicates
from gridmgr.store import open_store

OPEN_CASES = 100_000
BUDGET_P99_MS = 2.0


def load_open_cases(
    url: str, lon: np.ndarray, lat: np.ndarray, codes: list[str], *, now: datetime
) -> None:
    """Insert open cases in bulk (benchmark set-up: no events, no ledger)."""
    rng = np.random.default_rng(11)
    ages = rng.uniform(0, 3 * 24 * 3600, len(lon))

    def bare_cases() -> Iterator[tuple[Case, str, str]]:
        for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
            at = now - timedelta(seconds=float(ages[i]))
            case = Case(
                case_id=secrets.token_hex(16),
                category=codes[i % len(codes)],
                state=CaseState.REGISTERED,
                reported_at=at,
                updated_at=at,
                reporter=f"P{i % 5000:05d}",
                description="路灯不亮，晚上很黑" if i % 2 else "井盖缺失，有人摔倒",
                generation_id="bench",
                lon=x,
                lat=y,
                version=1,
            )
            yield case, "cell", "hotline" if i % 3 else "grid_worker"

    store = open_store(url, create=True)
    try:
        store.insert_bare_cases_for_benchmarks(bare_cases())
    finally:
        store.close()


def run(*, repeats: int, console: Console) -> list[Row]:
    """Measure the lookup's added p99 beside the report's own."""
    grid = load_grid()
    console.print(f"duplicates: {OPEN_CASES:,} open cases ...")
    context = RoutingContext(grid, generate_roster(grid), read_catalog(), WorkCalendar())
    codes = list(context.catalog.codes)
    now = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
    lon, lat = benchmark_points(grid, OPEN_CASES, seed=3)
    n_reports = 300 * max(1, repeats)
    qlon, qlat = benchmark_points(grid, n_reports, seed=4)
    reporter = Actor("P00001", Role.WORKER)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'dups.sqlite'}"
        load_open_cases(url, lon, lat, codes, now=now)
        store = open_store(url)
        try:
            report_ns, lookup_ns, found = [], [], 0
            for i, (x, y) in enumerate(zip(qlon.tolist(), qlat.tolist(), strict=True)):
                at = now + timedelta(seconds=i)
                t0 = time.perf_counter_ns()
                reported = report_incident(
                    store,
                    context,
                    reporter=reporter,
                    category=codes[i % len(codes)],
                    at=at,
                    description="路灯不亮",
                    lon=x,
                    lat=y,
                )
                t1 = time.perf_counter_ns()
                found += len(find_duplicates(store, context, reported.case))
                t2 = time.perf_counter_ns()
                report_ns.append(t1 - t0)
                lookup_ns.append(t2 - t1)
        finally:
            store.close()
    # the first calls warm caches (compiled statements, page cache): leave out the first 20
    r50, r99 = np.percentile(report_ns[20:], [50, 99]) / 1e6
    l50, l99 = np.percentile(lookup_ns[20:], [50, 99]) / 1e6
    return [
        Row(
            f"duplicate lookup after a report, {OPEN_CASES:,} open cases (SQLite; "
            f"{found} suggestions in {n_reports} reports)",
            f"p50 {l50:.2f} ms, p99 {l99:.2f} ms",
            "report_incident itself (durable, with ledger)",
            f"p50 {r50:.2f} ms, p99 {r99:.2f} ms",
            f"+{l99 / r99:.0%} at p99",
            f"≤ {BUDGET_P99_MS:g} ms p99 added",
        )
    ]


if __name__ == "__main__":
    from benchmarks.common import print_table

    out = Console(width=170)
    print_table(out, run(repeats=3, console=out), "duplicate lookup")
