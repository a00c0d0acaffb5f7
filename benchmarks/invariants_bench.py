"""The "nothing escapes the grid" check on a 30-day database: each line one query over the open
cases (issue #15's budget: the invariant queries p50 ≤ 50 ms, on SQLite and on PostgreSQL).

The database holds 30,000 cases over 30 days in the shape ``gridmgr simulate --days 30`` leaves
(a little over a thousand a day; the cases of the last days open, in every open state, a few
overdue and on a rung of the ladder, a few in the out-of-grid and unlocated queues). It is written
in bulk — ``gridmgr simulate --days 30`` takes minutes (issue #21) — with the rows the store
itself writes (:func:`gridmgr.store.casestore.case_to_row`).

Anchor: one ``SELECT count(*)`` of the open cases, the least any check over them costs, in the
same database and run. PostgreSQL is measured when ``GRIDMGR_BENCH_PG_URL`` (else
``GRIDMGR_TEST_PG_URL``) is set, in a fresh schema dropped afterwards.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from rich.console import Console
from sqlalchemy import create_engine, func, insert, select

from benchmarks.common import Row, print_table
from benchmarks.store_bench import pg_backend, pg_problem, pg_url_from_env
from gridmgr import load_grid
from gridmgr.cases import Assignee, Case, CaseState, stage_of
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.invariants import ESCALATION_GRACE
from gridmgr.store import open_store
from gridmgr.store.casestore import OPEN_STATES, case_to_row
from gridmgr.store.schema import cases

N_CASES = 30_000
DAYS = 30
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=TZ)
BUDGET_MS = 50.0
_OPEN_MIX = [  # (state, share of the open cases) as in a simulated month
    (CaseState.REPORTED, 0.02),
    (CaseState.REGISTERED, 0.02),
    (CaseState.RETURNED, 0.005),
    (CaseState.DISPATCHED, 0.06),
    (CaseState.ACCEPTED, 0.02),
    (CaseState.IN_PROGRESS, 0.55),
    (CaseState.HANDLED, 0.3),
    (CaseState.VERIFIED, 0.025),
]


def month_of_cases(codes: list[str], seed: int = 15) -> Iterator[dict[str, object]]:
    """The rows of :data:`N_CASES` cases over :data:`DAYS` days before :data:`NOW`."""
    rng = random.Random(seed)
    states, weights = zip(*_OPEN_MIX, strict=True)
    operator = Assignee("P00990", "operator:", "值班员")
    for number in range(1, N_CASES + 1):
        reported = NOW - timedelta(days=DAYS) * (1 - number / N_CASES)
        age = NOW - reported
        still_open = age < timedelta(days=2) or rng.random() < 0.01
        state = rng.choices(states, weights)[0] if still_open else CaseState.CLOSED
        cell = rng.choice(codes)
        queue = "cell"
        lon: float | None = 120.2 + rng.random() * 0.1
        if state is CaseState.REPORTED and rng.random() < 0.1:
            cell, queue = None, "out_of_grid"
        elif state is CaseState.REPORTED and rng.random() < 0.1:
            cell, queue, lon = None, "unlocated", None
        worker = Assignee(f"P{number % 1557:05d}", f"grid_worker:{cell}", "网格员")
        case = Case(
            case_id=f"{number:032x}",
            category="street_vending",
            state=state,
            reported_at=reported,
            updated_at=reported + min(age / 2, timedelta(hours=20)),
            reporter="bench",
            description="巡查发现路口占道经营",
            generation_id="bench",
            lon=lon,
            lat=None if lon is None else 31.8,
            cell=cell,
        )
        stage = stage_of(case)
        field = state in (CaseState.DISPATCHED, CaseState.ACCEPTED, CaseState.IN_PROGRESS)
        late = rng.random() < 0.03
        due = NOW + timedelta(hours=rng.uniform(0.2, 20)) if not late else NOW - timedelta(hours=1)
        rung = 1 if late and rng.random() < 0.9 else 0
        desk = state in (CaseState.REPORTED, CaseState.REGISTERED)
        row = case_to_row(
            replace(
                case,
                assignee=None if desk else worker,
                holder=None if stage is None else (worker if field else operator),
                stage=stage,
                stage_started_at=None if stage is None else case.updated_at,
                due_at=None if stage is None else due,
                rung=rung if stage is not None else 0,
                card="yellow" if rung and stage is not None else None,
                version=3,
            )
        )
        row.update(
            number=number,
            queue=queue,
            tier1=None if cell is None else cell[:9],
            tier2=None if cell is None else cell[:12],
        )
        yield row


def fill(url: str) -> int:
    """Create the schema at ``url`` and write the month of cases; the number of open cases."""
    open_store(url, create=True).close()
    codes = list(load_grid().codes(3))
    engine = create_engine(url)
    try:
        rows = list(month_of_cases(codes))
        with engine.begin() as conn:
            for start in range(0, len(rows), 2000):
                conn.execute(insert(cases), rows[start : start + 2000])
        with engine.connect() as conn:
            count = select(func.count()).where(cases.c.state.in_(OPEN_STATES))
            return int(conn.execute(count).scalar_one())
    finally:
        engine.dispose()


def p50_ms(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2]


def measure(label: str, url: str, repeats: int) -> list[Row]:
    """The rows of one backend."""
    n_open = fill(url)
    store = open_store(url)
    engine = create_engine(url)
    try:
        count = select(func.count()).select_from(cases).where(cases.c.state.in_(OPEN_STATES))

        def anchor() -> None:
            with engine.connect() as conn:
                conn.execute(count).scalar_one()

        def lines() -> None:
            found = store.invariant_counts(NOW, grace=ESCALATION_GRACE, first=5)
            assert found["escalated"].count > 0  # the month holds late stages: real work

        for warm in (anchor, lines):
            warm()
        a = p50_ms(anchor, repeats * 3)
        f = p50_ms(lines, repeats * 3)
    finally:
        engine.dispose()
        store.close()
    what = f"{label}: invariant queries (4 lines, {N_CASES:,} cases, {n_open:,} open)"
    return [
        Row(
            what,
            f"{f:.1f} ms p50",
            "SELECT count(*) of the open cases",
            f"{a:.2f} ms",
            f"{f / a:.1f}×",
            f"≤ {BUDGET_MS:.0f} ms: {'met' if f <= BUDGET_MS else 'NOT met'}",
        )
    ]


@contextmanager
def _sqlite_url() -> Iterator[str]:
    with TemporaryDirectory(prefix="gridmgr-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'month.sqlite'}"


def run(*, repeats: int, console: Console) -> list[Row]:
    """Measure the invariant queries on SQLite and (when configured) PostgreSQL."""
    rows: list[Row] = []
    with console.status("invariants: a month of cases on SQLite …"), _sqlite_url() as url:
        rows += measure("SQLite", url, repeats)
    found = pg_url_from_env()
    if found is None:
        rows.append(
            Row(
                "PostgreSQL: invariant queries",
                "not measured",
                "set GRIDMGR_BENCH_PG_URL",
                "-",
                "-",
                "-",
            )
        )
        return rows
    problem = pg_problem(found[0])
    if problem is not None:
        rows.append(Row("PostgreSQL: invariant queries", "not measured", problem, "-", "-", "-"))
        return rows
    backend = pg_backend(found[0])
    try:
        with console.status("invariants: a month of cases on PostgreSQL …"):
            rows += measure("PostgreSQL", backend.fresh_url("invariants"), repeats)
    finally:
        backend.cleanup()
    return rows


if __name__ == "__main__":
    console = Console(width=170)
    print_table(console, run(repeats=7, console=console), "invariant check (medians)")
