"""HTTP ingest benchmark: ``POST /api/v1/reports`` on loopback at a constant offered rate.

A real ``gridmgr serve`` process (waitress, 8 threads, SQLite WAL + synchronous=FULL, group
commit) on the Jiangyin grid receives reports from an open-loop load generator: each of 16
client threads keeps one HTTP/1.1 connection and sends on a fixed schedule, and latency is
measured from the *scheduled* send time, so a stall is not hidden by the client waiting
(coordinated omission). Anchor, same run and same generator: ``GET /healthz`` of the same
server.

Offered rates 100, 300 and 600 reports/s; each reports what it reached (served per second,
p50/p99 of those served) and stops at its time limit however overloaded the server. The figure
that matters is the server's CPU time per report (all its processes, from ``/proc``) beside
``GET /healthz`` measured the same way.

Run alone: ``python -m benchmarks.http_bench [--rate 300 ...] [--seconds 10]``.
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
RATES = (100.0, 300.0, 600.0)
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


def server_cpu_seconds(group: int) -> float:
    """CPU time (user + system) used so far by every process of the process group ``group``
    (the server and its workers), from ``/proc`` (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # a process that just ended
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def constant_rate(
    port: int,
    *,
    rate: float,
    seconds: float,
    request: Callable[[int], tuple[str, str, bytes]],
    headers: dict[str, str],
    limit: float | None = None,
) -> Load:
    """Send ``rate`` requests/s for ``seconds`` from :data:`CLIENTS` threads, open loop.

    Sending stops at ``limit`` seconds (default twice ``seconds`` plus 5): a request not sent
    by then is counted as not served, so an overloaded server gives a figure, never a hang.
    """
    total = int(rate * seconds)
    limit = 2 * seconds + 5 if limit is None else limit
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures = [0] * CLIENTS
    start = time.perf_counter() + 0.5
    stop_at = start + limit
    finished = [start] * CLIENTS

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=max(1.0, limit / 2))
        for i in range(k, total, CLIENTS):
            due = start + i / rate
            now = time.perf_counter()
            if now >= stop_at:
                break
            if due > now:
                time.sleep(due - now)
            method, path, body = request(i)
            try:
                conn.request(method, path, body=body or None, headers=headers)
                reply = conn.getresponse()
                reply.read()
                if reply.status >= 300:
                    failures[k] += 1
                else:
                    latencies[k].append(time.perf_counter() - due)
            except (OSError, http.client.HTTPException):
                failures[k] += 1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=max(1.0, limit / 2))
            finished[k] = time.perf_counter()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=limit + 5)
    flat = np.concatenate([np.asarray(x) for x in latencies]) * 1e3
    ok = int(flat.size)
    elapsed = max(max(finished) - start, 1e-9)
    p50, p99 = np.percentile(flat, [50, 99]) if ok else (float("nan"), float("nan"))
    return Load(rate, ok / elapsed, ok, sum(failures), float(p50), float(p99))


@dataclass(frozen=True)
class Costed:
    """A run at one offered rate with the server's CPU time for it."""

    load: Load
    cpu_s: float

    @property
    def cpu_ms_each(self) -> float:
        """Server CPU milliseconds per request served."""
        return 1e3 * self.cpu_s / max(self.load.ok, 1)


def costed(group: int, port: int, **kwargs: object) -> Costed:
    """:func:`constant_rate` with the server's CPU time over the run."""
    before = server_cpu_seconds(group)
    load = constant_rate(port, **kwargs)  # type: ignore[arg-type]
    return Costed(load, server_cpu_seconds(group) - before)


def run(
    *,
    repeats: int,
    console: Console,
    rates: tuple[float, ...] = RATES,
    seconds: float = SECONDS,
    workers: int = 1,
) -> list[Row]:
    """Measure report ingest over HTTP at each offered rate, and the server CPU each report
    costs, against ``GET /healthz`` measured the same way in the same run."""
    from benchmarks.grid_bench import benchmark_points
    from gridmgr import load_grid

    grid = load_grid()
    lon, lat = benchmark_points(grid, int(max(rates) * seconds) * (len(rates) + 1) + 10, seed=11)
    sent = [0]
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        console.print("http: starting gridmgr serve (SQLite, waitress 8 threads) ...")
        token = _token(data_dir)
        port = _free_port()
        server = _start(data_dir, port, workers)
        try:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

            def report(i: int) -> tuple[str, str, bytes]:
                n = sent[0] + i
                body = {
                    "lon": float(lon[n]),
                    "lat": float(lat[n]),
                    "category": "street_vending",
                    "description": f"benchmark report {n}",
                }
                return "POST", "/api/v1/reports", json.dumps(body).encode()

            constant_rate(port, rate=100, seconds=1, request=report, headers=headers)  # warm-up
            sent[0] += 100
            # the anchor first, on a fresh server; each run then starts once the last has drained
            console.print(f"http: {min(rates):g} GET /healthz per second (anchor) ...")
            anchor = costed(
                server.pid,
                port,
                rate=min(rates),
                seconds=seconds,
                request=lambda i: ("GET", "/healthz", b""),
                headers={},
            )
            runs = []
            for rate in rates:
                _drain(port)
                console.print(f"http: {rate:g} reports/s offered for {seconds:g} s ...")
                runs.append(
                    costed(
                        server.pid,
                        port,
                        rate=rate,
                        seconds=seconds,
                        request=report,
                        headers=headers,
                    )
                )
                sent[0] += int(rate * seconds)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return [_row(r, anchor, seconds=seconds, workers=workers) for r in runs]


def _drain(port: int, *, within: float = 120.0) -> None:
    """Wait until the server answers ``GET /healthz`` at once again (a backlog served)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            began = time.monotonic()
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            if time.monotonic() - began < 0.1:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.5)


def _row(ours: Costed, anchor: Costed, *, seconds: float, workers: int) -> Row:
    load, base = ours.load, anchor.load
    return Row(
        f"HTTP POST /api/v1/reports, {load.offered:g}/s offered for {seconds:g} s "
        f"({CLIENTS} keep-alive clients; {workers} waitress worker(s) x 8 threads; SQLite; "
        "group commit)",
        f"{ours.cpu_ms_each:.2f} ms server CPU a report; {load.sustained:,.0f}/s served "
        f"({load.failed} failed); p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms",
        f"GET /healthz, same server, {base.offered:g}/s",
        f"{anchor.cpu_ms_each:.2f} ms CPU; p50 {base.p50_ms:.1f} ms, p99 {base.p99_ms:.1f} ms",
        f"{ours.cpu_ms_each / max(anchor.cpu_ms_each, 1e-6):.1f}x the anchor's CPU",
        "≤ 1.0 ms CPU a report (≤ 6x /healthz); p99 ≤ 50 ms at 300/s",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_bench", description=__doc__)
    parser.add_argument("--rate", type=float, action="append", help="offered rates (repeat)")
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=170)
    rows = run(
        repeats=1,
        console=console,
        rates=tuple(args.rate or RATES),
        seconds=args.seconds,
        workers=args.workers,
    )
    print_table(console, rows, "gridmgr HTTP ingest")


if __name__ == "__main__":
    main()
