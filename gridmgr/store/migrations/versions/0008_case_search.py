"""Case search: an index over the words of a case (description, address, holder and assignee).

PostgreSQL: a ``pg_trgm`` GIN index on the words, which ``ILIKE '%…%'`` uses. SQLite: an FTS5
table with the trigram tokenizer (SQLite ≥ 3.34), one row per case (its rowid the case's
number), kept in step by triggers on ``cases`` so that no write path can forget it. Number,
id, cell code and person ids are found through the B-tree indexes ``cases`` already has.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# the same text as gridmgr.store.schema.SEARCH_WORDS: the PostgreSQL index is on this
# expression, and a query uses the index only when it names the very same expression
_WORDS_PG = (
    "coalesce(description, '') || ' ' || coalesce(address, '') || ' ' || "
    "coalesce(holder_name, '') || ' ' || coalesce(assignee_name, '')"
)
_WORDS_SQLITE = (
    "coalesce({r}.description, '') || ' ' || coalesce({r}.address, '') || ' ' || "
    "coalesce({r}.holder_name, '') || ' ' || coalesce({r}.assignee_name, '')"
)
_CHANGED = " OR ".join(
    f"old.{c} IS NOT new.{c}"
    for c in ("number", "description", "address", "holder_name", "assignee_name")
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _require_pg_trgm()
        op.execute(
            f"CREATE INDEX ix_cases_search_trgm ON cases USING gin (({_WORDS_PG}) gin_trgm_ops)"
        )
        return
    if sqlite_version() < (3, 34, 0):
        raise RuntimeError(
            "case search needs SQLite 3.34 or newer (FTS5's trigram tokenizer); this Python "
            f"has SQLite {'.'.join(map(str, sqlite_version()))}: use a newer Python or PostgreSQL"
        )
    op.execute("CREATE VIRTUAL TABLE case_search USING fts5(words, tokenize = 'trigram')")
    op.execute(
        "INSERT INTO case_search (rowid, words) SELECT number, "
        + _WORDS_SQLITE.format(r="cases")
        + " FROM cases"
    )
    op.execute(
        "CREATE TRIGGER case_search_insert AFTER INSERT ON cases BEGIN "
        "INSERT INTO case_search (rowid, words) VALUES (new.number, "
        + _WORDS_SQLITE.format(r="new")
        + "); END"
    )
    op.execute(
        f"CREATE TRIGGER case_search_update AFTER UPDATE ON cases WHEN {_CHANGED} BEGIN "
        "DELETE FROM case_search WHERE rowid = old.number; "
        "INSERT INTO case_search (rowid, words) VALUES (new.number, "
        + _WORDS_SQLITE.format(r="new")
        + "); END"
    )
    op.execute(
        "CREATE TRIGGER case_search_delete AFTER DELETE ON cases BEGIN "
        "DELETE FROM case_search WHERE rowid = old.number; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_cases_search_trgm")
        return
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS case_search_{name}")
    op.execute("DROP TABLE IF EXISTS case_search")


def sqlite_version() -> tuple[int, ...]:
    """The version of the SQLite library this connection runs on."""
    text = str(op.get_bind().exec_driver_sql("SELECT sqlite_version()").scalar())
    return tuple(int(p) for p in text.split("."))


def _has_pg_trgm() -> bool:
    found = op.get_bind().exec_driver_sql(
        "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"
    )
    return bool(found.scalar())


def _require_pg_trgm() -> None:
    """Install pg_trgm (a trusted extension since PostgreSQL 13: the database's owner may)."""
    if _has_pg_trgm():
        return
    bind = op.get_bind()
    try:
        # in a savepoint: a server that starts two upgrades at once may see the other install
        # it first, and the transaction must survive that
        with bind.begin_nested():
            # in public, beside PostGIS: an extension in a per-tenant schema would go with it
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    except sa.exc.DBAPIError as exc:
        if not _has_pg_trgm():
            raise RuntimeError(
                "pg_trgm is not installed in this database and this role cannot install it: "
                "as a superuser run CREATE EXTENSION pg_trgm; then retry"
            ) from exc
