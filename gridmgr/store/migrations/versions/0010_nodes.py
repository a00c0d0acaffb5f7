"""Several nodes on one database: delivery leases, the stored ledger verification, reference
data versions.

A delivery row gets ``claimed_by`` and ``lease_until``: a node claims due rows with
``SELECT … FOR UPDATE SKIP LOCKED`` and sends them while its lease runs; a node that dies
leaves rows whose lease expires, and another node claims them. ``ledger_verifications`` keeps
each end-to-end verification, run by one node, read by every node's panel.
``reference_versions`` counts changes of the grid, the roster and the catalog, so every node
sees a change by polling one row.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmgr.store.schema import UTCDateTime

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "ledger_verifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("head_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("first_bad_seq", sa.BigInteger(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("node", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_verifications")),
    )
    op.create_table(
        "reference_versions",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("changed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_reference_versions")),
    )


def downgrade() -> None:
    op.drop_table("reference_versions")
    op.drop_table("ledger_verifications")
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
