"""The Merkle tree over the ledger: a cache of its perfect subtrees, and the signed tree heads.

``ledger_merkle`` is derived from ``ledger.hash`` (filled on demand by the store, rebuilt
from the ledger at will); ``ledger_tree_heads`` keeps each head ``gridmgr ledger checkpoint``
signed; an index on ``ledger.subject`` finds a case's own events for its dossier.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_merkle",
        sa.Column("node", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_ledger_merkle")),
    )
    op.create_table(
        "ledger_tree_heads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_tree_heads")),
    )
    op.create_index(op.f("ix_ledger_tree_heads_size"), "ledger_tree_heads", ["size"])
    op.create_index(op.f("ix_ledger_subject"), "ledger", ["subject"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_subject"), table_name="ledger")
    op.drop_index(op.f("ix_ledger_tree_heads_size"), table_name="ledger_tree_heads")
    op.drop_table("ledger_tree_heads")
    op.drop_table("ledger_merkle")
