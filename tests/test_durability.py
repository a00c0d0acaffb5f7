"""Pulling the plug loses no acknowledged report: the server is SIGKILLed mid-stream, ten times.

A real ``gridmgr serve`` process (SQLite, WAL, synchronous=FULL) takes reports over HTTP from
two client threads. Every 201 is an acknowledgement. At a random moment the process is killed
with SIGKILL — no shutdown code runs — and started again on the same database. After ten
cycles every acknowledged report must be present and complete, and the ledger must verify.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from gridmgr import Grid
from gridmgr.datafiles import load_roster
from gridmgr.grid.generations import store_generation
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER
from gridmgr.settings import Settings
from gridmgr.store import open_store

CYCLES = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stream:
    """Reports posted by client threads until the server goes away; what was acknowledged."""

    base: str
    token: str
    acknowledged: dict[str, str] = field(default_factory=dict)  # case_id -> description
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, stop: threading.Event, worker: int) -> None:
        rng = random.Random(worker)
        n = 0
        while not stop.is_set():
            n += 1
            description = f"durability w{worker} #{n} {time.time_ns()}"
            body = json.dumps(
                {
                    "lon": rng.uniform(120.01, 120.49),
                    "lat": rng.uniform(31.51, 31.99),
                    "category": "street_vending",
                    "description": description,
                }
            ).encode()
            request = urllib.request.Request(
                f"{self.base}/api/v1/reports",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self.token}",
                },
                method="POST",
            )
            with self.lock:
                self.sent += 1
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:
                    if reply.status == 201:
                        case_id = json.loads(reply.read())["case_id"]
                        with self.lock:
                            self.acknowledged[case_id] = description
            except (urllib.error.URLError, http.client.HTTPException, OSError):
                return  # the server is gone: whatever was not acknowledged may be lost


def gone(pid: int, *, within: float = 10.0) -> bool:
    """Whether process ``pid`` has exited (a zombie awaiting its reaper counts as exited)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                if any(line.startswith("State:\tZ") for line in status):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def start_server(
    data_dir: Path, db: str, port: int, *, workers: int = 1
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GRIDMGR_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gridmgr.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--db",
            db,
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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"gridmgr serve exited with {process.returncode}: {err[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return process
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    process.kill()
    pytest.fail("gridmgr serve did not answer within 60 s")


def prepare(tmp_path: Path, tiny: Grid) -> tuple[Path, str, str]:
    """A data folder on the tiny grid, an initialised SQLite file, and an operator's token."""
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    store_generation(tiny, settings)
    roster = load_roster(settings, tiny)
    now = datetime.now(TZ)
    operator = sorted(a.person_id for a in roster.holders(COMMAND_CENTER, now))[0]
    db = str(tmp_path / "gridmgr.sqlite")
    store = open_store(f"sqlite:///{db}", create=True)
    token = store.create_credential(kind="person", subject=operator, now=now, days=1)
    store.close()
    return data_dir, db, token


@pytest.mark.slow
def test_no_acknowledged_report_is_lost_when_the_server_is_killed(
    tmp_path: Path, tiny: Grid
) -> None:
    data_dir, db, token = prepare(tmp_path, tiny)
    rng = random.Random(2026)
    port = free_port()
    stream = Stream(f"http://127.0.0.1:{port}", token)
    kills = 0

    for _ in range(CYCLES):
        server = start_server(data_dir, db, port)
        stop = threading.Event()
        before = len(stream.acknowledged)
        clients = [
            threading.Thread(target=stream.run, args=(stop, w), daemon=True) for w in range(2)
        ]
        for client in clients:
            client.start()
        time.sleep(rng.uniform(0.4, 1.2))
        os.killpg(server.pid, signal.SIGKILL)  # no shutdown code runs
        server.wait(timeout=30)
        kills += 1
        stop.set()
        for client in clients:
            client.join(timeout=30)
        assert len(stream.acknowledged) > before, "no report was acknowledged in this cycle"

    store = open_store(f"sqlite:///{db}")
    try:
        assert kills == CYCLES
        for case_id, description in stream.acknowledged.items():
            case = store.case(case_id)
            assert case.description == description
            assert case.cell is not None
            trail = store.trail(case_id)
            assert [e.action for e in trail] == ["report"]
            assert trail[0].verified
        verification = store.verify_ledger()
        assert verification.ok, verification.problem
        stored = store.count_cases()
        assert len(stream.acknowledged) <= stored <= stream.sent
        reports = sum(1 for e in store.ledger_events() if e.kind == "case.report")
        assert reports == stored  # one ledger event per report, no more, no less
        print(  # shown with -s: what the run did
            f"\n{kills} kills, {stream.sent} sent, {len(stream.acknowledged)} acknowledged, "
            f"{stored} stored, ledger {verification.count} events verified"
        )
    finally:
        store.close()


@pytest.mark.slow
def test_several_worker_processes_share_the_port_and_keep_one_ledger(
    tmp_path: Path, tiny: Grid
) -> None:
    data_dir, db, token = prepare(tmp_path, tiny)
    port = free_port()
    stream = Stream(f"http://127.0.0.1:{port}", token)
    server = start_server(data_dir, db, port, workers=2)
    children = subprocess.run(
        ["pgrep", "-P", str(server.pid)], capture_output=True, text=True, check=False
    ).stdout.split()

    stop = threading.Event()
    clients = [threading.Thread(target=stream.run, args=(stop, w), daemon=True) for w in range(4)]
    for client in clients:
        client.start()
    time.sleep(1.5)
    stop.set()
    for client in clients:
        client.join(timeout=30)
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)

    assert len(children) == 1  # worker 0 is the parent; one forked worker beside it
    for pid in children:
        assert gone(pid), "a worker outlived the server"
    store = open_store(f"sqlite:///{db}")
    try:
        assert len(stream.acknowledged) > 20
        for case_id, description in stream.acknowledged.items():
            assert store.case(case_id).description == description
        assert store.verify_ledger().ok
    finally:
        store.close()
