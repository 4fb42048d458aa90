"""Alembic environment: always run on a connection handed in by `events.migrate`, already in
the transaction that holds the whole upgrade (so `begin_transaction` below begins nothing)."""

from alembic import context

from events.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
