"""Units and 整改: a unit's inbox is read by assignee post; a finding names its 整改 case.

Revision ID: 0009
Revises: 0012
Create Date: 2026-12-02 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN / CREATE INDEX, as in 0003 and 0006: SQLite does both in place
    op.create_index(op.f("ix_cases_assignee_post_state"), "cases", ["assignee_post", "state"])
    op.add_column("inspection_results", sa.Column("case_id", sa.String(length=32), nullable=True))
    op.create_index(
        op.f("ix_inspection_results_case_id"), "inspection_results", ["case_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_inspection_results_case_id"), table_name="inspection_results")
    with op.batch_alter_table("inspection_results") as batch_op:
        batch_op.drop_column("case_id")
    op.drop_index(op.f("ix_cases_assignee_post_state"), table_name="cases")
