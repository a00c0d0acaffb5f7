"""HTTP ingest benchmark: ``POST /api/v1/reports`` on loopback at a constant offered rate.

A real ``gridmgr serve`` process (waitress, 8 threads, SQLite WAL + synchronous=FULL, group
commit) on the Jiangyin grid receives reports from an open-loop load generator: each of 16
client threads keeps one HTTP/1.1 connection and sends on a fixed schedule, and latency is
measured from the *scheduled* send time, so a stall is not hidden by the client waiting
(coordinated omission). Anchor, same run and same generator: ``GET /healthz`` of the same
server at the same offered rate.

Run alone: ``python -m benchmarks.http_bench [--rate 1000] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from rich.console import Console

from benchmarks.common import Row, print_table

CLIENTS = 16
RATE = 1000
SECONDS = 5.0


@dataclass(frozen=True)
class Load:
    """What one constant-rate run achieved."""

    offered: float
    sustained: float
    ok: int
    failed: int
    p50_ms: float
    p99_ms: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data_dir: Path, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GRIDMGR_DATA_DIR": str(data_dir),
        "GRIDMGR_RATE_LIMIT_TOKEN": "1000000 per minute",
        "GRIDMGR_RATE_LIMIT_IP": "1000000 per minute",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gridmgr.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--escalate-every",
            "0",
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"serve exited: {err[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("serve did not answer within 120 s")


def _token(data_dir: Path) -> str:
    from gridmgr.datafiles import load_roster
    from gridmgr.grid.generations import load_current_grid
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.responsibility.roster import COMMAND_CENTER
    from gridmgr.settings import Settings
    from gridmgr.store import database_url, open_store

    settings = Settings(data_dir=data_dir)
    now = datetime.now(TZ)
    roster = load_roster(settings, load_current_grid(settings))
    operator = sorted(a.person_id for a in roster.holders(COMMAND_CENTER, now))[0]
    db = Settings.from_env(data_dir=data_dir).db  # GRIDMGR_DB, as the server it starts reads
    store = open_store(database_url(db, data_dir=data_dir), create=True)
    try:
        return store.create_credential(kind="person", subject=operator, now=now, days=1)
    finally:
        store.close()


def constant_rate(
    port: int,
    *,
    rate: float,
    seconds: float,
    request: Callable[[int], tuple[str, str, bytes]],
    headers: dict[str, str],
) -> Load:
    """Send ``rate`` requests/s for ``seconds`` from :data:`CLIENTS` threads, open loop."""
    total = int(rate * seconds)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures = [0] * CLIENTS
    start = time.perf_counter() + 0.5
    finished = [0.0] * CLIENTS

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(k, total, CLIENTS):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            method, path, body = request(i)
            try:
                conn.request(method, path, body=body or None, headers=headers)
                reply = conn.getresponse()
                reply.read()
                if reply.status >= 300:
                    failures[k] += 1
            except (OSError, http.client.HTTPException):
                failures[k] += 1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            latencies[k].append(time.perf_counter() - due)
        finished[k] = time.perf_counter()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = np.concatenate([np.asarray(x) for x in latencies]) * 1e3
    ok = total - sum(failures)
    elapsed = max(finished) - start
    p50, p99 = np.percentile(flat, [50, 99])
    return Load(rate, ok / elapsed, ok, sum(failures), float(p50), float(p99))


def run(
    *,
    repeats: int,
    console: Console,
    rate: float = RATE,
    seconds: float = SECONDS,
    workers: int = 1,
) -> list[Row]:
    """Measure report ingest over HTTP against the /healthz anchor."""
    from benchmarks.grid_bench import benchmark_points
    from gridmgr import load_grid

    grid = load_grid()
    lon, lat = benchmark_points(grid, int(rate * seconds) + 10, seed=11)
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        console.print("http: starting gridmgr serve (SQLite, waitress 8 threads) ...")
        token = _token(data_dir)
        port = _free_port()
        server = _start(data_dir, port, workers)
        try:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

            def report(i: int) -> tuple[str, str, bytes]:
                body = {
                    "lon": float(lon[i]),
                    "lat": float(lat[i]),
                    "category": "street_vending",
                    "description": f"benchmark report {i}",
                }
                return "POST", "/api/v1/reports", json.dumps(body).encode()

            constant_rate(port, rate=100, seconds=1, request=report, headers=headers)  # warm-up
            console.print(f"http: {rate:g} reports/s offered for {seconds:g} s ...")
            ours = constant_rate(port, rate=rate, seconds=seconds, request=report, headers=headers)
            console.print(f"http: {rate:g} GET /healthz per second (anchor) ...")
            anchor = constant_rate(
                port,
                rate=rate,
                seconds=min(seconds, 5.0),
                request=lambda i: ("GET", "/healthz", b""),
                headers={},
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return [
        Row(
            f"HTTP POST /api/v1/reports, {ours.offered:g}/s offered for {seconds:g} s "
            f"({CLIENTS} keep-alive clients; {workers} waitress worker(s) x 8 threads; SQLite; "
            "group commit)",
            f"{ours.sustained:,.0f} reports/s sustained ({ours.failed} failed); "
            f"p50 {ours.p50_ms:.1f} ms, p99 {ours.p99_ms:.1f} ms",
            "GET /healthz, same server and offered rate",
            f"{anchor.sustained:,.0f}/s; p50 {anchor.p50_ms:.1f} ms, p99 {anchor.p99_ms:.1f} ms",
            f"p99 {ours.p99_ms / max(anchor.p99_ms, 1e-3):.1f}x the anchor's",
            "≥ 1,000 reports/s, p99 ≤ 50 ms",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_bench", description=__doc__)
    parser.add_argument("--rate", type=float, default=RATE)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=170)
    rows = run(
        repeats=1, console=console, rate=args.rate, seconds=args.seconds, workers=args.workers
    )
    print_table(console, rows, "gridmgr HTTP ingest")


if __name__ == "__main__":
    main()
