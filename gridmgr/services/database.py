"""The database as a whole: where it is, opening it, creating, upgrading and checking its schema.

The doors (the command line, the serving process) open the database here and nowhere else:
:func:`open_database` for a :class:`Store` to run use cases on, :func:`upgrade_database` and
:func:`check_database` for the schema and the durability settings in force. The URL comes from
the command's ``--db``, else the ``GRIDMGR_DB`` setting, else the data folder
(:func:`database_url`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridmgr.store import Store, open_store
from gridmgr.store.engine import database_url as _database_url
from gridmgr.store.engine import redact
from gridmgr.store.migrate import (
    DatabaseCheck,
    SchemaUpgrade,
    check_database,
    is_new_database,
    upgrade_database,
)

if TYPE_CHECKING:
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
