"""Replay snapshots: the city's replayed state every so many ledger events.

``replay_snapshots`` holds, for a ledger prefix of ``seq`` events, the state replay folds from
them (compressed JSON), the hash of event ``seq`` (a snapshot of another ledger is not used) and
the range of the changes' times, so a replay starts from the nearest snapshot before its moment
and reads only the events after it. Derived data, made by the scheduled checkpoint.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replay_snapshots",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("at_max", sa.String(length=32), nullable=False),
        sa.Column("min_at", sa.String(length=32), nullable=True),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_replay_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("replay_snapshots")
