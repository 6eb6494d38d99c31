"""The migrations are reversible and agree with the models."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from klageapi.core.db import current_revision
from klageapi.core.migrations import alembic_config, head_revision, upgrade_to_head
from klageapi.models import Base
from tests.conftest import create_database


async def _fresh_engine(postgres_server_url: str) -> AsyncEngine:
    url = await create_database(postgres_server_url, f"klageapi_migrations_{uuid.uuid4().hex[:8]}")
    return create_async_engine(url)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_upgrade_downgrade_upgrade_round_trips(postgres_server_url: str) -> None:
    engine = await _fresh_engine(postgres_server_url)
    try:
        await upgrade_to_head(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == set(Base.metadata.tables)

        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "base"))
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == set()
        assert await current_revision(engine) is None

        await upgrade_to_head(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(postgres_server_url: str) -> None:
    engine = await _fresh_engine(postgres_server_url)
    try:
        await upgrade_to_head(engine)
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "compare_server_default": True}
                    ),
                    Base.metadata,
                )
            )
        assert differences == []
    finally:
        await engine.dispose()


async def test_audit_log_refuses_update_and_delete(postgres_server_url: str) -> None:
    engine = await _fresh_engine(postgres_server_url)
    try:
        await upgrade_to_head(engine)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO audit_log (occurred_at, actor_kind, action, purpose) "
                    "VALUES (now(), 'organisation', 'appeal.read', 'test')"
                )
            )
        for statement in ("UPDATE audit_log SET purpose = 'x'", "DELETE FROM audit_log"):
            async with engine.connect() as connection:
                with pytest.raises(DBAPIError, match="append-only"):
                    await connection.execute(text(statement))
    finally:
        await engine.dispose()
