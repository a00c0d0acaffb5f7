"""The monthly assessment (考核): closed scorecards and workers' contests of missed reports.

Both tables are append-only (the database refuses UPDATE and DELETE): a closed month is corrected
by a new version naming the old one, never edited; a contest stays recorded.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmgr.store.schema import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TABLES = ("assessments", "missed_report_contests")


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("supersedes", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ledger_seq"], ["ledger.seq"], name=op.f("fk_assessments_ledger_seq_ledger")
        ),
        sa.PrimaryKeyConstraint("month", "version", name=op.f("pk_assessments")),
        sa.UniqueConstraint("ledger_seq", name=op.f("uq_assessments_ledger_seq")),
    )
    op.create_table(
        "missed_report_contests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_missed_report_contests_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_seq"],
            ["ledger.seq"],
            name=op.f("fk_missed_report_contests_ledger_seq_ledger"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_missed_report_contests")),
        sa.UniqueConstraint("ledger_seq", name=op.f("uq_missed_report_contests_ledger_seq")),
    )
    op.create_index(
        op.f("ix_missed_report_contests_case_id"), "missed_report_contests", ["case_id"]
    )
    _append_only(op.get_bind().dialect.name)


def _append_only(dialect: str) -> None:
    """The database itself refuses UPDATE and DELETE on both tables."""
    if dialect == "sqlite":
        for table in _TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
                )
        return
    op.execute(
        """
        CREATE FUNCTION gridmgr_assessment_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
        END $$
        """
    )
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION gridmgr_assessment_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in _TABLES:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}")
    op.drop_index(op.f("ix_missed_report_contests_case_id"), table_name="missed_report_contests")
    op.drop_table("missed_report_contests")
    op.drop_table("assessments")
    if dialect != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS gridmgr_assessment_append_only()")
