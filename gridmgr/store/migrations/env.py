"""Alembic environment: migrations run on the connection gridmgr hands over (see store.migrate)."""

from __future__ import annotations

from alembic import context

from gridmgr.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - gridmgr always passes a connection
    raise RuntimeError("run migrations through `gridmgr db upgrade`, not the alembic command")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
