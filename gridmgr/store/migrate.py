"""Schema migrations (Alembic): create or upgrade a database, and check it is current."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from gridmgr.errors import StoreError
from gridmgr.store.engine import check_engine, make_engine, writing

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic configuration pointing at gridmgr's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest schema revision this gridmgr knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision, or ``None`` for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest revision: (revision before, revision after)."""
    before = current_revision(engine)
    config = alembic_config()
    try:
        with writing(engine).begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except (RuntimeError, DBAPIError) as exc:
        cause = getattr(exc, "orig", None) or exc
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(exc).__name__
        raise StoreError(f"cannot create or upgrade the schema: {first}") from exc
    return before, head_revision()


def check_schema(engine: Engine) -> str:
    """The current revision; :class:`StoreError` if the database is empty or out of date."""
    current = current_revision(engine)
    head = head_revision()
    if current is None:
        raise StoreError("the database has no gridmgr schema yet: run `gridmgr db init`")
    if current != head:
        known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
        if current not in known:
            raise StoreError(
                f"the database schema is at {current}, which this gridmgr does not know "
                f"(newest known: {head}); upgrade gridmgr"
            )
        raise StoreError(
            f"the database schema is at {current}, gridmgr needs {head}: run `gridmgr db upgrade`"
        )
    return current


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


# -- by URL, for the doors (through gridmgr.services.database): no engine leaves the store ----


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
    except Exception:  # opening the store reports the problem properly right after
        return False
    try:
        return current_revision(engine) is None
    except Exception:
        return False
    finally:
        engine.dispose()
