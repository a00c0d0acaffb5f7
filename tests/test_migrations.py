"""Migrations: the schema Alembic builds is exactly the one the code declares, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gridmgr.store.engine import make_engine
from gridmgr.store.migrate import current_revision, head_revision, upgrade
from gridmgr.store.schema import metadata


def test_the_migrated_schema_matches_the_declared_one(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert upgrade(engine) == (None, head_revision())
        assert upgrade(engine) == (head_revision(), head_revision())  # repeatable
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(context, metadata)
        # PostGIS's own table, and the GiST indexes the migration adds beside the metadata
        diff = [
            d
            for d in diff
            if not (d[0] == "remove_index" and d[1].name.endswith("_gist"))
            and not (d[0] == "remove_table" and d[1].name == "spatial_ref_sys")
        ]
        assert diff == []
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
