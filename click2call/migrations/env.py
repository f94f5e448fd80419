"""Alembic environment: migrations run on the connection the service hands over at start."""

from alembic import context

from click2call.db import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
