"""Intake channels, the unlocated queue, merged duplicates, and the notification outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 12:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmgr.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN / CREATE INDEX: SQLite does both in place (no table rebuild, so the
    # foreign keys of case_events and attachments are untouched)
    op.add_column(
        "cases",
        sa.Column("channel", sa.String(length=16), nullable=False, server_default="grid_worker"),
    )
    op.add_column("cases", sa.Column("source_id", sa.String(length=100), nullable=True))
    op.add_column("cases", sa.Column("address", sa.Text(), nullable=True))
    op.add_column("cases", sa.Column("merged_into", sa.String(length=32), nullable=True))
    op.create_index(
        op.f("ix_cases_channel_source_id"), "cases", ["channel", "source_id"], unique=True
    )
    op.create_index(
        op.f("ix_cases_category_lon_lat"), "cases", ["category", "lon", "lat"], unique=False
    )
    op.create_index(op.f("ix_cases_merged_into"), "cases", ["merged_into"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("read_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_notifications_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_notifications_dedup_key")),
    )
    op.create_index(
        op.f("ix_notifications_recipient_id"), "notifications", ["recipient", "id"], unique=False
    )
    op.create_index(op.f("ix_notifications_case_id"), "notifications", ["case_id"], unique=False)

    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_deliveries_notification_id_notifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint(
            "notification_id",
            "channel",
            name=op.f("uq_notification_deliveries_notification_id_channel"),
        ),
    )
    op.create_index(
        op.f("ix_notification_deliveries_status_next_attempt_at"),
        "notification_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )

    op.create_table(
        "notification_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notification_deliveries.id"],
            name=op.f("fk_notification_attempts_delivery_id_notification_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
    )
    op.create_index(
        op.f("ix_notification_attempts_delivery_id"),
        "notification_attempts",
        ["delivery_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("notification_attempts")
    op.drop_table("notification_deliveries")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_cases_merged_into"), table_name="cases")
    op.drop_index(op.f("ix_cases_category_lon_lat"), table_name="cases")
    op.drop_index(op.f("ix_cases_channel_source_id"), table_name="cases")
    with op.batch_alter_table("cases") as batch_op:
        for column in ("merged_into", "address", "source_id", "channel"):
            batch_op.drop_column(column)
