"""The serving process: prepare once, then serve the app from one or several worker processes.

Preparation (loading and validating the grid, the roster, the routing graphs; creating or
upgrading the database; copying reference data in; demo logins) happens once, before any thread
starts. With ``workers > 1`` the prepared process binds the listening socket and forks: every
worker shares the read-only grid index (copy-on-write), opens its own database connections,
runs its own request threads and group-commit writer, and accepts from the same socket. Only
worker 0 runs the escalation loop and the notification delivery worker. SQLite serializes
writers across processes (``BEGIN IMMEDIATE``), PostgreSQL with its advisory lock, so the
ledger stays one chain.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from gridmgr.services.context import wall_clock

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.routing import RoutingContext
    from gridmgr.settings import Settings
    from gridmgr.store import Store

LEDGER_VERIFY_EVERY = 300.0
"""Seconds between the end-to-end ledger verifications each worker runs for the dashboard."""
SERVE_THREADS = 8
"""Request threads per worker (writes are serialized by the database anyway)."""


@dataclass(frozen=True)
class Prepared:
    """Everything a worker needs, built once before any fork."""

    settings: Settings
    grid: Grid
    context: RoutingContext
    db_url: str
    secret_key: str
    escalate_every: float
    clock: Callable[[], datetime] = wall_clock
    simulate: bool = False
    """Run the demo simulator (:class:`gridmgr.services.simulator.SimulatorLoop`) in worker 0."""


def listen(host: str, port: int) -> socket.socket:
    """The listening socket every worker accepts from."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def run_worker(prepared: Prepared, index: int, sock: socket.socket) -> None:
    """Serve from ``sock`` until stopped: this process's store, app, threads and writer."""
    import waitress

    from gridmgr.api import create_app, mount_dashboard
    from gridmgr.services.escalation import EscalationLoop
    from gridmgr.store import open_store
    from gridmgr.web.sessions import init_sessions

    store = open_store(prepared.db_url)
    context = prepared.context
    app = create_app(
        prepared.settings,
        prepared.grid,
        context.roster,
        store=store,
        context=context,
        clock=prepared.clock,
    )
    init_sessions(
        app,
        store=store,
        roster_provider=lambda: context.roster,
        secret_key=prepared.secret_key,
        clock=prepared.clock,
        secure_cookies=prepared.settings.secure_cookies,
    )
    mount_dashboard(
        app,
        prepared.grid,
        store=store,
        context=context,
        clock=prepared.clock,
        tile_url=prepared.settings.tile_url,
        verify_every=LEDGER_VERIFY_EVERY,
    )
    loop = None
    if index == 0 and prepared.escalate_every > 0:
        loop = EscalationLoop(
            store,
            context,
            every=prepared.escalate_every,
            clock=prepared.clock,
            due_within_hours=prepared.settings.due_within_hours,
        )
        loop.start()
    notifier = None
    if index == 0:  # notices are delivered by one process; the outbox keeps them meanwhile
        from gridmgr.services.delivery import DeliveryWorker, channels_from_settings

        channels = channels_from_settings(prepared.settings)
        if channels:
            notifier = DeliveryWorker(store, channels, clock=prepared.clock)
            notifier.start()
    simulator = None
    if index == 0 and prepared.simulate:
        import secrets

        from gridmgr.services.simulator import SimulatorLoop

        simulator = SimulatorLoop(
            store,
            context,
            clock=prepared.clock,
            seed=secrets.randbits(32),  # a new seed each start: new case ids, no collision
            speed=prepared.settings.simulate_speed,
        )
        simulator.start()
    try:
        # waitress: a production WSGI server in pure Python, threaded, TCP_NODELAY on
        waitress.serve(app, sockets=[sock], threads=SERVE_THREADS, ident="gridmgr", _quiet=True)
    finally:
        if simulator is not None:
            simulator.stop()
        if loop is not None:
            loop.stop()
        if notifier is not None:
            notifier.stop()
        app.extensions["gridmgr_ingestor"].close()
        store.close()


def serve_forever(prepared: Prepared, *, workers: int) -> None:
    """Bind, fork ``workers - 1`` children, and serve as worker 0; children die with us."""
    sock = listen(prepared.settings.host, prepared.settings.port)
    children: list[int] = []
    for index in range(1, workers):
        pid = os.fork()
        if pid == 0:  # the child: serve, and never return into the parent's code
            _die_with_parent()
            code = 0
            try:
                run_worker(prepared, index, sock)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    try:
        run_worker(prepared, 0, sock)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        sock.close()


def is_new_database(url: str) -> bool:
    """Whether the database at ``url`` has no schema yet (``serve`` is about to create it)."""
    from gridmgr.store.engine import make_engine
    from gridmgr.store.migrate import current_revision

    try:
        engine = make_engine(url, pool=False)
    except Exception:  # open_store reports the problem properly right after
        return False
    try:
        return current_revision(engine) is None
    except Exception:
        return False
    finally:
        engine.dispose()


def wants_simulator(settings: Settings, store: Store, *, fresh: bool) -> bool:
    """Whether ``serve`` runs the demo simulator: as told, else in demo mode on a database that
    is new or that the simulator made (so a demo keeps living across restarts, and a real
    database never gets synthetic cases unasked)."""
    if settings.simulate is not None:
        return settings.simulate
    if not settings.demo:
        return False
    from gridmgr.services.simulator import is_simulated

    return fresh or is_simulated(store)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies (no orphaned workers)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
