"""Alembic environment: migrations run on the connection `monitor.store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from monitor.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - we never run alembic offline
    raise RuntimeError("run migrations through monitor.store.Store.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata(),
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
