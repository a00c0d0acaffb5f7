"""Appeals (申诉) of a closed month's scorecard and their decisions; client ids on contests.

Both new tables are append-only, like the scorecards they appeal (migration 0011): an appeal is
filed once, decided once, and neither is ever edited. A contest of a missed report gets the
sender's ``client_id`` so that a resend records nothing twice.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmgr.store.schema import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_TABLES = ("assessment_appeals", "assessment_appeal_decisions")


def upgrade() -> None:
    # plain ALTER TABLE (no batch copy): the contests' append-only triggers must survive
    op.add_column("missed_report_contests", sa.Column("client_id", sa.String(length=64)))
    op.create_index(
        op.f("ix_missed_report_contests_person_id_client_id"),
        "missed_report_contests",
        ["person_id", "client_id"],
        unique=True,
    )
    op.create_table(
        "assessment_appeals",
        sa.Column("appeal_id", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("indicator", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("filed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("decider_id", sa.String(length=64), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ledger_seq"], ["ledger.seq"], name=op.f("fk_assessment_appeals_ledger_seq_ledger")
        ),
        sa.PrimaryKeyConstraint("appeal_id", name=op.f("pk_assessment_appeals")),
        sa.UniqueConstraint("ledger_seq", name=op.f("uq_assessment_appeals_ledger_seq")),
    )
    op.create_index(
        op.f("ix_assessment_appeals_person_id_client_id"),
        "assessment_appeals",
        ["person_id", "client_id"],
        unique=True,
    )
    op.create_table(
        "assessment_appeal_decisions",
        sa.Column("appeal_id", sa.String(length=32), nullable=False),
        sa.Column("upheld", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("new_version", sa.Integer(), nullable=True),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appeal_id"],
            ["assessment_appeals.appeal_id"],
            name=op.f("fk_assessment_appeal_decisions_appeal_id_assessment_appeals"),
        ),
        sa.ForeignKeyConstraint(
            ["ledger_seq"],
            ["ledger.seq"],
            name=op.f("fk_assessment_appeal_decisions_ledger_seq_ledger"),
        ),
        sa.PrimaryKeyConstraint("appeal_id", name=op.f("pk_assessment_appeal_decisions")),
        sa.UniqueConstraint("ledger_seq", name=op.f("uq_assessment_appeal_decisions_ledger_seq")),
    )
    _append_only(op.get_bind().dialect.name)


def _append_only(dialect: str) -> None:
    """The database itself refuses UPDATE and DELETE on both tables (the trigger function of
    migration 0011 on PostgreSQL)."""
    for table in _TABLES:
        if dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
                )
        else:
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
    op.drop_table("assessment_appeal_decisions")
    op.drop_index(op.f("ix_assessment_appeals_person_id_client_id"), "assessment_appeals")
    op.drop_table("assessment_appeals")
    op.drop_index(op.f("ix_missed_report_contests_person_id_client_id"), "missed_report_contests")
    op.drop_column("missed_report_contests", "client_id")  # SQLite >= 3.35: in place
