"""Privacy: an api_key's scope, the append-only access log, reporters' encrypted contacts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmgr.store.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # existing api_keys keep reading what the public reads
    op.add_column(
        "api_tokens",
        sa.Column("scope", sa.String(length=16), nullable=False, server_default="public"),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reader", sa.String(length=100), nullable=False),
        sa.Column("reader_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("door", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("cell", sa.String(length=20), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    op.create_index(op.f("ix_access_log_case_id_at"), "access_log", ["case_id", "at"])
    op.create_index(op.f("ix_access_log_reader_at"), "access_log", ["reader", "at"])
    op.create_index(op.f("ix_access_log_cell"), "access_log", ["cell"])
    _append_only(op.get_bind().dialect.name)
    op.create_table(
        "reporter_contacts",
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.case_id"],
            name=op.f("fk_reporter_contacts_case_id_cases"),
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_reporter_contacts")),
    )
    op.create_index(op.f("ix_reporter_contacts_erased_at"), "reporter_contacts", ["erased_at"])


def _append_only(dialect: str) -> None:
    """The database itself refuses UPDATE and DELETE on the access log: a read stays recorded."""
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER access_log_no_{verb.lower()} BEFORE {verb} ON access_log "
                f"BEGIN SELECT RAISE(ABORT, 'access_log is append-only: {verb} refused'); END"
            )
        return
    op.execute(
        """
        CREATE FUNCTION gridmgr_access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'access_log is append-only: % refused', TG_OP;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER access_log_no_update_delete BEFORE UPDATE OR DELETE ON access_log "
        "FOR EACH ROW EXECUTE FUNCTION gridmgr_access_log_append_only()"
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_table("reporter_contacts")
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS access_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS access_log_no_delete")
    op.drop_table("access_log")
    if dialect != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS gridmgr_access_log_append_only()")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("scope")
