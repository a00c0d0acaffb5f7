"""Patrol coverage kept up to date: the covered 10 m pixels of each cell per day, and patrol
points indexed by time and by cell.

``patrol_coverage`` holds one packed bitmap per (cell, Beijing day) (see
:mod:`gridmgr.patrolpixels`); ``patrol_points`` gets the tier-3 ``cell`` of each point and
indexes on ``at`` and ``(cell, at)``. Existing points are turned into bitmaps on first use (the
bitmaps need the grid, which the migration does not load): see
:func:`gridmgr.services.patrols.ensure_coverage`.

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmgr.store.schema import UTCDateTime

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patrol_points", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cell", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_patrol_points_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_patrol_points_cell_at"), ["cell", "at"], unique=False)
    op.create_table(
        "patrol_coverage",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("origin_x", sa.Integer(), nullable=False),
        sa.Column("origin_y", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("pixels", sa.LargeBinary(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("last_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("cell", "day", name=op.f("pk_patrol_coverage")),
    )
    with op.batch_alter_table("patrol_coverage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patrol_coverage_day"), ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("patrol_coverage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patrol_coverage_day"))
    op.drop_table("patrol_coverage")
    with op.batch_alter_table("patrol_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patrol_points_cell_at"))
        batch_op.drop_index(batch_op.f("ix_patrol_points_at"))
        batch_op.drop_column("cell")
