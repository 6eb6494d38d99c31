"""The read-only session of statistics and audit reads: read-only in its BEGIN, and the pool's
connection writable again afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from klageapi.core.db import create_sessionmaker, get_read_session


@pytest.fixture
async def one_connection(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database whose pool holds a single connection, so every session
    gets the same one."""
    single = create_async_engine(engine.url, pool_size=1, max_overflow=0)
    yield single
    await single.dispose()


async def _read_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    state = SimpleNamespace(sessionmaker=create_sessionmaker(engine), read_sessionmaker=None)
    request: Any = SimpleNamespace(app=SimpleNamespace(state=state))
    async for session in get_read_session(request):
        yield session


async def test_a_read_session_refuses_writes_and_leaves_its_connection_writable(
    one_connection: AsyncEngine,
) -> None:
    sent: list[str] = []
    event.listen(
        one_connection.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: sent.append(statement),
    )

    async for session in _read_session(one_connection):
        assert await session.scalar(text("SHOW transaction_read_only")) == "on"
        with pytest.raises(DBAPIError, match="read-only transaction"):
            await session.execute(text("CREATE TEMPORARY TABLE scratch (n int)"))

    assert not any("SET TRANSACTION" in statement for statement in sent)
    async with AsyncSession(one_connection) as session:
        assert await session.scalar(text("SHOW transaction_read_only")) == "off"
