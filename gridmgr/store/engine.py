"""Database engines: where the database is, and refusing to run it unsafely.

SQLite (the embedded default, one file in the data folder) runs in WAL mode with
``synchronous=FULL`` and foreign keys on, so an acknowledged write survives a crash or power
loss; every write transaction starts with ``BEGIN IMMEDIATE`` (:func:`writing`), which takes the
write lock at once and so serializes ledger appends; reads begin ``DEFERRED`` and never wait.
PostgreSQL (``postgresql+psycopg://…``) must run with ``fsync`` and ``synchronous_commit`` on;
ledger appends are serialized by a transaction-level advisory lock. :func:`check_engine`
refuses anything else and says why.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from gridmgr.errors import StoreError

SQLITE_FILE = "gridmgr.sqlite"
BUSY_TIMEOUT_MS = 30_000
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
LEDGER_LOCK_KEY = 0x6772_6964  # "grid": the advisory lock every ledger append takes on PostgreSQL
LEDGER_HEAD_KEY = "gridmgr.ledger_head"
"""Where a transaction remembers the ledger head it appended last (``Connection.info``)."""


def database_url(db: str | None, *, data_dir: Path) -> str:
    """The SQLAlchemy URL for ``db`` (``--db``, else the ``GRIDMGR_DB`` setting): a URL, a SQLite
    file path, or (``None``) ``gridmgr.sqlite`` in the data folder.

    >>> database_url("/tmp/x.sqlite", data_dir=Path("/d"))
    'sqlite:////tmp/x.sqlite'
    >>> database_url("postgresql+psycopg://u:p@h/db", data_dir=Path("/d"))
    'postgresql+psycopg://u:p@h/db'
    """
    value = db or str(data_dir / SQLITE_FILE)
    if re.match(r"^[a-z][a-z0-9+]*://", value):
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        try:
            make_url(value)
        except ArgumentError as exc:
            raise StoreError(f"cannot read database URL {redact(value)}: {exc}") from None
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def redact(url: str) -> str:
    """A URL with its password hidden, for messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def make_engine(url: str, *, pool: bool = True) -> Engine:
    """An engine for ``url`` with gridmgr's connection settings (see the module docstring)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_sqlite_file(Path(parsed.database))
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            poolclass=None if pool else NullPool,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if not pool:
            kwargs["poolclass"] = NullPool
        return create_engine(url, **kwargs)
    raise StoreError(
        f"unsupported database {parsed.get_backend_name()!r}: use a SQLite file path or "
        "postgresql+psycopg://USER:PASSWORD@HOST/DB"
    )


def private_sqlite_file(path: Path) -> None:
    """Make the SQLite database ``path`` readable by its owner only: its folder, when created
    here, 0700; the file, when created here, 0600 (SQLite gives its ``-wal`` and ``-shm`` files
    the database's mode). An existing database, ``-wal`` or ``-shm`` that others may read is a
    :class:`StoreError` saying the ``chmod`` to run: it holds reports and personal data."""
    try:
        path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the database folder {path.parent}: {exc}") from None
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the database {path}: {exc}") from None
    if os.name != "posix":
        return
    for found in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = found.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077:
            raise StoreError(
                f"the database file {found} can be read by other users (mode {mode:o}); "
                f"run `chmod 600 {path}*` (the database and its -wal and -shm files)"
            )


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # take transaction control away from pysqlite, so "begin" below decides how BEGIN is sent
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Reads begin DEFERRED (they never block, and are never blocked by, the writer: WAL).
    # Write transactions ask for IMMEDIATE (``writing(engine)``), taking the write lock before
    # their first read, so a read-then-write can never fail on a stale snapshot.
    # Sent on the driver's connection: through SQLAlchemy's execution (a context, events, a
    # result) it cost as much as the query of a short read.
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.connection.driver_connection.execute(f"BEGIN {mode}")


def writing(engine: Engine) -> Engine:
    """The engine for write transactions: on SQLite they begin IMMEDIATE."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def check_engine(engine: Engine) -> dict[str, str]:
    """The durability settings actually in force; :class:`StoreError` when any is unsafe."""
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                found = {
                    "journal_mode": str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()),
                    "synchronous": str(conn.exec_driver_sql("PRAGMA synchronous").scalar()),
                    "foreign_keys": str(conn.exec_driver_sql("PRAGMA foreign_keys").scalar()),
                }
                label = {"2": "FULL", "3": "EXTRA", "1": "NORMAL", "0": "OFF"}
                bad = []
                if found["journal_mode"].lower() != "wal":
                    bad.append(f"journal_mode={found['journal_mode']} (needs wal)")
                if found["synchronous"] not in ("2", "3"):
                    level = label.get(found["synchronous"], found["synchronous"])
                    bad.append(f"synchronous={level} (needs FULL)")
                if found["foreign_keys"] != "1":
                    bad.append("foreign_keys=off (needs on)")
                if bad:
                    raise StoreError(
                        "unsafe SQLite settings: " + ", ".join(bad) + "; WAL needs a local file "
                        "system (not a network share) — move the database to a local disk"
                    )
            else:
                found = {
                    "fsync": str(conn.execute(text("SHOW fsync")).scalar()),
                    "synchronous_commit": str(
                        conn.execute(text("SHOW synchronous_commit")).scalar()
                    ),
                    "full_page_writes": str(conn.execute(text("SHOW full_page_writes")).scalar()),
                }
                bad = [
                    f"{k}={v}"
                    for k, v in found.items()
                    if v.lower() not in ("on", "remote_apply", "remote_write")
                ]
                if bad:
                    raise StoreError(
                        "unsafe PostgreSQL settings: " + ", ".join(bad) + "; set them to on in "
                        "postgresql.conf, or acknowledged reports can be lost on a crash"
                    )
            return found
    except OperationalError as exc:
        raise StoreError(
            f"cannot connect to {redact(str(engine.url))}: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__
