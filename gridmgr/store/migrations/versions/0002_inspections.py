"""Double-random inspections: registry and pool snapshots, plans, draws, visits, results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmgr.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inspection_plans",
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("plan_hash", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", name=op.f("pk_inspection_plans")),
        sa.UniqueConstraint("plan_hash", name=op.f("uq_inspection_plans_plan_hash")),
    )
    op.create_table(
        "inspection_snapshots",
        sa.Column("snapshot_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('registry', 'pool')", name=op.f("ck_inspection_snapshots_kind")
        ),
        sa.PrimaryKeyConstraint("snapshot_hash", name=op.f("pk_inspection_snapshots")),
    )
    with op.batch_alter_table("inspection_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inspection_snapshots_kind_generation"),
            ["kind", "generation"],
            unique=False,
        )

    op.create_table(
        "inspection_draws",
        sa.Column("draw_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("registry_hash", sa.String(length=64), nullable=False),
        sa.Column("pool_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("committed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("committed_by", sa.String(length=100), nullable=False),
        sa.Column("drawn_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("result_hash", sa.String(length=64), nullable=True),
        sa.Column("seed", sa.String(length=64), nullable=True),
        sa.Column("revealed_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('committed', 'drawn', 'revealed')", name=op.f("ck_inspection_draws_state")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["inspection_plans.plan_id"],
            name=op.f("fk_inspection_draws_plan_id_inspection_plans"),
        ),
        sa.PrimaryKeyConstraint("draw_id", name=op.f("pk_inspection_draws")),
        sa.UniqueConstraint("commitment", name=op.f("uq_inspection_draws_commitment")),
    )
    with op.batch_alter_table("inspection_draws", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspection_draws_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "inspection_visits",
        sa.Column("draw_id", sa.String(length=40), nullable=False),
        sa.Column("visit_no", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("cell", sa.String(length=20), nullable=False),
        sa.Column("tier1", sa.String(length=20), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("departments", sa.Text(), nullable=False),
        sa.Column("officers", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draw_id"],
            ["inspection_draws.draw_id"],
            name=op.f("fk_inspection_visits_draw_id_inspection_draws"),
        ),
        sa.PrimaryKeyConstraint("draw_id", "visit_no", name=op.f("pk_inspection_visits")),
    )
    with op.batch_alter_table("inspection_visits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inspection_visits_draw_id_tier1"), ["draw_id", "tier1"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inspection_visits_target_id"), ["target_id"], unique=False
        )

    op.create_table(
        "inspection_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("draw_id", sa.String(length=40), nullable=False),
        sa.Column("visit_no", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("item", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draw_id", "visit_no"],
            ["inspection_visits.draw_id", "inspection_visits.visit_no"],
            name=op.f("fk_inspection_results_draw_id_visit_no_inspection_visits"),
        ),
        sa.ForeignKeyConstraint(
            ["ledger_seq"], ["ledger.seq"], name=op.f("fk_inspection_results_ledger_seq_ledger")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_results")),
        sa.UniqueConstraint(
            "draw_id",
            "visit_no",
            "department",
            "item",
            name=op.f("uq_inspection_results_draw_id_visit_no_department_item"),
        ),
        sa.UniqueConstraint("ledger_seq", name=op.f("uq_inspection_results_ledger_seq")),
    )


def downgrade() -> None:
    for table in (
        "inspection_results",
        "inspection_visits",
        "inspection_draws",
        "inspection_snapshots",
        "inspection_plans",
    ):
        op.drop_table(table)
