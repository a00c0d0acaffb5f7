"""HTTP ingest benchmark: ``POST /api/v1/reports`` on loopback at a constant offered rate.

A real ``gridmgr serve`` process (waitress, 8 threads, SQLite WAL + synchronous=FULL, group
commit) on the Jiangyin grid receives reports from an open-loop load generator: each of 16
client threads keeps one HTTP/1.1 connection and sends on a fixed schedule, and latency is
measured from the *scheduled* send time, so a stall is not hidden by the client waiting
(coordinated omission). Anchor, same run and same generator: ``GET /healthz`` of the same
server.

Offered rates 100, 300 and 600 reports/s; each reports what it reached (served per second,
p50/p99 of those served, how many failed and how many were never sent) and stops at its time
limit however overloaded the server: every socket operation has a timeout, the client threads
are joined against one deadline, a server that dies or stops answering ends the run with the
figures so far, and the server is killed if it does not stop. The figure that matters is the
server's CPU time per report (all its processes, from ``/proc``) beside ``GET /healthz``
measured the same way; with repeats, each is the median of the runs.

Servers (``--server``, repeatable, each in the same run): ``serve`` (``gridmgr serve``: waitress,
8 threads, with its background work), ``waitress`` or ``granian`` (its WSGI mode, 8 blocking
threads) serving :func:`benchmarks.http_apps.gridmgr_app`, or — with ``--app bare`` — a bare
Flask app (:func:`benchmarks.http_apps.bare_app`), the floor of each server. ``--code DIR``
(repeatable) serves another checkout's ``gridmgr serve`` beside this one, e.g. ``main``.

Run alone: ``python -m benchmarks.http_bench [--rate 300 ...] [--seconds 10] [--server granian]
[--app bare] [--code /work/main] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from rich.console import Console

from benchmarks.common import Row, print_table

CLIENTS = 16
RATES = (100.0, 300.0, 600.0)
SECONDS = 5.0
THREADS = 8
"""Request threads of each server (``gridmgr serve``'s waitress; granian's blocking threads)."""
SERVERS = ("serve", "waitress", "granian")
APPS = ("gridmgr", "bare")


@dataclass(frozen=True)
class Load:
    """What one constant-rate run achieved."""

    offered: float
    sustained: float
    ok: int
    failed: int
    unsent: int
    p50_ms: float
    p99_ms: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Target:
    """What serves: ``server`` (one of :data:`SERVERS`) running ``app`` (one of :data:`APPS`)
    from the checkout ``code`` (``None``: this one)."""

    server: str = "serve"
    app: str = "gridmgr"
    code: Path | None = None

    @property
    def label(self) -> str:
        where = "" if self.code is None else f" from {self.code}"
        threads = (
            f"{THREADS} threads" if self.server != "granian" else f"{THREADS} blocking threads"
        )
        name = (
            "gridmgr serve (waitress"
            if self.server == "serve"
            else f"{self.app} app ({self.server}"
        )
        return f"{name}, {threads}){where}"

    def command(self, port: int, workers: int) -> list[str]:
        """The server's command line."""
        factory = f"benchmarks.http_apps:{self.app}_app"
        if self.server == "serve":
            return [
                sys.executable, "-c", "from gridmgr.cli import main; main()", "serve",
                "--port", str(port), "--escalate-every", "0", "--workers", str(workers),
            ]  # fmt: skip
        if self.server == "waitress":
            return [
                sys.executable, "-m", "waitress", "--call", f"--threads={THREADS}",
                f"--listen=127.0.0.1:{port}", "--ident=gridmgr", factory,
            ]  # fmt: skip
        return [
            sys.executable, "-m", "granian", "--interface", "wsgi", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--blocking-threads", str(THREADS), "--no-ws", "--log-level", "warning", factory,
        ]  # fmt: skip


def _start(
    data_dir: Path, port: int, workers: int = 1, target: Target | None = None
) -> subprocess.Popen[bytes]:
    target = target or Target()
    env = {
        **os.environ,
        "GRIDMGR_DATA_DIR": str(data_dir),
        "GRIDMGR_RATE_LIMIT_TOKEN": "1000000 per minute",
        "GRIDMGR_RATE_LIMIT_IP": "1000000 per minute",
    }
    if target.code is not None:
        env["PYTHONPATH"] = str(target.code)
    # a file, never a pipe: a chatty server must not block on it
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        target.command(port, workers),
        env=env,
        cwd=target.code,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors.seek(0)
            raise RuntimeError(f"server exited: {errors.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
    _stop(process)
    raise RuntimeError("the server did not answer within 180 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


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

    timeout = max(1.0, limit / 2)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
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
            except (OSError, http.client.HTTPException):  # refused, reset, timed out, garbled
                failures[k] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            finished[k] = time.perf_counter()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    # one deadline for all: a thread stuck in a socket call is abandoned (daemon) after it
    join_by = stop_at + limit / 2 + 2
    for t in threads:
        t.join(timeout=max(0.0, join_by - time.perf_counter()))
    flat = np.concatenate([np.asarray(list(x), dtype=float) for x in latencies]) * 1e3
    ok, failed = int(flat.size), sum(failures)
    elapsed = max(max(finished) - start, 1e-9)
    p50, p99 = np.percentile(flat, [50, 99]) if ok else (float("nan"), float("nan"))
    return Load(rate, ok / elapsed, ok, failed, max(0, total - ok - failed), float(p50), float(p99))


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
    targets: tuple[Target, ...] = (Target(),),
) -> list[Row]:
    """Measure report ingest over HTTP at each offered rate, and the server CPU each report
    costs, against ``GET /healthz`` measured the same way in the same run.

    Every target's server is started first; then each measurement (the anchor, each rate) is
    taken on each server in turn, ``repeats`` times, so two servers compared are measured at
    the same moments (same load on a shared machine). Each figure: the median of the repeats.
    A server that dies or stops answering is measured no more; the others go on."""
    from benchmarks.grid_bench import benchmark_points
    from gridmgr import load_grid

    per_target = int(max(rates) * seconds) * (len(rates) + 1) * max(repeats, 1) + 200
    lon, lat = benchmark_points(load_grid(), per_target, seed=11)
    with contextlib.ExitStack() as stack:
        served = [stack.enter_context(_served(t, workers, console)) for t in targets]
        for one in served:
            constant_rate(one.port, rate=100, seconds=1, request=one.report(lon, lat),
                          headers=one.headers)  # fmt: skip  # warm-up
            one.sent += 100
        for _ in range(max(repeats, 1)):
            for rate in (None, *rates):  # None: the anchor, first on a fresh server
                for one in served:
                    if not one.alive or not _drain(one.port, one.process):
                        one.alive = False
                        continue
                    what = "GET /healthz" if rate is None else "reports"
                    console.print(
                        f"http: {one.target.label}: {rate or min(rates):g} {what}/s "
                        f"for {seconds:g} s ..."
                    )
                    if rate is None:
                        one.anchors.append(
                            costed(one.process.pid, one.port, rate=min(rates), seconds=seconds,
                                   request=_health, headers={})
                        )  # fmt: skip
                        continue
                    one.runs.setdefault(rate, []).append(
                        costed(one.process.pid, one.port, rate=rate, seconds=seconds,
                               request=one.report(lon, lat), headers=one.headers)
                    )  # fmt: skip
                    one.sent += int(rate * seconds)
    return [
        _row(one.runs[rate], one.anchors, target=one.target, seconds=seconds, workers=workers)
        for one in served
        for rate in rates
        if one.runs.get(rate)
    ]


def _health(i: int) -> tuple[str, str, bytes]:
    return "GET", "/healthz", b""


@dataclass
class _Served:
    """A running server for a target, and what was measured on it."""

    target: Target
    process: subprocess.Popen[bytes]
    port: int
    headers: dict[str, str]
    sent: int = 0
    alive: bool = True
    anchors: list[Costed] = field(default_factory=list)
    runs: dict[float, list[Costed]] = field(default_factory=dict)

    def report(self, lon: np.ndarray, lat: np.ndarray) -> Callable[[int], tuple[str, str, bytes]]:
        """The ``i``-th report from here on (a new place each)."""
        first = self.sent

        def request(i: int) -> tuple[str, str, bytes]:
            n = first + i
            body = {
                "lon": float(lon[n]),
                "lat": float(lat[n]),
                "category": "street_vending",
                "description": f"benchmark report {n}",
            }
            return "POST", "/api/v1/reports", json.dumps(body).encode()

        return request


@contextlib.contextmanager
def _served(target: Target, workers: int, console: Console) -> Iterator[_Served]:
    """``target``'s server on a new data folder (and database) while the block runs."""
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        console.print(f"http: starting {target.label} ...")
        token = _token(data_dir) if target.app == "gridmgr" else "none"
        port = _free_port()
        process = _start(data_dir, port, workers, target)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            yield _Served(target, process, port, headers)
        finally:
            _stop(process)


def _drain(port: int, server: subprocess.Popen[bytes], *, within: float = 60.0) -> bool:
    """Wait until the server answers ``GET /healthz`` at once again (a backlog served);
    ``False`` if it died or did not within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and server.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            began = time.monotonic()
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            if time.monotonic() - began < 0.1:
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    return False


def _median_run(runs: list[Costed]) -> tuple[Costed, float]:
    """The run of median CPU a request, and that median."""
    each = statistics.median(r.cpu_ms_each for r in runs)
    return min(runs, key=lambda r: abs(r.cpu_ms_each - each)), each


def _row(
    runs: list[Costed], anchors: list[Costed], *, target: Target, seconds: float, workers: int
) -> Row:
    ours, cpu = _median_run(runs)
    load = ours.load
    if anchors:
        anchor, base_cpu = _median_run(anchors)
        base = anchor.load
        anchor_text = f"{base_cpu:.2f} ms CPU; p50 {base.p50_ms:.1f} ms, p99 {base.p99_ms:.1f} ms"
        ratio = f"{cpu / max(base_cpu, 1e-6):.1f}x the anchor's CPU"
    else:
        anchor_text, ratio = "not measured (server stuck)", "-"
    what = "POST /api/v1/reports" if target.app == "gridmgr" else "POST (bare Flask, no work)"
    return Row(
        f"HTTP {what}, {load.offered:g}/s offered for {seconds:g} s ({CLIENTS} keep-alive "
        f"clients; {target.label} x {workers} worker(s); SQLite; group commit; median of "
        f"{len(runs)})",
        f"{cpu:.2f} ms server CPU a report; {load.sustained:,.0f}/s served ({load.failed} "
        f"failed, {load.unsent} not sent in time); p50 {load.p50_ms:.1f} ms, "
        f"p99 {load.p99_ms:.1f} ms",
        f"GET /healthz, same server, {min(r.load.offered for r in anchors or runs):g}/s",
        anchor_text,
        ratio,
        "≤ 1.0 ms CPU a report; p99 ≤ 50 ms at 300/s",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_bench", description=__doc__)
    parser.add_argument("--rate", type=float, action="append", help="offered rates (repeat)")
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs per figure (median)")
    parser.add_argument("--server", choices=SERVERS, action="append", help="(repeat)")
    parser.add_argument("--app", choices=APPS, action="append", help="(repeat; not with serve)")
    parser.add_argument("--code", type=Path, action="append", help="serve this checkout's "
                        "gridmgr serve too (repeat; '.' is this one)")  # fmt: skip
    args = parser.parse_args()
    servers = args.server or ([] if args.code else ["serve"])
    targets = [
        Target(server, app)
        for server in servers
        for app in (["gridmgr"] if server == "serve" else args.app or ["gridmgr"])
    ]
    for code in args.code or []:  # another checkout's gridmgr serve ('.': this one)
        here = code.resolve() == Path.cwd().resolve()
        targets.append(Target("serve", "gridmgr", None if here else code.resolve()))
    console = Console(width=170)
    rows = run(
        repeats=args.repeats,
        console=console,
        rates=tuple(args.rate or RATES),
        seconds=args.seconds,
        workers=args.workers,
        targets=tuple(dict.fromkeys(targets)),
    )
    print_table(console, rows, "gridmgr HTTP ingest")


if __name__ == "__main__":
    main()
