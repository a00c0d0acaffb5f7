"""Three real ``gridmgr serve`` processes on one PostgreSQL database, as a deployment runs them.

Nodes ``a`` and ``b`` run with ``--role all`` (HTTP and background work), node ``c`` with
``--role web``; each has its own data folder and port, and all deliver notices to one local
webhook receiver. Reports and actions go round-robin through every node; a drill category with a
1-minute 派遣 stage on the natural clock makes every case overdue while the test runs. The node
holding delivery claims is killed (SIGKILL) mid-run; the survivors finish: every notice reaches
the receiver (once; at most the one notice the dead node was sending when it died twice, which
is what ``X-Gridmgr-Delivery`` is for), and every overdue stage is escalated exactly once.
Then ``gridmgr roster import`` on one node adds a person every node serves within 10 s.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gridmgr.services.delivery import verify_signature
from gridmgr.shipped import shipped_data_dir

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DRILL = "nodes_drill"
DRILL_ROW = (  # natural clock: 立案 within 10 min, 派遣 within 1 min, whatever the hour or day
    f"{DRILL},节点演练,Nodes drill,city_appearance,town,town_team,normal,natural,2h,1d,1d,no,"
    "penalty,,50,1d,,10m,1m,30m,30m,30m,,public"
)
REPORTS = 300
SECRET = "nodes-drill-webhook-secret"
LEASE_S = 10
RECEIVER_DELAY_S = 0.01
"""A receiver that takes a moment, so a node's delivery pass lasts long enough to be caught."""
STARTUP_S = 180.0


@dataclass
class Received:
    """What the webhook receiver was sent: one delivery id per POST, in order."""

    ids: list[int] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def receiver(received: Received) -> ThreadingHTTPServer:
    """A local webhook endpoint that checks each signature and records ``X-Gridmgr-Delivery``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            stamp = self.headers.get("X-Gridmgr-Timestamp", "")
            signature = self.headers.get("X-Gridmgr-Signature", "")
            signed = verify_signature(SECRET, stamp, body, signature)
            time.sleep(RECEIVER_DELAY_S)
            with received.lock:
                received.ids.append(int(self.headers["X-Gridmgr-Delivery"]))
                received.bad_signatures += not signed
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    """One ``gridmgr serve`` process with its own data folder and port."""

    name: str
    role: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_node(root: Path, name: str, role: str, db: str, webhook: str) -> Node:
    """Start ``gridmgr serve`` for node ``name`` (not waiting for it to answer)."""
    data_dir = root / name
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if name == "a":  # the first node's folder seeds the new database: the drill category too
        shipped = (shipped_data_dir() / "catalog.csv").read_text(encoding="utf-8-sig")
        (data_dir / "catalog.csv").write_text(shipped.rstrip("\n") + "\n" + DRILL_ROW + "\n")
    env = {
        **os.environ,
        "GRIDMGR_DATA_DIR": str(data_dir),
        "GRIDMGR_WEBHOOK_URL": webhook,
        "GRIDMGR_WEBHOOK_SECRET": SECRET,
        "GRIDMGR_DELIVERY_LEASE_S": str(LEASE_S),
        "GRIDMGR_RATE_LIMIT_TOKEN": "1000000 per minute",
        "GRIDMGR_RATE_LIMIT_IP": "1000000 per minute",
    }
    env.pop("GRIDMGR_DB", None)
    port = free_port()
    command = [sys.executable, "-m", "gridmgr", "serve", "--db", db, "--port", str(port)]
    command += ["--role", role, "--no-simulate", "--escalate-every", "2"]
    with (root / f"{name}.log").open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Node(name, role, port, data_dir, process)


def wait_serving(nodes: list[Node]) -> None:
    """Wait until every node answers ``GET /healthz``; fail with its log if one exits."""
    deadline = time.monotonic() + STARTUP_S
    for node in nodes:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if node.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"node {node.name} did not serve:\n{node.log.read_text()[-3000:]}")
            time.sleep(0.3)


class Cluster:
    """Round-robin over the nodes that serve HTTP, as a load balancer does: a node that is
    down is skipped, and a request it never answered goes to the next."""

    def __init__(self, nodes: list[Node], token: str) -> None:
        self.nodes = [n for n in nodes if n.role != "worker"]
        self.down: set[str] = set()
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, i: int, path: str, body: Mapping[str, object]) -> tuple[int, dict[str, object]]:
        for k in range(len(self.nodes) * 2):
            node = self.nodes[(i + k) % len(self.nodes)]
            if node.name in self.down:
                continue
            try:
                conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
                conn.request("POST", path, body=json.dumps(body), headers=self.headers)
                reply = conn.getresponse()
                return reply.status, json.loads(reply.read() or b"{}")
            except (OSError, http.client.HTTPException):
                continue  # the node died under us: the balancer tries the next one
        raise AssertionError(f"no node answered POST {path}")


def drill_points(n: int) -> list[tuple[float, float]]:
    """``n`` points in central Jiangyin (澄江街道), on a 20 x 15 lattice about 150 m apart."""
    return [(120.265 + 0.0015 * (k % 20), 31.895 + 0.0013 * (k // 20)) for k in range(n)]


def query(dsn: str, schema: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}", public')
        return list(conn.execute(sql).fetchall())


def wait_until(condition: Callable[[], bool], *, within: float, every: float = 0.5) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(every)
    return condition()


@pytest.fixture
def drill_db(pg_url: str, pg_dsn: str) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL schema for the drill: (SQLAlchemy URL with its search_path, schema)."""
    schema = f"t_nodes_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{separator}options=-csearch_path%3D{schema},public", schema
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def operator_token(node: Node, db: str) -> str:
    """A personal API token of the demo operator node ``a`` printed, made in the database."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.store import open_store

    found = re.search(r"^\s+operator\b.*?(P\d{5})", node.log.read_text(), re.MULTILINE)
    assert found is not None, node.log.read_text()
    store = open_store(db)
    try:
        return store.create_credential(
            kind="person", subject=found.group(1), now=datetime.now(TZ), days=1
        )
    finally:
        store.close()


@dataclass
class Kill:
    """The node killed while it held delivery claims, and the deliveries it still held."""

    node: str
    held: set[int]


def kill_the_delivering_node(
    nodes: list[Node], cluster: Cluster, dsn: str, schema: str, *, within: float
) -> Kill | None:
    """Wait until a node holds a live claim on a delivery, then SIGKILL it (the balancer takes
    it out first); ``None`` if no claim was seen within ``within`` seconds."""
    by_pid = {n.process.pid: n for n in nodes}
    end = time.monotonic() + within
    while time.monotonic() < end:
        rows = query(
            dsn,
            schema,
            "SELECT DISTINCT claimed_by FROM notification_deliveries "
            "WHERE status = 'pending' AND lease_until > now()",
        )
        for (claimed_by,) in rows:
            node = by_pid.get(int(str(claimed_by).split(":")[1]))
            if node is not None and node.process.poll() is None:
                cluster.down.add(node.name)
                os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait(timeout=10)
                held = query(
                    dsn,
                    schema,
                    "SELECT id FROM notification_deliveries "
                    f"WHERE status = 'pending' AND claimed_by = '{claimed_by}'",
                )
                return Kill(node.name, {int(r[0]) for r in held})
        time.sleep(0.05)
    return None


def send_reports(cluster: Cluster) -> list[str]:
    """:data:`REPORTS` drill reports, round-robin through the nodes from 6 client threads."""

    def one(k: int, point: tuple[float, float]) -> str:
        body = {"lon": point[0], "lat": point[1], "category": DRILL, "description": f"演练 {k}"}
        status, reply = cluster.post(k, "/api/v1/reports", body)
        assert status == 201, reply
        assert (reply["queue"], reply["state"]) == ("cell", "reported"), reply
        return str(reply["case_id"])

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(one, range(REPORTS), drill_points(REPORTS)))


def send_actions(cluster: Cluster, cases: list[str]) -> collections.Counter[int]:
    """Register (立案) every case, round-robin; the answers' status codes."""

    def one(k: int, case_id: str) -> int:
        body = {"action": "register", "comment": "立案（演练）"}
        status, reply = cluster.post(k, f"/api/v1/cases/{case_id}/actions", body)
        assert status == 200 or "register" in str(reply), reply  # 409: a retry after a death
        return status

    with ThreadPoolExecutor(6) as pool:
        return collections.Counter(pool.map(one, range(len(cases)), cases))


def test_nodes_share_the_work_and_finish_a_killed_node_s(
    tmp_path: Path, drill_db: tuple[str, str], pg_dsn: str
) -> None:
    db, schema = drill_db
    received = Received()
    hook = receiver(received)
    webhook = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    nodes: list[Node] = []
    try:
        nodes.append(start_node(tmp_path, "a", "all", db, webhook))
        wait_serving(nodes)  # node a makes the database and seeds it from its folder
        nodes += [start_node(tmp_path, "b", "all", db, webhook)]
        nodes += [start_node(tmp_path, "c", "web", db, webhook)]
        wait_serving(nodes)
        cluster = Cluster(nodes, operator_token(nodes[0], db))
        cases = send_reports(cluster)
        killed: list[Kill | None] = []
        killer = threading.Thread(
            target=lambda: killed.append(
                kill_the_delivering_node(nodes[:2], cluster, pg_dsn, schema, within=120)
            )
        )
        killer.start()
        statuses = send_actions(cluster, cases)
        killer.join()
        kill = killed[0]
        assert kill is not None, "no node was seen holding a delivery claim"
        assert set(statuses) <= {200, 409}, statuses
        survivors = [n for n in nodes if n.name != kill.node]
        assert all(n.process.poll() is None for n in survivors)
        # while the 派遣 stages run towards their deadline, the roster changes under the nodes
        check_roster_followed(tmp_path, survivors, db, cluster.headers)
        check_escalated_once(pg_dsn, schema, cases)
        check_delivered_once(pg_dsn, schema, received, kill)
    finally:
        for node in nodes:
            node.stop()
        hook.shutdown()
        for node in nodes:
            print(f"--- node {node.name} ({node.role}) ---\n{node.log.read_text()[-1500:]}")


def check_escalated_once(dsn: str, schema: str, cases: list[str]) -> None:
    """Every case was registered once, and its 派遣 stage, overdue after a minute, escalated
    once: by one node, however many run the escalation loop."""

    def counted(action: str) -> collections.Counter[str]:
        rows = query(dsn, schema, f"SELECT case_id FROM case_events WHERE action = '{action}'")
        return collections.Counter(str(r[0]) for r in rows)

    assert wait_until(lambda: set(counted("escalate")) >= set(cases), within=150), (
        f"{len(set(counted('escalate')) & set(cases))} of {len(cases)} cases escalated"
    )
    time.sleep(5)  # a few more escalation passes on the surviving nodes: nothing climbs again
    escalated, registered = counted("escalate"), counted("register")
    assert {c: registered[c] for c in cases} == dict.fromkeys(cases, 1)
    assert {c: escalated[c] for c in cases} == dict.fromkeys(cases, 1)
    stages = query(dsn, schema, "SELECT comment FROM case_events WHERE action = 'escalate'")
    assert all(str(c[0]).startswith("dispatch overdue") for c in stages), stages[:3]


def check_delivered_once(dsn: str, schema: str, received: Received, kill: Kill) -> None:
    """Every notice has one webhook delivery, delivered; the receiver got each once — save at
    most one, which the killed node was sending when it died (at least once, as documented)."""

    def pending() -> int:
        sql = (
            "SELECT count(*) FROM notifications n LEFT JOIN notification_deliveries d "
            "ON d.notification_id = n.id AND d.channel = 'webhook' "
            "WHERE d.id IS NULL OR d.status <> 'delivered'"
        )
        return int(query(dsn, schema, sql)[0][0])

    assert wait_until(lambda: pending() == 0, within=90), f"{pending()} notices not delivered"
    rows = query(dsn, schema, "SELECT id FROM notification_deliveries WHERE channel = 'webhook'")
    planned = {int(r[0]) for r in rows}
    notices = int(query(dsn, schema, "SELECT count(*) FROM notifications")[0][0])
    with received.lock:
        got = collections.Counter(received.ids)
        assert received.bad_signatures == 0
    twice = {i for i, n in got.items() if n > 1}
    assert notices >= 2 * REPORTS  # two escalation notices a case at least
    assert len(planned) == notices
    assert set(got) == planned, f"missing {sorted(planned - set(got))[:10]}"
    print(
        f"node {kill.node} killed holding {len(kill.held)} deliveries; {len(planned)} notices, "
        f"{len(received.ids)} webhook posts, {len(twice)} twice"
    )
    assert twice <= kill.held, (twice, kill)
    assert len(twice) <= 1, twice


NEWCOMER = "P09001"


def check_roster_followed(
    root: Path, nodes: list[Node], db: str, headers: Mapping[str, str]
) -> None:
    """``gridmgr roster import`` on one node (its data folder, the shared database) adds a
    person; every serving node answers for him within 10 s, without a restart."""
    folder = root / "roster-import"
    shutil.copytree(nodes[0].data_dir / "roster", folder)
    with (folder / "persons.csv").open("a", encoding="utf-8") as persons:
        persons.write(f"{NEWCOMER},演练新人,13800000000,,2\n")
    assert [person_status(n, headers) for n in nodes] == [404] * len(nodes)
    env = {**os.environ, "GRIDMGR_DATA_DIR": str(nodes[0].data_dir)}
    env.pop("GRIDMGR_DB", None)
    done = subprocess.run(
        [sys.executable, "-m", "gridmgr", "roster", "import", str(folder), "--db", db],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert wait_until(
        lambda: all(person_status(n, headers) == 200 for n in nodes), within=10, every=0.2
    ), [person_status(n, headers) for n in nodes]


def person_status(node: Node, headers: Mapping[str, str]) -> int:
    """The status of ``GET /api/v1/persons/NEWCOMER`` on ``node`` (the roster it serves)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    conn.request("GET", f"/api/v1/persons/{NEWCOMER}", headers=dict(headers))
    reply = conn.getresponse()
    reply.read()
    return reply.status
