"""Store benchmarks: durable report ingest through the service layer, and verifying the ledger
read back from the database — on SQLite and, when a server is named, on PostgreSQL.

Ingest: :func:`gridmgr.services.report_incident` over the real Jiangyin grid and demo roster,
one report per transaction (the case, its event and its ledger event, fsync'd), first from one
thread, then from four threads sharing the store. Each phase runs in ``repeats`` blocks, and
just before each block the anchor is timed: the raw commit rate of the same database (one tiny
INSERT + COMMIT per row, stdlib ``sqlite3`` in WAL with ``synchronous=FULL`` in the same
temporary folder; ``psycopg`` with autocommit off). Rates and ratios are medians over the
blocks (each block's ratio is taken against its own anchor, so machine noise mostly cancels);
p50/p99 are over every report of the phase.

Ledger: a fresh database filled with ``GRIDMGR_BENCH_LEDGER_EVENTS`` (default 1,000,000) valid
events (hashed with :func:`gridmgr.ledger.event_hash`, bulk-inserted), then
:meth:`gridmgr.store.Store.verify_ledger`. Anchor: a plain ``SELECT * FROM ledger ORDER BY seq``
read of the same rows through the bare driver.

PostgreSQL is measured when ``GRIDMGR_BENCH_PG_URL`` (else ``GRIDMGR_TEST_PG_URL``) holds a
SQLAlchemy URL (``postgresql+psycopg://…``); every run works in fresh schemas it drops after.

Run alone: ``python -m benchmarks.store_bench [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import cycle
from pathlib import Path

import numpy as np
from rich.console import Console

from benchmarks.common import Row, median_seconds, print_table
from benchmarks.grid_bench import benchmark_points
from gridmgr import load_grid
from gridmgr.cases import Actor, Role
from gridmgr.ledger import GENESIS_HASH, event_hash, format_time
from gridmgr.responsibility.calendar import TZ, WorkCalendar
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.demo_roster import generate_roster
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.services.reports import Ingestor, report_incident
from gridmgr.store import Store, open_store

PG_ENVS = ("GRIDMGR_BENCH_PG_URL", "GRIDMGR_TEST_PG_URL")
LEDGER_EVENTS_ENV = "GRIDMGR_BENCH_LEDGER_EVENTS"
N_REPORTS = 2000
"""Reports timed per phase (sequential, then concurrent)."""
N_WARMUP = 50
N_THREADS = 4
N_GROUP_CLIENTS = 16
N_ANCHOR_COMMITS = 500
"""Raw commits timed just before each block of reports (the anchor of that block)."""
MAX_VERIFY_REPEATS = 3
"""Verifying a million events takes seconds: the median of at most this many runs."""
INSERT_BATCH = 100_000
INGEST_BUDGET = "≥ 1,000 reports/s, p99 ≤ 50 ms"
LEDGER_BUDGET = "≥ 1 M events in ≤ 10 s"
REPORTER = Actor("P01987", Role.OPERATOR)

LedgerRow = tuple[int, str, str, str, str, str, str, str]
Sample = tuple[str, str, str, str]  # kind, actor, subject, payload


# -------------------------------------------------------------------------- databases --
@dataclass
class Backend:
    """One database to measure: its name, how to make a fresh store, how to time raw commits."""

    name: str
    fresh_url: Callable[[str], str]
    raw_commits: Callable[[int], float]
    """Commits per second of ``n`` tiny one-row transactions."""
    bulk_insert: Callable[[str, Sequence[LedgerRow]], None]
    plain_read: Callable[[str], int]
    """Read every ledger row of the database at the URL; returns the row count."""
    cleanup: Callable[[], None]


def pg_url_from_env() -> tuple[str, str] | None:
    """(URL, the variable it came from), or ``None`` when neither variable is set."""
    for name in PG_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value, name
    return None


def libpq_dsn(url: str) -> str:
    """``postgresql+psycopg://…?…`` (SQLAlchemy) → ``postgresql://…`` (libpq), query dropped."""
    return re.sub(r"^(postgres(?:ql)?)\+\w+://", r"\1://", url.strip()).split("?", 1)[0]


def schema_of(url: str) -> str | None:
    """The schema a URL made by :func:`_pg_backend` points ``search_path`` at."""
    found = re.search(r"search_path%3D([A-Za-z0-9_]+)", url)
    return None if found is None else found.group(1)


def pg_problem(url: str) -> str | None:
    """Why the server at ``url`` cannot be measured, or ``None`` when it answers."""
    import psycopg

    try:
        with psycopg.connect(libpq_dsn(url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"the server does not answer: {first}"
    return None


def sqlite_backend(folder: Path) -> Backend:
    """Fresh SQLite files in ``folder``."""

    def fresh_url(label: str) -> str:
        return f"sqlite:///{folder / f'{label}-{uuid.uuid4().hex[:8]}.sqlite'}"

    def raw_commits(n: int) -> float:
        path = folder / f"anchor-{uuid.uuid4().hex[:8]}.sqlite"
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            db.commit()
            t = time.perf_counter()
            for i in range(n):
                db.execute("INSERT INTO t (v) VALUES (?)", (f"row {i}",))
                db.commit()
            return n / (time.perf_counter() - t)
        finally:
            db.close()

    def bulk_insert(url: str, rows: Sequence[LedgerRow]) -> None:
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            for start in range(0, len(rows), INSERT_BATCH):
                with db:
                    db.executemany(
                        "INSERT INTO ledger (seq, at, kind, actor, subject, payload, prev_hash,"
                        " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        rows[start : start + INSERT_BATCH],
                    )
        finally:
            db.close()

    def plain_read(url: str) -> int:
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            count = 0
            for _ in db.execute("SELECT * FROM ledger ORDER BY seq"):
                count += 1
            return count
        finally:
            db.close()

    return Backend("SQLite", fresh_url, raw_commits, bulk_insert, plain_read, lambda: None)


def pg_backend(url: str) -> Backend:
    """Fresh schemas (``search_path`` in the URL) in the database at ``url``; dropped by cleanup."""
    import psycopg

    dsn = libpq_dsn(url)
    made: list[str] = []
    separator = "&" if "?" in url else "?"

    def new_schema() -> str:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        made.append(schema)
        return schema

    def fresh_url(label: str) -> str:
        return f"{url}{separator}options=-csearch_path%3D{new_schema()},public"

    def connect(schema: str) -> psycopg.Connection:
        return psycopg.connect(dsn, options=f"-csearch_path={schema},public")

    anchor_schema: list[str] = []

    def raw_commits(n: int) -> float:
        if not anchor_schema:
            anchor_schema.append(new_schema())
            with connect(anchor_schema[0]) as conn:
                conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL)")
        with connect(anchor_schema[0]) as conn:  # autocommit off: each INSERT opens a transaction
            t = time.perf_counter()
            for i in range(n):
                conn.execute("INSERT INTO t (v) VALUES (%s)", (f"row {i}",))
                conn.commit()
            return n / (time.perf_counter() - t)

    def bulk_insert(store_url: str, rows: Sequence[LedgerRow]) -> None:
        schema = schema_of(store_url)
        assert schema is not None
        with connect(schema) as conn:
            for start in range(0, len(rows), INSERT_BATCH):
                with (
                    conn.cursor() as cur,
                    cur.copy(
                        "COPY ledger (seq, at, kind, actor, subject, payload, prev_hash, hash)"
                        " FROM STDIN"
                    ) as copy,
                ):
                    for row in rows[start : start + INSERT_BATCH]:
                        copy.write_row(row)
                conn.commit()

    def plain_read(store_url: str) -> int:
        schema = schema_of(store_url)
        assert schema is not None
        with connect(schema) as conn, conn.cursor(name="bench_read") as cur:
            cur.itersize = 20_000
            cur.execute("SELECT * FROM ledger ORDER BY seq")
            count = 0
            for _ in cur:
                count += 1
            return count

    def cleanup() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in made:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        made.clear()
        anchor_schema.clear()

    return Backend("PostgreSQL", fresh_url, raw_commits, bulk_insert, plain_read, cleanup)


@contextmanager
def opened(url: str) -> Iterator[Store]:
    """A store with the current schema at ``url``, closed afterwards."""
    store = open_store(url, create=True)
    try:
        yield store
    finally:
        store.close()


# ----------------------------------------------------------------------------- ingest --
@dataclass(frozen=True)
class Report:
    """The arguments of one benchmark report."""

    category: str
    at: datetime
    lon: float
    lat: float
    description: str


def make_reports(context: RoutingContext, n: int) -> list[Report]:
    """``n`` reports at benchmark points (~3 % outside the grid), categories cycling the catalog,
    spread over days and nights so routing meets every duty shift."""
    lon, lat = benchmark_points(context.grid, n, seed=11)
    codes = [c.code for c in context.catalog]
    start = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
    return [
        Report(
            codes[i % len(codes)],
            start + timedelta(minutes=7 * i),
            x,
            y,
            f"第{i}号：群众反映，请网格员到场核实处置",
        )
        for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True))
    ]


def report_one(
    store: Store, context: RoutingContext, r: Report, ingestor: Ingestor | None = None
) -> None:
    """Report ``r`` through the service layer (joining a group commit with an ``ingestor``)."""
    report_incident(
        store,
        context,
        reporter=REPORTER,
        category=r.category,
        at=r.at,
        description=r.description,
        lon=r.lon,
        lat=r.lat,
        ingestor=ingestor,
    )


@dataclass(frozen=True)
class Ingest:
    """One ingest phase, run in blocks each preceded by an anchor block: median rates and ratio,
    and latency percentiles over every report of the phase."""

    rate: float
    """Median over the blocks of reports per second (sustained through each block)."""
    anchor_rate: float
    """Median over the blocks of raw commits per second."""
    ratio: float
    """Median over the blocks of (report rate / the raw commit rate measured just before)."""
    p50_ms: float
    p99_ms: float


def timed_block(
    store: Store,
    context: RoutingContext,
    reports: list[Report],
    threads: int,
    ingestor: Ingestor | None = None,
) -> tuple[float, list[int]]:
    """Report ``reports`` from ``threads`` threads sharing the store, each with its own share:
    (wall seconds, per-report latencies in ns)."""
    if threads == 1:
        latencies = []
        t0 = time.perf_counter()
        for r in reports:
            t = time.perf_counter_ns()
            report_one(store, context, r)
            latencies.append(time.perf_counter_ns() - t)
        return time.perf_counter() - t0, latencies
    per_thread: list[list[int]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def work(k: int) -> None:
        mine, out = reports[k::threads], per_thread[k]
        barrier.wait()
        try:
            for r in mine:
                t = time.perf_counter_ns()
                report_one(store, context, r, ingestor)
                out.append(time.perf_counter_ns() - t)
        except BaseException as exc:  # surfaced below, after every thread has stopped
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"a reporting thread failed: {errors[0]!r}") from errors[0]
    return wall, [x for out in per_thread for x in out]


def ingest(
    backend: Backend,
    store: Store,
    context: RoutingContext,
    reports: list[Report],
    *,
    threads: int,
    blocks: int,
    ingestor: Ingestor | None = None,
) -> Ingest:
    """Report ``reports`` in ``blocks`` blocks, timing raw commits just before each block."""
    size = -(-len(reports) // blocks)
    rates, anchors, ratios, latencies = [], [], [], []
    for start in range(0, len(reports), size):
        raw = backend.raw_commits(N_ANCHOR_COMMITS)
        block = reports[start : start + size]
        wall, block_latencies = timed_block(store, context, block, threads, ingestor)
        rates.append(len(block) / wall)
        anchors.append(raw)
        ratios.append(rates[-1] / raw)
        latencies += block_latencies
    p50, p99 = np.percentile(latencies, [50, 99]) / 1e6
    return Ingest(
        statistics.median(rates),
        statistics.median(anchors),
        statistics.median(ratios),
        float(p50),
        float(p99),
    )


def ledger_samples(store: Store) -> list[Sample]:
    """(kind, actor, subject, payload) of the ledger events the ingest wrote: real payloads."""
    return [(e.kind, e.actor, e.subject, e.payload) for e in store.ledger_events()]


def ingest_rows(
    backend: Backend,
    context: RoutingContext,
    reports: list[Report],
    repeats: int,
    console: Console,
) -> tuple[list[Row], list[Sample]]:
    """The sequential and concurrent ingest rows of one backend, and the ledger it wrote."""
    warm, seq, conc, group = (
        reports[:N_WARMUP],
        reports[N_WARMUP : N_WARMUP + N_REPORTS],
        reports[N_WARMUP + N_REPORTS : N_WARMUP + 2 * N_REPORTS],
        reports[N_WARMUP + 2 * N_REPORTS :],
    )
    blocks = max(1, repeats)
    console.print(
        f"store: {backend.name}: {len(seq):,} sequential reports in {blocks} blocks, "
        f"{N_ANCHOR_COMMITS:,} raw commits before each ..."
    )
    with opened(backend.fresh_url("ingest")) as store:
        for r in warm:
            report_one(store, context, r)
        one = ingest(backend, store, context, seq, threads=1, blocks=blocks)
        console.print(f"store: {backend.name}: {len(conc):,} reports from {N_THREADS} threads ...")
        many = ingest(backend, store, context, conc, threads=N_THREADS, blocks=blocks)
        console.print(
            f"store: {backend.name}: {len(group):,} reports from {N_GROUP_CLIENTS} clients "
            "through the group-commit ingestor ..."
        )
        ingestor = Ingestor(store)
        try:
            grouped = ingest(
                backend,
                store,
                context,
                group,
                threads=N_GROUP_CLIENTS,
                blocks=blocks,
                ingestor=ingestor,
            )
        finally:
            ingestor.close()
        samples = ledger_samples(store)
        verified = store.verify_ledger()
        if not (verified.ok and verified.count == len(reports)):
            raise RuntimeError(f"{backend.name}: the ingested ledger did not verify: {verified}")
    anchor = (
        f"raw {backend.name} commits, 1 tiny INSERT + COMMIT each, "
        f"{N_ANCHOR_COMMITS:,} before each block"
        + (" (sqlite3, WAL, synchronous=FULL)" if backend.name == "SQLite" else " (psycopg)")
    )
    rows = [
        Row(
            f"{backend.name}: report_incident, {len(seq):,} sequential reports "
            f"({blocks} blocks), 1 fsync'd transaction each",
            f"{one.rate:,.0f} reports/s; p50 {one.p50_ms:.2f} ms, p99 {one.p99_ms:.2f} ms",
            anchor,
            f"{one.anchor_rate:,.0f} commits/s",
            f"{one.ratio:.2f}x the raw commit rate",
            INGEST_BUDGET,
        ),
        Row(
            f"{backend.name}: report_incident, {len(conc):,} reports from {N_THREADS} threads "
            f"sharing the store ({blocks} blocks)",
            f"{many.rate:,.0f} reports/s; p50 {many.p50_ms:.2f} ms, p99 {many.p99_ms:.2f} ms",
            anchor,
            f"{many.anchor_rate:,.0f} commits/s",
            f"{many.ratio:.2f}x the raw commit rate",
            INGEST_BUDGET,
        ),
        Row(
            f"{backend.name}: report_incident, {len(group):,} reports from {N_GROUP_CLIENTS} "
            f"clients, group commit (services.Ingestor, as `serve` runs it; {blocks} blocks)",
            f"{grouped.rate:,.0f} reports/s; p50 {grouped.p50_ms:.2f} ms, "
            f"p99 {grouped.p99_ms:.2f} ms",
            anchor,
            f"{grouped.anchor_rate:,.0f} commits/s",
            f"{grouped.ratio:.2f}x the raw commit rate",
            INGEST_BUDGET,
        ),
    ]
    return rows, samples


# ----------------------------------------------------------------------------- ledger --
def ledger_events() -> int:
    """How many events the verification benchmark fills the ledger with."""
    text = os.environ.get(LEDGER_EVENTS_ENV, "").replace("_", "").replace(",", "").strip()
    if not text:
        return 1_000_000
    n = int(text)
    if n < 1:
        raise ValueError(f"{LEDGER_EVENTS_ENV}={text} must be at least 1")
    return n


def build_ledger(n: int, samples: list[Sample]) -> list[LedgerRow]:
    """``n`` valid ledger rows cycling over real (kind, actor, subject, payload) samples."""
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    rows: list[LedgerRow] = []
    prev = GENESIS_HASH
    source = cycle(samples)
    for seq in range(1, n + 1):
        kind, actor, subject, payload = next(source)
        at = format_time(start + timedelta(milliseconds=seq * 250))
        digest = event_hash(
            seq=seq,
            at=at,
            kind=kind,
            actor=actor,
            subject=subject,
            payload=payload,
            prev_hash=prev,
        )
        rows.append((seq, at, kind, actor, subject, payload, prev, digest))
        prev = digest
    return rows


def ledger_row(backend: Backend, rows: list[LedgerRow], repeats: int, console: Console) -> Row:
    """Verify a fresh database's ledger of ``len(rows)`` events, beside the bare read."""
    n, head = len(rows), rows[-1][7]
    console.print(f"store: {backend.name}: bulk-inserting {n:,} ledger events ...")
    url = backend.fresh_url("ledger")
    with opened(url) as store:
        t = time.perf_counter()
        backend.bulk_insert(url, rows)
        fill_s = time.perf_counter() - t
        console.print(f"store: {backend.name}: filled in {fill_s:.1f} s; verifying ...")

        def verify() -> None:
            result = store.verify_ledger()
            if not (result.ok and result.count == n and result.head_hash == head):
                raise RuntimeError(f"{backend.name}: benchmark ledger did not verify: {result}")

        def read() -> None:
            if backend.plain_read(url) != n:
                raise RuntimeError(f"{backend.name}: the plain read missed rows")

        k = max(1, min(repeats, MAX_VERIFY_REPEATS))
        verify_s = median_seconds(verify, k)
        read_s = median_seconds(read, k)
    return Row(
        f"{backend.name}: Store.verify_ledger, {n:,} events",
        f"{n / verify_s / 1e3:,.0f} k events/s ({verify_s:.2f} s)",
        "SELECT * FROM ledger ORDER BY seq, bare driver, no checks",
        f"{n / read_s / 1e3:,.0f} k events/s ({read_s:.2f} s)",
        f"{verify_s / read_s:.1f}x the read alone",
        LEDGER_BUDGET,
    )


# -------------------------------------------------------------------------------- run --
def _not_measured(reason: str) -> Row:
    return Row("PostgreSQL: ingest and ledger verification", "not measured", reason, "-", "-", "-")


def run(*, repeats: int, console: Console) -> list[Row]:
    """Measure the store figures (SQLite always, PostgreSQL when a URL is set)."""
    console.print("store: grid, demo roster, catalog ...")
    grid = load_grid()
    context = RoutingContext(grid, generate_roster(grid), read_catalog(), WorkCalendar())
    reports = make_reports(context, N_WARMUP + 3 * N_REPORTS)
    n_events = ledger_events()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="gridmgr-bench-") as tmp:
        backends = [sqlite_backend(Path(tmp))]
        pg = pg_url_from_env()
        if pg is None:
            skipped = _not_measured(f"neither {' nor '.join(PG_ENVS)} is set")
        else:
            problem = pg_problem(pg[0])
            if problem is None:
                skipped = None
                backends.append(pg_backend(pg[0]))
            else:
                skipped = _not_measured(f"{pg[1]} is set but {problem}")
        ledger: list[LedgerRow] | None = None
        for backend in backends:
            try:
                ingest, samples = ingest_rows(backend, context, reports, repeats, console)
                rows += ingest
                if ledger is None:
                    console.print(f"store: hashing {n_events:,} ledger events ...")
                    t = time.perf_counter()
                    ledger = build_ledger(n_events, samples)
                    console.print(f"store: hashed in {time.perf_counter() - t:.1f} s")
                rows.append(ledger_row(backend, ledger, repeats, console))
            finally:
                backend.cleanup()
        if skipped is not None:
            rows.append(skipped)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier medians)")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    console = Console(width=170)
    rows = run(repeats=repeats, console=console)
    print_table(console, rows, f"gridmgr store benchmarks (medians of {repeats})")


if __name__ == "__main__":
    main()
