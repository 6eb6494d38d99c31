"""The database engine, sessions, and the one-transaction-per-request session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from klageapi.core.config import Settings

__all__ = ["SessionDep", "create_engine", "create_sessionmaker", "current_revision", "get_session"]


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    """An asyncpg engine whose connections work in UTC.

    No ping when a connection is taken from the pool: it costs three round trips on every
    request. When the server has dropped the connections (a restart), the first request to
    meet one fails with 503 and a Retry-After, and the pool drops all connections older than
    that failure, so the retry and the requests after it get new ones."""
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # SQL errors would otherwise carry bound values (national ids) into log lines.
        hide_parameters=True,
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "klageapi"}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the endpoint returns, rolled back if it raises.

    Services flush, never commit; this dependency owns the transaction.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session, session.begin():
        yield session


# scope="function": the transaction commits before the response is sent, so a client never
# sees a success that a failed commit then takes back.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema revision the database is at, or None before the first migration."""
    async with engine.connect() as connection:
        exists = await connection.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        if not exists:
            return None
        revision: str | None = await connection.scalar(
            text("SELECT version_num FROM alembic_version")
        )
        return revision
