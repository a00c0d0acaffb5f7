"""Several nodes benchmark: reports per second through 1, 2 and 3 ``gridmgr serve`` processes
on one PostgreSQL database, all on this machine.

Three ``gridmgr serve --role web`` processes (one waitress worker of 8 threads each, no
background work) share one fresh PostgreSQL schema. A closed-loop load generator of 16 client
threads, each with its own keep-alive connection, sends ``POST /api/v1/reports`` back to back for
``--seconds``, round-robin over the first 1, 2 or 3 nodes; the figure is reports served per
second (median of the repeats) and what each node and PostgreSQL cost in CPU meanwhile (from
``/proc``). Anchor, same run, same generator: ``GET /healthz`` of one node, and the 1-node figure
as the base of the 2- and 3-node ratios.

The machine's cores are shared by the nodes, PostgreSQL and the load generator, so more nodes
here add no CPU: the benchmark measures what running several nodes costs, not what it gains.

PostgreSQL from ``GRIDMGR_BENCH_PG_URL`` (else ``GRIDMGR_TEST_PG_URL``). Run alone:
``python -m benchmarks.nodes_bench [--seconds 10] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console

from benchmarks.common import Row, print_table
from benchmarks.http_bench import _free_port, server_cpu_seconds
from benchmarks.store_bench import libpq_dsn, pg_url_from_env

CLIENTS = 16
SECONDS = 8.0
NODES = (1, 2, 3)
STARTUP_S = 240.0


@dataclass(frozen=True)
class Load:
    """One closed-loop run: requests served per second, failures, and CPU seconds spent by the
    nodes, by PostgreSQL and by the whole machine."""

    served: float
    failed: int
    node_cpu_s: float
    pg_cpu_s: float
    generator_cpu_s: float
    machine_cpu_s: float
    seconds: float


def postgres_cpu_seconds() -> float:
    """CPU time (user + system) used so far by every ``postgres`` process of this machine, and
    by the backends that have ended (their parent, the postmaster, keeps their time): the whole
    server, so another user of it counts too."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text[text.index("(") + 1 : text.rindex(")")] == "postgres":
            fields = text[text.rindex(")") + 2 :].split()
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / tick


def generator_cpu_seconds() -> float:
    """CPU time used so far by this process (the load generator's threads)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine so far (all cores; ``/proc/stat`` without idle)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def closed_loop(
    ports: list[int],
    groups: list[int],
    *,
    seconds: float,
    request: Callable[[int], tuple[str, str, bytes]],
    headers: dict[str, str],
) -> Load:
    """:data:`CLIENTS` threads sending back to back for ``seconds``, client ``k`` to node
    ``k mod len(ports)``; the requests answered 2xx per second."""
    served = [0] * CLIENTS
    failed = [0] * CLIENTS
    counter = iter(range(10**9))
    lock = threading.Lock()
    go = threading.Event()
    stop_at = [0.0]

    def client(k: int) -> None:
        port = ports[k % len(ports)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        go.wait()
        while time.perf_counter() < stop_at[0]:
            with lock:
                i = next(counter)
            method, path, body = request(i)
            try:
                conn.request(method, path, body=body or None, headers=headers)
                reply = conn.getresponse()
                reply.read()
                if reply.status < 300:
                    served[k] += 1
                else:
                    failed[k] += 1
            except (OSError, http.client.HTTPException):
                failed[k] += 1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    nodes0 = sum(server_cpu_seconds(g) for g in groups)
    pg0, generator0 = postgres_cpu_seconds(), generator_cpu_seconds()
    machine0 = machine_cpu_seconds()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    go.set()
    for t in threads:
        t.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - began
    return Load(
        sum(served) / elapsed,
        sum(failed),
        sum(server_cpu_seconds(g) for g in groups) - nodes0,
        postgres_cpu_seconds() - pg0,
        generator_cpu_seconds() - generator0,
        machine_cpu_seconds() - machine0,
        elapsed,
    )


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new PostgreSQL schema for the run (dropped after): the URL whose search_path is it."""
    import psycopg

    schema = f"bench_nodes_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema},public"
    finally:
        with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def start_node(root: Path, name: str, db: str) -> tuple[subprocess.Popen[bytes], int]:
    """``gridmgr serve --role web`` on a free port with its own data folder (not yet serving)."""
    data_dir = root / name
    data_dir.mkdir(mode=0o700)
    env = {
        **os.environ,
        "GRIDMGR_DATA_DIR": str(data_dir),
        "GRIDMGR_RATE_LIMIT_TOKEN": "1000000 per minute",
        "GRIDMGR_RATE_LIMIT_IP": "1000000 per minute",
    }
    env.pop("GRIDMGR_DB", None)
    port = _free_port()
    command = [sys.executable, "-m", "gridmgr", "serve", "--db", db, "--port", str(port)]
    command += ["--role", "web", "--no-simulate"]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=(root / f"{name}.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, port


def wait_serving(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gridmgr serve exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"gridmgr serve on port {port} did not answer in {STARTUP_S:g} s")


def operator_token(db: str, log: Path) -> str:
    """A personal token of the demo operator a node printed at start, made in the database."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.store import open_store

    found = re.search(r"^\s+operator\b.*?(P\d{5})", log.read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no demo operator in {log}")
    store = open_store(db)
    try:
        return store.create_credential(
            kind="person", subject=found.group(1), now=datetime.now(TZ), days=1
        )
    finally:
        store.close()


def machine_name() -> str:
    """This machine's CPU model and core count, for the table."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {model}"


def run(*, repeats: int, console: Console, seconds: float = SECONDS) -> list[Row]:
    """Reports per second through 1, 2 and 3 nodes on one PostgreSQL, beside ``GET /healthz``
    of one node; ``min(repeats, 3)`` rounds, each measuring the anchor then 1, 2, 3 nodes."""
    found = pg_url_from_env()
    if found is None:
        console.print("nodes: skipped (set GRIDMGR_BENCH_PG_URL or GRIDMGR_TEST_PG_URL)")
        return []
    from benchmarks.grid_bench import benchmark_points
    from gridmgr import load_grid

    lon, lat = benchmark_points(load_grid(), 100_000, seed=19)
    serial = iter(range(10**9))

    def report(_: int) -> tuple[str, str, bytes]:
        n = next(serial)
        body = {
            "lon": float(lon[n % len(lon)]),
            "lat": float(lat[n % len(lat)]),
            "category": "street_vending",
            "description": f"benchmark report {n}",
        }
        return "POST", "/api/v1/reports", json.dumps(body).encode()

    def healthz(_: int) -> tuple[str, str, bytes]:
        return "GET", "/healthz", b""

    rounds = max(1, min(repeats, 3))
    anchors: list[Load] = []
    loads: dict[int, list[Load]] = {k: [] for k in NODES}
    with tempfile.TemporaryDirectory() as folder, fresh_schema(found[0]) as db:
        root = Path(folder)
        console.print("nodes: starting 3 gridmgr serve --role web on one PostgreSQL schema ...")
        nodes = [start_node(root, "n1", db)]
        try:
            wait_serving(*nodes[0])  # the first node makes the database
            nodes += [start_node(root, name, db) for name in ("n2", "n3")]
            for node in nodes[1:]:
                wait_serving(*node)
            headers = {
                "Authorization": f"Bearer {operator_token(db, root / 'n1.log')}",
                "Content-Type": "application/json",
            }
            ports, groups = [p for _, p in nodes], [n.pid for n, _ in nodes]
            closed_loop(ports, groups, seconds=2, request=report, headers=headers)  # warm-up
            for r in range(rounds):
                console.print(f"nodes: round {r + 1} of {rounds}: /healthz, then 1, 2, 3 nodes")
                anchors.append(
                    closed_loop(ports[:1], groups[:1], seconds=seconds, request=healthz, headers={})
                )
                for k in NODES:
                    loads[k].append(
                        closed_loop(
                            ports[:k], groups[:k], seconds=seconds, request=report, headers=headers
                        )
                    )
        finally:
            for process, _ in nodes:
                os.killpg(process.pid, signal.SIGTERM)
            for process, _ in nodes:
                process.wait(timeout=60)
    rows = _rows(anchors, loads, seconds=seconds)
    console.print(_limits(loads))
    return rows


def _median(loads: list[Load], figure: Callable[[Load], float]) -> float:
    return statistics.median(figure(x) for x in loads)


def _rows(anchors: list[Load], loads: dict[int, list[Load]], *, seconds: float) -> list[Row]:
    base = _median(loads[1], lambda x: x.served)
    anchor = _median(anchors, lambda x: x.served)
    rows = []
    for k in NODES:
        served = _median(loads[k], lambda x: x.served)
        rows.append(
            Row(
                f"POST /api/v1/reports through {k} node(s) on one PostgreSQL ({CLIENTS} "
                f"closed-loop clients, {seconds:g} s, median of {len(loads[k])} rounds; serve "
                f"--role web, 1 worker x 8 threads each); {machine_name()}",
                f"{served:,.0f} reports/s ({sum(x.failed for x in loads[k])} failed); CPU a "
                f"report: nodes {_median(loads[k], _per_report('node_cpu_s')):.1f} ms, PostgreSQL "
                f"{_median(loads[k], _per_report('pg_cpu_s')):.1f} ms; CPU cores "
                f"busy: nodes {_median(loads[k], _cores('node_cpu_s')):.2f}, PostgreSQL "
                f"{_median(loads[k], _cores('pg_cpu_s')):.2f}, load generator "
                f"{_median(loads[k], _cores('generator_cpu_s')):.2f}, whole machine "
                f"{_median(loads[k], _cores('machine_cpu_s')):.2f}",
                "GET /healthz of 1 node, same clients; and the 1-node rate",
                f"{anchor:,.0f} requests/s; {base:,.0f} reports/s",
                f"{served / base:.2f}x the 1-node rate; {served / anchor:.2f}x /healthz",
                "–",
            )
        )
    return rows


def _per_report(name: str) -> Callable[[Load], float]:
    """CPU milliseconds of a load per request served."""
    return lambda x: 1e3 * float(getattr(x, name)) / max(x.served * x.seconds, 1.0)


def _cores(name: str) -> Callable[[Load], float]:
    """CPU seconds of a load, per second of its run: how many cores it kept busy."""
    return lambda x: float(getattr(x, name)) / x.seconds


def _limits(loads: dict[int, list[Load]]) -> str:
    """The plain sentence: what this machine's cores limit, from the 1-node runs' CPU."""
    one = loads[1]
    busy = _median(one, _cores("machine_cpu_s"))
    ours = {
        "the node": _median(one, _cores("node_cpu_s")),
        "PostgreSQL (the whole server, its other users included)": _median(one, _cores("pg_cpu_s")),
        "the load generator": _median(one, _cores("generator_cpu_s")),
    }
    other = max(busy - sum(ours.values()), 0.0)
    shares = ", ".join(f"{name} {cores:.2f}" for name, cores in ours.items())
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    return (
        f"What the {cores} cores limit: with one node the machine was {busy:.2f} of {cores} cores "
        f"busy ({shares}, other processes {other:.2f}; load average {load:.1f}). The nodes, "
        "PostgreSQL and the load generator share these cores, so a second or third node on "
        "this machine adds no CPU: a higher rate with more nodes here is more processes "
        "taking a larger share of busy cores, not scale-out. These figures show that several "
        "nodes work on one database and what they cost; scale-out needs each node on cores "
        "of its own, and then PostgreSQL's commit rate is the next limit (one ledger chain: "
        "writes are serialized)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nodes_bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    console = Console(width=170)
    rows = run(repeats=args.repeats, console=console, seconds=args.seconds)
    print_table(console, rows, "gridmgr: several nodes on one PostgreSQL")


if __name__ == "__main__":
    main()
