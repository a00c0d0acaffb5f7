"""Rate limits shared by every node, incremental ledger verification, the calendar in the
database.

``rate_limits`` holds one fixed-window counter per key (flask-limiter's keys), incremented by an
``INSERT … ON CONFLICT DO UPDATE`` so every node counts in one place
(:mod:`gridmgr.store.ratelimits`). ``ledger_verifications`` gets ``kind`` (``full`` or
``incremental``) and ``from_seq``: an incremental pass verifies only the events after the head an
earlier pass verified (:mod:`gridmgr.services.ledgerwatch`). ``calendar_days`` holds the
calendar overrides in force, so every node works on one calendar (``gridmgr calendar import``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_workday", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_days")),
    )
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limits")),
    )
    op.create_index(op.f("ix_rate_limits_expires_at"), "rate_limits", ["expires_at"])
    with op.batch_alter_table("ledger_verifications") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="full")
        )
        batch.add_column(sa.Column("from_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_verifications") as batch:
        batch.drop_column("from_seq")
        batch.drop_column("kind")
    op.drop_index(op.f("ix_rate_limits_expires_at"), table_name="rate_limits")
    op.drop_table("rate_limits")
    op.drop_table("calendar_days")
