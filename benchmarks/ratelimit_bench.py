"""What counting rate limits in the database costs a request, beside counting them in memory.

The same API request (``GET /api/v1/locate`` with a bearer token: two limits hit, the headers
read) is timed through the app's WSGI interface with flask-limiter on each process's memory
(``gridmgr-memory://``, the anchor) and on the database (``gridmgr-database://``, shared by
every node), on SQLite and, when ``GRIDMGR_BENCH_PG_URL`` (else ``GRIDMGR_TEST_PG_URL``) is
set, on PostgreSQL. The figure is the median time per request; the ratio and the difference
say what the shared count adds. ``python -m benchmarks ratelimit``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from rich.console import Console

from benchmarks.common import Row, median_seconds
from benchmarks.store_bench import PG_ENVS, pg_backend, pg_problem, pg_url_from_env, sqlite_backend
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER
from gridmgr.settings import Settings

N_REQUESTS = 300
"""Requests timed per repeat."""
LOCATE = "/api/v1/locate?lon=120.1&lat=31.6"
AT = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)


def per_request(url: str, storage: str, folder: Path, repeats: int) -> float:
    """Median seconds per request with the limits counted in ``storage`` (memory or
    database), on a fresh database at ``url``."""
    from gridmgr.api import create_app
    from gridmgr.services.context import Services
    from gridmgr.store import open_store
    from gridmgr.testing import tiny_context

    store = open_store(url, create=True)
    try:
        context = tiny_context().warm()
        settings = replace(
            Settings(data_dir=folder),
            rate_limit_token="1000000 per minute",
            rate_limit_ip="1000000 per minute",
            rate_limit_storage=storage,
        )
        services = Services(store, context, settings, clock=lambda: AT)
        app = create_app(settings, context.grid, context.roster, services=services)
        operator = sorted(a.person_id for a in context.roster.holders(COMMAND_CENTER, AT))[0]
        token = store.create_credential(kind="person", subject=operator, now=AT, days=9)
        headers = {"Authorization": f"Bearer {token}"}
        client = app.test_client()

        def requests() -> None:
            for _ in range(N_REQUESTS):
                answer = client.get(LOCATE, headers=headers)
                assert answer.status_code == 200, answer.status_code

        requests()  # warm: connections, the first window's row
        return median_seconds(requests, repeats) / N_REQUESTS
    finally:
        store.close()


def run(*, repeats: int, console: Console) -> list[Row]:
    """The database-counted request beside the memory-counted one, per backend."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="gridmgr-bench-") as tmp:
        backends = [sqlite_backend(Path(tmp))]
        pg = pg_url_from_env()
        if pg is not None and pg_problem(pg[0]) is None:
            backends.append(pg_backend(pg[0]))
        else:
            console.print(f"ratelimit: PostgreSQL not measured (set one of {', '.join(PG_ENVS)})")
        for backend in backends:
            try:
                console.print(f"ratelimit: {backend.name} ...")
                t = time.perf_counter()
                memory = per_request(backend.fresh_url("memory"), "memory", Path(tmp), repeats)
                shared = per_request(backend.fresh_url("db"), "database", Path(tmp), repeats)
                console.print(f"ratelimit: {backend.name} in {time.perf_counter() - t:.1f} s")
            finally:
                backend.cleanup()
            rows.append(
                Row(
                    f"API request, limits counted in the database ({backend.name})",
                    f"{shared * 1e6:,.0f} µs/request (+{(shared - memory) * 1e6:,.0f} µs)",
                    "the same request, limits in process memory",
                    f"{memory * 1e6:,.0f} µs/request",
                    f"{shared / memory:.2f}×",
                    "shared across nodes; cost decides the default",
                )
            )
    return rows
