"""Coordination between nodes that share one database: single-runner job locks.

Several app servers ("nodes") may share one PostgreSQL database. A job that must run in one
place at a time (the escalation passes, the demo simulator, the ledger watch, the contact
erasure) holds a :class:`JobLock` while it runs: on PostgreSQL a session-level advisory lock
(``pg_try_advisory_lock``) taken on a connection of its own, kept open for the job's life. The
database releases it when that session ends — the node stops, crashes, is killed or loses its
connection — so another node takes the job over on its next try. On SQLite (one machine, one
serving process) the lock is process-local.

Why a session lock on its own connection, not one per pass: a job such as the simulator keeps
state between passes, and a job run by one node for its life is easier to reason about (and to
watch: ``pg_stat_activity.application_name`` names the holder, ``gridmgr-job:<job>@<node>``)
than one that hops between nodes every minute. Its connection is not from the pool, so no
request ever runs on a session that holds a job lock, and closing it is the release.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from gridmgr.store.transactions import StoreBase

log = logging.getLogger(__name__)

KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
"""libpq TCP keepalives on a lock's session: a node cut off from the database notices soon."""

# Process-local locks for SQLite, one per database file and job. Module-level on purpose: two
# stores opened on one file in one process must exclude each other, as two nodes would.
_LOCAL_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


def new_node_id() -> str:
    """A name for this process among the nodes: host, pid and a random tag (a restarted process
    on the same host and pid is another node).

    >>> new_node_id().count(":")
    2
    """
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


class JobLock(Protocol):
    """The right to run one single-runner job: held by at most one node at a time."""

    @property
    def job(self) -> str: ...

    def hold(self) -> bool:
        """Whether this node holds the job now: keeps it when held and still alive, else tries
        to take it (never waits)."""
        ...

    def release(self) -> None:
        """Let the job go (nothing when not held)."""
        ...


class LocalJobLock:
    """A single-runner lock within this process (SQLite)."""

    def __init__(self, database: str, job: str) -> None:
        self.job = job
        with _LOCAL_GUARD:
            self._lock = _LOCAL_LOCKS.setdefault((database, job), threading.Lock())
        self._held = False

    def hold(self) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


class AdvisoryJobLock:
    """A single-runner lock across nodes: a PostgreSQL session-level advisory lock on a
    connection of its own, keyed by the schema and the job (two schemas on one server, as the
    tests use, never share a job)."""

    def __init__(self, engine: Engine, job: str, *, node: str) -> None:
        self.job = job
        app = f"gridmgr-job:{job}@{node}"[:63]  # PostgreSQL keeps 63 bytes of it
        self._engine = create_engine(
            engine.url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",  # never idle in a transaction while it holds the job
            connect_args={"application_name": app, **KEEPALIVES},
        )
        self._conn: Connection | None = None
        self._mutex = threading.Lock()

    def hold(self) -> bool:
        with self._mutex:
            if self._conn is not None:
                if _alive(self._conn):
                    return True
                log.warning("job %s: lost the database session; the job is free again", self.job)
                self._drop()
            try:
                conn = self._engine.connect()
            except DBAPIError as exc:
                log.warning("job %s: cannot reach the database: %s", self.job, exc.orig)
                return False
            try:
                got = conn.execute(
                    text("SELECT pg_try_advisory_lock(hashtext(current_schema()), hashtext(:job))"),
                    {"job": self.job},
                ).scalar()
            except BaseException:
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            self._conn = conn
            return True

    def release(self) -> None:
        with self._mutex:
            if self._conn is not None:
                # unlocking is polite; closing the session would release it anyway
                with contextlib.suppress(DBAPIError):
                    self._conn.execute(
                        text(
                            "SELECT pg_advisory_unlock(hashtext(current_schema()), hashtext(:job))"
                        ),
                        {"job": self.job},
                    )
                self._drop()
            self._engine.dispose()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except DBAPIError:
                conn.invalidate()


def _alive(conn: Connection) -> bool:
    """Whether the lock's session still answers (a session lock lasts as long as it does)."""
    try:
        conn.execute(text("SELECT 1"))
    except DBAPIError:
        return False
    return True


class CoordinationMethods(StoreBase):
    """The store's doors to coordination between nodes: this node's name and job locks."""

    @property
    def node_id(self) -> str:
        """This process's name among the nodes (host:pid:tag), the same for the store's life."""
        found: str | None = getattr(self, "_node_id", None)
        if found is None:
            found = self._node_id = new_node_id()
        return found

    def job_lock(self, job: str) -> JobLock:
        """A lock for the single-runner ``job`` (see the module docstring); not yet held."""
        if self.backend == "postgresql":
            return AdvisoryJobLock(self._engine, job, node=self.node_id)
        return LocalJobLock(self._engine.url.render_as_string(hide_password=True), job)
