"""Every open stage has a named holder and a ladder: the holder's columns, the rung and its card.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_HOLDER_COLUMNS = (
    ("holder_id", sa.String(length=64)),
    ("holder_post", sa.String(length=100)),
    ("holder_name", sa.String(length=200)),
)

_DESK = ("state", "due_at", "queue", "stage", "card", "holder_id", "cell")


def upgrade() -> None:
    # plain ADD COLUMN / CREATE INDEX, as in 0003: SQLite does both in place
    for name, type_ in _HOLDER_COLUMNS:
        op.add_column("cases", sa.Column(name, type_, nullable=True))
    op.add_column("cases", sa.Column("rung", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("cases", sa.Column("card", sa.String(length=8), nullable=True))
    # cases already dispatched: their assignee answers for the running field stage
    op.execute(
        "UPDATE cases SET holder_id = assignee_id, holder_post = assignee_post, "
        "holder_name = assignee_name WHERE assignee_id IS NOT NULL "
        "AND state IN ('dispatched', 'accepted', 'in_progress')"
    )
    op.create_index(op.f("ix_cases_holder_id_state"), "cases", ["holder_id", "state"])
    # open cases by deadline, covering the invariant check: it replaces (state, due_at)
    op.create_index(op.f(f"ix_cases_{'_'.join(_DESK)}"), "cases", list(_DESK))
    op.drop_index(op.f("ix_cases_state_due_at"), table_name="cases")


def downgrade() -> None:
    op.create_index(op.f("ix_cases_state_due_at"), "cases", ["state", "due_at"])
    op.drop_index(op.f(f"ix_cases_{'_'.join(_DESK)}"), table_name="cases")
    op.drop_index(op.f("ix_cases_holder_id_state"), table_name="cases")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("card")
        batch_op.drop_column("rung")
        for name, _ in reversed(_HOLDER_COLUMNS):
            batch_op.drop_column(name)
