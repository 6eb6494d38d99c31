"""The migrations are reversible and agree with the models."""

from __future__ import annotations

import datetime as dt
import importlib.util
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from klageapi.core.db import current_revision
from klageapi.core.migrations import alembic_config, head_revision, upgrade_to_head
from klageapi.models import Appeal, AppealStatus, Base
from tests.conftest import create_database
from tests.factories import add_steps, make_appeal


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


def _migration(revision: str) -> ModuleType:
    (path,) = Path(alembic_config().get_main_option("script_location") or "").glob(
        f"versions/*_{revision}_*.py"
    )
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_milestones_filled_from_history_equal_those_the_trigger_keeps(
    session: AsyncSession,
) -> None:
    t0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    hours = [t0 + dt.timedelta(hours=h) for h in range(0, 400, 10)]
    steps = [
        AppealStatus.under_nav_review,
        AppealStatus.forwarded,
        AppealStatus.under_nav_review,  # sent back as incomplete
        AppealStatus.forwarded,
        AppealStatus.forwarded,  # re-routed: no new forwarding
        AppealStatus.received_by_statsforvalter,
        AppealStatus.under_statsforvalter_review,
        AppealStatus.awaiting_documentation,
        AppealStatus.under_statsforvalter_review,
        AppealStatus.awaiting_documentation,
        AppealStatus.under_statsforvalter_review,
        AppealStatus.decided,
    ]
    decided = await make_appeal(session, registered_at=hours[0])
    await add_steps(session, decided, list(zip(steps, hours[1:], strict=False)))
    waiting = await make_appeal(session, registered_at=hours[0])
    await add_steps(session, waiting, list(zip(steps[:2], hours[1:], strict=False)))
    columns = [
        Appeal.id,
        Appeal.registered_at,
        Appeal.last_step_at,
        Appeal.last_forwarded_at,
        Appeal.statsforvalter_received_at,
        Appeal.statsforvalter_review_started_at,
        Appeal.documentation_wait_seconds,
        Appeal.decided_at,
    ]
    ids = [decided.id, waiting.id]
    kept = (await session.execute(select(*columns).where(Appeal.id.in_(ids)))).all()

    await session.execute(
        update(Appeal)
        .where(Appeal.id.in_(ids))
        .values(
            {column: None for column in columns[2:]}
            | {Appeal.registered_at: t0 - dt.timedelta(days=1)}
        )
    )
    await session.execute(text(_migration("0008")._FILL))
    await session.execute(text(_migration("0009")._FILL))
    filled = (await session.execute(select(*columns).where(Appeal.id.in_(ids)))).all()

    assert set(filled) == set(kept)
    by_id = {row.id: row for row in kept}
    assert by_id[decided.id].last_step_at == hours[12]
    assert by_id[waiting.id].last_step_at == hours[2]
    assert by_id[decided.id].last_forwarded_at == hours[4]
    assert by_id[decided.id].documentation_wait_seconds == 2 * 10 * 3600
    assert by_id[decided.id].decided_at == hours[12]
    assert by_id[waiting.id].decided_at is None
