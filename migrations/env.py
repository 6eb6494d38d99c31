"""Alembic environment: async, and able to run on a connection handed in by klageapi itself."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from klageapi.core.config import get_settings
from klageapi.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = get_settings().database_url
    if url is None:
        raise SystemExit(
            "KLAGEAPI_DATABASE_URL is not set; `klageapi migrate` handles the embedded one"
        )
    engine = create_async_engine(url.get_secret_value())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


connection = config.attributes.get("connection")
if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
elif connection is not None:
    _run(connection)
else:
    asyncio.run(_run_online())
