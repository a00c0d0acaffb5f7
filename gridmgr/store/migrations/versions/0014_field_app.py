"""The field app: its writes stored once, its patrol points stored once, its last contact.

``client_requests`` keys each report and lifecycle action a phone sends by (person, the phone's
``client_id``): written in the same transaction as the write's ledger event, so a resend — even
one racing the first send — finds the first write instead of making a second. ``patrol_points``
gets the phone's ``client_id`` of each point, unique per person. ``device_contacts`` keeps when
each device token was last used.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmgr.store.schema import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_requests",
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reply", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("person_id", "client_id", name=op.f("pk_client_requests")),
    )
    op.create_table(
        "device_contacts",
        sa.Column("token_id", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("last_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_device_contacts")),
    )
    with op.batch_alter_table("device_contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_contacts_person_id"), ["person_id"])
    with op.batch_alter_table("patrol_points", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_patrol_points_person_id_client_id"),
            ["person_id", "client_id"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("patrol_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patrol_points_person_id_client_id"))
        batch_op.drop_column("client_id")
    with op.batch_alter_table("device_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_contacts_person_id"))
    op.drop_table("device_contacts")
    op.drop_table("client_requests")
