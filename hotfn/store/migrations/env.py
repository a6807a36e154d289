"""Alembic environment: migrations run on the connection hotfn hands over."""

from __future__ import annotations

from alembic import context

from hotfn.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only run through hotfn.store.db
    raise SystemExit("run migrations through hotfn (hotfn start migrates at start)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
