"""Migrations: the schema Alembic builds is exactly the one the code declares, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gridmgr.store.engine import make_engine
from gridmgr.store.migrate import current_revision, head_revision, upgrade
from gridmgr.store.schema import SEARCH_INDEX, case_search, metadata


def test_the_migrated_schema_matches_the_declared_one(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert upgrade(engine) == (None, head_revision())
        assert upgrade(engine) == (head_revision(), head_revision())  # repeatable
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(context, metadata)
        # PostGIS's own table, and the GiST and search indexes (the trigram index, the FTS5
        # table and its shadow tables) the migrations add beside the metadata
        search_tables = (case_search.name, case_search.name + "_")
        diff = [
            d
            for d in diff
            if not (d[0] == "remove_index" and d[1].name.endswith("_gist"))
            and not (d[0] == "remove_index" and d[1].name == SEARCH_INDEX)
            and not (d[0] == "remove_table" and d[1].name == "spatial_ref_sys")
            and not (d[0] == "remove_table" and d[1].name.startswith(search_tables))
        ]
        assert diff == []
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
