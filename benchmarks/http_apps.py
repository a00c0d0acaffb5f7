"""The WSGI applications the HTTP benchmark serves, and an in-process profile of report ingest.

:func:`gridmgr_app` builds, from the environment (``GRIDMGR_DATA_DIR``, ``GRIDMGR_DB``), the
same application a ``gridmgr serve`` worker serves (:func:`gridmgr.server.worker_app`), with
no background work: a factory any WSGI server can call (``granian --interface wsgi --factory
benchmarks.http_apps:gridmgr_app``). :func:`bare_app` is a Flask app with one JSON route, the
floor any Flask server costs.

``python -m benchmarks.http_apps [--reports 1000]`` posts reports through the whole
application in this process (werkzeug's test client, no socket) under cProfile — the request
threads' work and the group-commit writer's, each profiled — and prints the top costs.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import json
import pstats
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from gridmgr.server import Prepared


def gridmgr_app() -> Flask:
    """The application of one ``gridmgr serve`` worker for the environment's data folder and
    database (prepared as ``serve`` prepares: grid, roster, routing, reference data adopted)."""
    from gridmgr.server import worker_app
    from gridmgr.services.context import close_services, open_services

    prepared = _prepare()
    services = open_services(prepared.db_url, prepared.context, prepared.settings)
    atexit.register(close_services, services)
    return worker_app(prepared, services)


def _prepare() -> Prepared:
    """What ``gridmgr serve`` prepares before its workers start, for the environment's data
    folder and database (the demo's logins and simulator left out)."""
    from gridmgr.datafiles import load_roster, routing_context
    from gridmgr.grid.generations import load_current_grid
    from gridmgr.server import Prepared
    from gridmgr.services.context import wall_clock
    from gridmgr.services.database import database_url, open_database
    from gridmgr.services.reference import adopt_reference
    from gridmgr.settings import Settings
    from gridmgr.web.sessions import secret_key_for

    settings = Settings.from_env()
    secret = secret_key_for(settings.data_dir, settings.secret_key, demo=settings.demo)
    grid = load_current_grid(settings)
    context = routing_context(settings, grid).warm()
    load_roster(settings, grid)
    store = open_database(settings, create=True)
    try:
        context = adopt_reference(
            store, grid=grid, context=context, at=wall_clock(), actor="system:serve"
        )
    finally:
        store.close()
    return Prepared(settings, grid, context, database_url(settings, None), secret, 0.0)


def bare_app() -> Flask:
    """A Flask app with ``GET /healthz`` and a ``POST /api/v1/reports`` that only parses its
    JSON: what a Flask request costs at least."""
    from flask import Flask, jsonify, request

    app = Flask("bare")

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return jsonify(status="ok")

    @app.post("/api/v1/reports")
    def report():  # type: ignore[no-untyped-def]
        # the body is read, as every real endpoint does (granian closes a keep-alive connection
        # whose request body was left unread: the client's next request fails)
        return jsonify(status="ok", got=len(request.get_json(silent=True) or {})), 201

    return app


def profile_ingest(reports: int, *, top: int = 40, dump: str | None = None) -> None:
    """Post ``reports`` reports through :func:`gridmgr_app` in this process, profiled."""
    import os

    from benchmarks.grid_bench import benchmark_points
    from benchmarks.http_bench import _token
    from gridmgr import load_grid

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        os.environ["GRIDMGR_DATA_DIR"] = str(data_dir)
        os.environ["GRIDMGR_RATE_LIMIT_TOKEN"] = "1000000 per minute"
        os.environ["GRIDMGR_RATE_LIMIT_IP"] = "1000000 per minute"
        token = _token(data_dir)
        app = gridmgr_app()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        lon, lat = benchmark_points(load_grid(), reports + 50, seed=11)

        def post(n: int) -> None:
            body = {
                "lon": float(lon[n]),
                "lat": float(lat[n]),
                "category": "street_vending",
                "description": f"benchmark report {n}",
            }
            reply = client.post(
                "/api/v1/reports",
                data=json.dumps(body),
                headers=headers,
                content_type="application/json",
            )
            assert reply.status_code == 201, reply.get_data(as_text=True)

        for n in range(50):  # warm
            post(n)
        writer = _profile_writer()
        request = cProfile.Profile()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        request.enable()
        for n in range(50, 50 + reports):
            post(n)
        request.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        writer.disable()
        print(
            f"{reports} reports: {1e3 * cpu / reports:.2f} ms CPU a report (profiled, all "
            f"threads), {1e3 * wall / reports:.2f} ms wall"
        )
        if dump is not None:
            request.dump_stats(f"{dump}.request")
            writer.dump_stats(f"{dump}.writer")
        for name, prof in (("request thread", request), ("writer thread", writer)):
            print(f"--- {name} ---")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(top)
            pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def _profile_writer() -> cProfile.Profile:
    """A profile of the group-commit writer thread from now on (patched onto its commit)."""
    from gridmgr.services.reports import Ingestor

    prof = cProfile.Profile()
    original = Ingestor._commit
    lock = threading.Lock()

    def commit(self: Ingestor, batch: list) -> None:  # type: ignore[type-arg]
        with lock:
            prof.enable()
            try:
                original(self, batch)
            finally:
                prof.disable()

    Ingestor._commit = commit  # type: ignore[method-assign]
    return prof


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_apps", description=__doc__)
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", help="also write the profiles to DUMP.request, DUMP.writer")
    args = parser.parse_args()
    profile_ingest(args.reports, top=args.top, dump=args.dump)


if __name__ == "__main__":
    main()
