"""Deferral requests: a pending request on its case, decided by the approver the rules picked.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmgr.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_REQUEST_COLUMNS = (
    ("defer_approver_id", sa.String(length=64)),
    ("defer_approver_post", sa.String(length=100)),
    ("defer_approver_name", sa.String(length=200)),
    ("defer_requested_by", sa.String(length=64)),
    ("defer_requested_at", UTCDateTime(timezone=True)),
    ("defer_due_before", UTCDateTime(timezone=True)),
    ("defer_due_at", UTCDateTime(timezone=True)),
    ("defer_reason", sa.Text()),
    ("defer_version", sa.Integer()),
)


def upgrade() -> None:
    # plain ADD COLUMN / CREATE INDEX, as in 0003: SQLite does both in place
    op.add_column(
        "cases",
        sa.Column("stage_deferrals", sa.Integer(), nullable=False, server_default="0"),
    )
    for name, type_ in _REQUEST_COLUMNS:
        op.add_column("cases", sa.Column(name, type_, nullable=True))
    op.create_index(
        op.f("ix_cases_defer_approver_id"), "cases", ["defer_approver_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cases_defer_approver_id"), table_name="cases")
    with op.batch_alter_table("cases") as batch_op:
        for name, _ in reversed(_REQUEST_COLUMNS):
            batch_op.drop_column(name)
        batch_op.drop_column("stage_deferrals")
