"""The store's engine and its transactions: reads, and writes that hold the ledger lock.

:class:`StoreBase` owns the SQLAlchemy engine, which never leaves ``gridmgr.store``: each area
of the store (cases, ledger, intake, outbox, …) adds its methods in a mixin over this class, and
:class:`gridmgr.store.Store` assembles them. Callers outside the package see methods only.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Executable, text

from gridmgr.store.credentialcache import RecentCredentials
from gridmgr.store.engine import LEDGER_HEAD_KEY, LEDGER_LOCK_KEY, writing
from gridmgr.store.openwatch import OpenCaseWatch
from gridmgr.store.pending import PendingWrites
from gridmgr.store.writers import SQLiteWriters


class StoreBase:
    """The engine and the two kinds of transaction every area of the store uses."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # SQLite's busy handler makes waiting writers sleep in growing steps (unfair, long
        # tails); writers queue instead, those of this process and of the others (writers.py).
        # PostgreSQL serializes ledger appends on its advisory lock.
        self._sqlite_writers = (
            SQLiteWriters(engine.url.database) if engine.dialect.name == "sqlite" else None
        )
        self._writer = writing(engine)
        self._batch = threading.local()
        self._recent_credentials = RecentCredentials()

    def __repr__(self) -> str:
        return f"<Store {self._engine.url.render_as_string(hide_password=True)}>"

    @property
    def url(self) -> str:
        """The database's URL, with its password hidden."""
        return str(self._engine.url)

    @property
    def backend(self) -> str:
        """The database's kind: ``"sqlite"`` or ``"postgresql"``."""
        return str(self._engine.dialect.name)

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()
        if self._sqlite_writers is not None:
            self._sqlite_writers.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run every read and write of this thread in one write transaction, committed when the
        block ends (history written in bulk: one commit, one fsync, for many changes).

        Each write inside is a savepoint: a write that fails is undone alone and raises as
        usual, and the writes before it stay. The ledger is appended to in order, exactly as
        without the batch; other threads and processes see nothing until the block ends (and
        wait for the write lock meanwhile). A batch inside a batch joins it.

        Reports and lifecycle actions inside are held back and written together
        (:mod:`gridmgr.store.pending`): each still chained into the ledger in order, written
        before anything reads or writes otherwise, and before the commit.
        """
        if getattr(self._batch, "conn", None) is not None:
            yield
            return
        with self._write() as conn:
            _roomy_cache(conn)
            pending = PendingWrites()
            kept, self._batch.kept = getattr(self._batch, "kept", None), None
            if kept is not None and kept[0] == _ledger_head_key(conn):
                # nothing was ledgered since
                pending.cases, pending.load, pending.watch = kept[1], kept[2], kept[3]
            self._batch.conn, self._batch.pending = conn, pending
            try:
                yield
                pending.flush(conn)
                head = _ledger_head_key(conn)
            finally:
                self._batch.conn = None
                self._batch.pending = None
        # the next batch of this thread starts from the cases this one knew, if the ledger
        # shows no change in between (every change of a case is ledgered)
        self._batch.kept = (head, pending.cases, pending.load, pending.watch)

    def _pending(self) -> tuple[Connection, PendingWrites] | None:
        """This thread's batch connection and the writes it holds back, outside a batch
        ``None``."""
        conn = getattr(self._batch, "conn", None)
        return None if conn is None else (conn, self._batch.pending)

    def _open_case_watch(self) -> OpenCaseWatch | None:
        """Inside a batch, what it knows of the open cases for an escalation pass (read once,
        then kept up to date by its held-back changes); outside one ``None``: ask the
        database."""
        held = self._pending()
        if held is None:
            return None
        conn, pending = held
        if pending.watch is None:
            pending.flush(conn)
            pending.watch = OpenCaseWatch.read(conn)
        return pending.watch

    def _in_batch(self) -> bool:
        """Whether this thread runs inside :meth:`batch`."""
        return getattr(self._batch, "conn", None) is not None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction (on SQLite it begins DEFERRED and never waits for the writer)."""
        batch = getattr(self._batch, "conn", None)
        if batch is not None:  # inside a batch, reads see its writes
            self._batch.pending.flush(batch)
            yield batch
            return
        with self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self, cases: Collection[str] | None = None) -> Iterator[Connection]:
        """A write transaction holding the ledger lock; committed when the block ends.

        ``cases`` names the only cases the write may change (default: any); inside a batch,
        what the batch knows of them is forgotten."""
        batch = getattr(self._batch, "conn", None)
        if batch is not None:
            pending = self._batch.pending
            pending.flush(batch)
            pending.forget(cases)  # this write may change them behind the batch's back
            try:
                with _savepoint(batch):
                    yield batch
            finally:
                pending.forget(cases)
            return
        if self._sqlite_writers is None:
            with self._engine.begin() as conn:
                _lock_ledger(conn)
                yield conn
            return
        with self._sqlite_writers.turn(), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _update(self) -> Iterator[Connection]:
        """A write transaction that appends nothing to the ledger (claims, leases, bookkeeping):
        on PostgreSQL it does not wait for the ledger lock, row locks suffice; on SQLite it is
        :meth:`_write` (one writer at a time anyway)."""
        if self._sqlite_writers is None:
            with self._engine.begin() as conn:
                yield conn
            return
        with self._sqlite_writers.turn(), self._writer.begin() as conn:
            yield conn

    def execute_sql_for_tests(
        self, statement: str | Executable, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run one raw SQL statement (text, or a SQLAlchemy statement over
        :mod:`gridmgr.store.schema`'s tables, which types its values) in its own transaction;
        the rows it returns, as dicts.

        **For tests only** — gridmgr never calls it. It does what someone with direct database
        access would do behind the store's back (edit the ledger, weaken a password hash, read
        PostGIS columns as a GIS client), so tests can prove the database refuses it or the
        store detects it.
        """
        with self._engine.begin() as conn:
            sql = text(statement) if isinstance(statement, str) else statement
            result = conn.execute(sql, dict(params or {}))
            return [dict(r) for r in result.mappings()] if result.returns_rows else []


@contextmanager
def _savepoint(conn: Connection) -> Iterator[None]:
    """A savepoint in ``conn``'s transaction, released at the end of the block or rolled back
    to when it raises.

    Sent on the driver's connection: SQLAlchemy's ``begin_nested`` compiles its statement
    anew each time, and a batch of history makes a savepoint for each of its thousands of
    writes. Savepoints of one name nest (SQLite and PostgreSQL both release or roll back to
    the latest of that name)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            yield
        except BaseException:
            cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            # the savepoint's ledger events were rolled back: read the head again
            conn.info.pop(LEDGER_HEAD_KEY, None)
            raise
        cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    finally:
        cursor.close()


_SAVEPOINT = "gridmgr_write"


BATCH_CACHE_KIB = 65_536
"""SQLite's page cache on a connection that has run a batch (its default is 2 MiB)."""


def _roomy_cache(conn: Connection) -> None:
    """Give a SQLite batch a page cache of :data:`BATCH_CACHE_KIB` (taken as pages are read,
    kept by the pooled connection).

    An hour of simulated walks inserts thousands of points into indexes by person and by cell:
    a leaf page for each of some 3,000 people and cells, tens of MiB that SQLite's default
    2 MiB cache cannot hold, so each insert read its page again from the file and spilled
    dirty ones to the WAL before the commit — a cost that grew with the tables. Memory only:
    what is written, and when it is durable, is unchanged."""
    if conn.dialect.name == "sqlite":
        driver = conn.connection.driver_connection
        driver.execute(f"PRAGMA cache_size=-{BATCH_CACHE_KIB}")  # type: ignore[union-attr]


def _ledger_head_key(conn: Connection) -> tuple[Any, ...] | None:
    """The ledger's last sequence number and hash (``None`` when it is empty)."""
    row = conn.execute(_HEAD_KEY).first()
    return None if row is None else tuple(row)


_HEAD_KEY = text("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")


def _lock_ledger(conn: Connection) -> None:
    """Serialize ledger appends for the rest of this transaction (on PostgreSQL; SQLite
    serializes writers with ``BEGIN IMMEDIATE`` instead)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK_KEY})
