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


def create_engine(url: str, settings: Settings, *, pre_ping: bool = True) -> AsyncEngine:
    """An asyncpg engine whose connections work in UTC. `pre_ping` tests each connection as it
    is taken from the pool (a round trip), so a request never meets one the server dropped."""
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=pre_ping,
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
