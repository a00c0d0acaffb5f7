"""Sessions and logins: a session epoch and a demo mark per account, and the failed logins.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmgr.store.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN with a server default: SQLite adds it in place, existing rows get 0/false
    op.add_column(
        "accounts",
        sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "accounts",
        sa.Column("demo", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # demo logins made before this revision: the ledger says who demo mode gave a password
    # (a mark too many costs one hash check at a --no-demo start, never a wrong answer)
    op.execute(
        "UPDATE accounts SET demo = TRUE WHERE 'person:' || person_id IN "
        "(SELECT subject FROM ledger WHERE kind = 'account.password_set' "
        "AND actor = 'system:demo')"
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(
        op.f("ix_login_failures_person_id_at"), "login_failures", ["person_id", "at"], unique=False
    )
    op.create_index(
        op.f("ix_login_failures_address_at"), "login_failures", ["address", "at"], unique=False
    )
    op.create_index(op.f("ix_login_failures_at"), "login_failures", ["at"], unique=False)
    _append_only(op.get_bind().dialect.name)


def _append_only(dialect: str) -> None:
    """The database itself refuses UPDATE and DELETE on the failed logins: evidence stays."""
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER login_failures_no_{verb.lower()} BEFORE {verb} ON login_failures "
                f"BEGIN SELECT RAISE(ABORT, 'login_failures is append-only: {verb} refused'); END"
            )
        return
    op.execute(
        """
        CREATE FUNCTION gridmgr_login_failures_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'login_failures is append-only: % refused', TG_OP;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER login_failures_no_update_delete BEFORE UPDATE OR DELETE ON login_failures "
        "FOR EACH ROW EXECUTE FUNCTION gridmgr_login_failures_append_only()"
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS login_failures_no_update")
        op.execute("DROP TRIGGER IF EXISTS login_failures_no_delete")
    op.drop_table("login_failures")
    if dialect != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS gridmgr_login_failures_append_only()")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("demo")
        batch.drop_column("session_epoch")
