"""Store (schema): Alembic's environment — migrations run on the connection the store hands over."""

from __future__ import annotations

import warnings

from alembic import context
from sqlmodel import SQLModel

import bot.store.tables  # noqa: F401  (the tables register themselves on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction(), warnings.catch_warnings():
    # SQLite rebuilds a table to change its primary key; SQLAlchemy notes the key differs, as intended.
    warnings.filterwarnings("ignore", message=".*as primary_key=True, not matching locally specified")
    context.run_migrations()
