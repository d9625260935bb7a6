"""Alembic environment of the first releases' four migration roots, kept as a test fixture:
the schema tests build a database exactly as those releases did, then upgrade it."""

from __future__ import annotations

from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
