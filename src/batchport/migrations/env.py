"""Alembic's entry point: runs the revisions on the connection batchport hands over, or on a URL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        transaction_per_migration=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (given := config.attributes.get("connection")) is not None:
    run_online(given)
else:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///batchport.db")
    with engine.connect() as connection:
        run_online(connection)
    engine.dispose()
