"""The database as a whole: where it is, opening it, creating, upgrading and checking its schema.

The doors (the command line, the serving process) open the database here and nowhere else:
:func:`open_database` for a :class:`Store` to run use cases on, :func:`upgrade_database` and
:func:`check_database` for the schema and the durability settings in force. The URL comes from
the command's ``--db``, else the ``GRIDMGR_DB`` setting, else the data folder
(:func:`database_url`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gridmgr.store import Store, open_store
from gridmgr.store.engine import check_engine, make_engine, redact
from gridmgr.store.engine import database_url as _database_url
from gridmgr.store.migrate import check_schema, current_revision, upgrade

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from gridmgr.settings import Settings

__all__ = [
    "DatabaseCheck",
    "SchemaUpgrade",
    "Store",
    "check_database",
    "database_url",
    "is_new_database",
    "open_database",
    "redact",
    "upgrade_database",
]


@dataclass(frozen=True)
class SchemaUpgrade:
    """What :func:`upgrade_database` did: the schema revision before (``None``: the database was
    empty) and after, and the durability settings in force."""

    before: str | None
    after: str
    durability: dict[str, str]

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class DatabaseCheck:
    """A database found fit to use: its (current) schema revision and durability settings."""

    revision: str
    durability: dict[str, str]


def database_url(settings: Settings, db: str | None = None) -> str:
    """The SQLAlchemy URL of the database: ``db`` (a command's ``--db``) when given, else
    ``settings.db`` (``GRIDMGR_DB``), else ``gridmgr.sqlite`` in the data folder.

    >>> from pathlib import Path
    >>> from gridmgr.settings import Settings
    >>> database_url(Settings(data_dir=Path("/d"), db="postgresql://u:p@h/gm"))
    'postgresql+psycopg://u:p@h/gm'
    >>> database_url(Settings(data_dir=Path("/d"), db="x"), "/tmp/y.sqlite")
    'sqlite:////tmp/y.sqlite'
    """
    return _database_url(db or settings.db, data_dir=settings.data_dir)


def open_database(
    settings: Settings, *, db: str | None = None, create: bool = False, check: bool = True
) -> Store:
    """Open the database (see :func:`database_url`); the caller closes it.

    ``create`` creates or upgrades the schema first; otherwise the schema must be current.
    ``check`` refuses unsafe durability settings.
    """
    return open_store(database_url(settings, db), create=create, check=check)


# -- engine-level operations: the schema and the connection settings, without a Store -----------


def upgrade_database(url: str) -> SchemaUpgrade:
    """Create the schema, or upgrade it to this gridmgr's newest (a no-op when current), after
    checking the durability settings."""
    engine = make_engine(url)
    try:
        durability = check_engine(engine)
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    return SchemaUpgrade(before, after, durability)


def check_database(url: str) -> DatabaseCheck:
    """Check that the database is reachable, safely configured and at the current schema;
    :class:`~gridmgr.errors.StoreError` says what is wrong and how to fix it."""
    engine = make_engine(url)
    try:
        durability = check_engine(engine)
        revision = check_schema(engine)
    finally:
        engine.dispose()
    return DatabaseCheck(revision, durability)


def is_new_database(url: str) -> bool:
    """Whether the database at ``url`` has no schema yet (``serve`` is about to create it)."""
    try:
        engine: Engine = make_engine(url, pool=False)
    except Exception:  # open_database reports the problem properly right after
        return False
    try:
        return current_revision(engine) is None
    except Exception:
        return False
    finally:
        engine.dispose()
