"""Shared fixtures: the tiny and default grids, and an empty store on each database backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridmgr import Grid, load_grid
from gridmgr.store import Store, open_store
from tests.builders import tiny_grid

pytest_plugins = ["tests.services"]


@pytest.fixture(scope="session")
def tiny() -> Grid:
    """The 1 / 4 / 16-cell grid over [120.0, 120.5] x [31.5, 32.0]."""
    return tiny_grid()


@pytest.fixture(scope="session")
def jiangyin() -> Grid:
    """The shipped default grid (loaded and validated once per session)."""
    return load_grid()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gridmgr.sqlite'}"
        return
    import psycopg

    base: str = request.getfixturevalue("pg_url")
    dsn: str = request.getfixturevalue("pg_dsn")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema},public"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A store with the current schema, on each backend."""
    opened = open_store(db_url, create=True)
    try:
        yield opened
    finally:
        opened.close()
