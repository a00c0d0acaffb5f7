"""The serving process: prepare once, then serve the app from one or several worker processes.

Preparation (loading and validating the grid, the roster, the routing graphs; creating or
upgrading the database; copying reference data in; demo logins) happens once, before any thread
starts. With ``workers > 1`` the prepared process binds the listening socket and forks: every
worker shares the read-only grid index (copy-on-write), opens its own database connections,
runs its own request threads and group-commit writer, and accepts from the same socket. SQLite
serializes writers across processes (``BEGIN IMMEDIATE``), PostgreSQL with its advisory lock, so
the ledger stays one chain.

Background work runs in worker 0 of a node whose role (``serve --role``) is ``all`` or
``worker``; a ``web`` node serves HTTP only, a ``worker`` node runs the background only. With
several nodes on one PostgreSQL database, the single-runner jobs (escalation, the simulator,
the ledger watch, the contact erasure, the scheduled checkpoint) each run on the one node that
holds the job's advisory lock (:class:`~gridmgr.services.loops.SingleRunner`), and every worker
node delivers notices, each claiming its own under a lease. Every serving process, of every role,
polls the database's reference counters and swaps in a roster, catalog or grid another node changed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gridmgr.services.context import wall_clock
from gridmgr.services.loops import Job, PeriodicLoop, SingleRunner

if TYPE_CHECKING:
    from flask import Flask

    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.routing import RoutingContext
    from gridmgr.services.context import Services, Store
    from gridmgr.settings import Settings

LEDGER_VERIFY_EVERY = 60.0
"""Seconds between two passes of the ledger watch (one node runs them, every panel reads the
latest): each verifies the new events, or the whole chain when the last full verification is
older than ``GRIDMGR_FULL_VERIFY_HOURS`` (:mod:`gridmgr.services.ledgerwatch`)."""
CONTACT_ERASURE_EVERY = 3600.0
"""Seconds between passes erasing reporters' contacts whose retention is over."""
SERVE_THREADS = 8
"""Request threads per worker (writes are serialized by the database anyway)."""
ROLES = ("all", "web", "worker")
"""What a node does: HTTP and background work, HTTP only, background work only."""


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
    role: str = "all"
    """One of :data:`ROLES`."""

    @property
    def runs_background(self) -> bool:
        """Whether this node runs background work (its role is ``all`` or ``worker``)."""
        return self.role in ("all", "worker")


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
    """Serve from ``sock`` until stopped: this process's services, app, threads and writer."""
    import waitress

    from gridmgr.services.context import close_services, open_services

    settings = prepared.settings
    services = open_services(prepared.db_url, prepared.context, settings, clock=prepared.clock)
    try:
        app = worker_app(prepared, services)
        with _following_reference(services), _background(prepared, index, services):
            # waitress: a production WSGI server in pure Python, threaded, TCP_NODELAY on
            waitress.serve(
                app,
                sockets=[sock],
                threads=SERVE_THREADS,
                ident="gridmgr",
                _quiet=True,
                **proxy_options(settings),
            )
    finally:
        close_services(services)


def worker_app(prepared: Prepared, services: Services) -> Flask:
    """The WSGI application one worker serves on ``services``: the API, Open311, sessions, the
    field app and the dashboard (whose watch runs with the background work)."""
    from dashboards import mount_dashboard
    from gridmgr.api import create_app
    from gridmgr.web.fieldapp import init_field_app
    from gridmgr.web.sessions import init_sessions

    settings = prepared.settings
    app = create_app(settings, prepared.grid, services.roster, services=services)
    init_sessions(app, secret_key=prepared.secret_key, secure_cookies=settings.secure_cookies)
    init_field_app(app)  # the grid worker's phone app at /m/
    mount_dashboard(app, services, tile_url=settings.tile_url)
    return app


def proxy_options(settings: Settings) -> dict[str, Any]:
    """waitress's options for a node behind a reverse proxy (``GRIDMGR_TRUSTED_PROXY``): the
    client address from the last ``X-Forwarded-For`` entry the proxy added, the scheme from
    ``X-Forwarded-Proto``, and those headers dropped from anyone else; none without a proxy."""
    if settings.trusted_proxy is None:
        return {}
    return {
        "trusted_proxy": settings.trusted_proxy,
        "trusted_proxy_count": 1,
        "trusted_proxy_headers": "x-forwarded-for x-forwarded-proto",
        "clear_untrusted_proxy_headers": True,
    }


@contextlib.contextmanager
def _following_reference(services: Services) -> Iterator[None]:
    """Every serving process, whatever its role, follows the database's reference data while
    the block runs (:class:`~gridmgr.services.reference.ReferenceWatch`): a roster, catalog or
    grid changed on another node is served here within seconds, without a restart."""
    from gridmgr.services.reference import ReferenceWatch

    watch = ReferenceWatch(services)
    watch.start()
    try:
        yield
    finally:
        watch.stop()


@contextlib.contextmanager
def _background(prepared: Prepared, index: int, services: Services) -> Iterator[None]:
    """Worker 0's background work while the block runs (none on a web node): see
    :func:`background_jobs`; stopped in the order started, the simulator first."""
    jobs = background_jobs(prepared, services) if index == 0 and prepared.runs_background else []
    for job in jobs:
        job.start()
    try:
        yield
    finally:
        for job in jobs:
            job.stop()


def background_jobs(prepared: Prepared, services: Services) -> list[Job]:
    """A node's background work, not started: the single-runner jobs, each under its job lock
    (in a demo, the simulator; the escalation loop; the ledger watch; the contact erasure; the
    scheduled checkpoint, :mod:`gridmgr.services.checkpoints`), and
    the notice delivery worker, which runs on every worker node (claims with leases keep two
    nodes from sending one notice)."""
    from gridmgr.services.delivery import DeliveryWorker, channels_from_settings
    from gridmgr.services.escalation import EscalationLoop
    from gridmgr.services.invariants import LedgerWatch

    settings, store = prepared.settings, services.store
    jobs: list[Job] = []

    def single(job: str, make: Callable[[], Job]) -> None:
        jobs.append(SingleRunner(store.job_lock(job), make))

    if prepared.simulate:
        from gridmgr.services.simulator import SimulatorLoop

        single(
            "simulator",
            lambda: SimulatorLoop(
                store,
                services.context,
                clock=services.clock,
                seed=secrets.randbits(32),  # a new seed each start: new case ids, no collision
                speed=settings.simulate_speed,
            ),
        )
    if prepared.escalate_every > 0:
        single(
            "escalation",
            lambda: EscalationLoop(
                store,
                lambda: services.context,
                every=prepared.escalate_every,
                clock=services.clock,
                due_within_hours=settings.due_within_hours,
                spans=settings.ladder,
                digest_days=settings.digest_days,
            ),
        )
    watch = LedgerWatch(services)
    single(
        "ledger-watch",
        lambda: PeriodicLoop(watch.verify, every=LEDGER_VERIFY_EVERY, name="gridmgr-ledger-watch"),
    )
    single("contact-erasure", lambda: _contact_erasure(services))
    if settings.checkpoint_minutes > 0:
        from gridmgr.services.checkpoints import ScheduledCheckpoint

        single("checkpoint", ScheduledCheckpoint(services).loop)
    channels = channels_from_settings(settings)
    if channels:
        lease = timedelta(seconds=settings.delivery.lease_s)
        jobs.append(DeliveryWorker(store, channels, clock=services.clock, lease=lease))
    return jobs


def _contact_erasure(services: Services) -> PeriodicLoop:
    """Erase the reporters' contacts whose time is up, every hour (and at start)."""
    from gridmgr.services.contacts import erase_expired_contacts

    def step() -> None:
        erase_expired_contacts(services)

    return PeriodicLoop(step, every=CONTACT_ERASURE_EVERY, name="contact-erasure")


def work_forever(prepared: Prepared) -> None:
    """A worker node: no HTTP, the background work only, until SIGTERM or Ctrl-C."""
    from gridmgr.services.context import close_services, open_services

    services = open_services(
        prepared.db_url, prepared.context, prepared.settings, clock=prepared.clock
    )
    stopped = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopped.set())
    try:
        with _following_reference(services), _background(prepared, 0, services):
            while not stopped.wait(1.0):
                pass
    finally:
        close_services(services)


def serve_forever(prepared: Prepared, *, workers: int) -> None:
    """Bind, fork ``workers - 1`` children, and serve as worker 0; children die with us (a
    ``worker`` node binds nothing: :func:`work_forever`)."""
    if prepared.role == "worker":
        work_forever(prepared)
        return
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
