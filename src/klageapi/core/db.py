"""The database engines (the primary, and a read replica when configured), sessions, and the
one-transaction-per-request session dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from klageapi.core.config import Settings
from klageapi.core.logging import get_logger

__all__ = [
    "PRIMARY_APPLICATION_NAME",
    "READ_APPLICATION_NAME",
    "ReadSessionDep",
    "SessionDep",
    "create_engine",
    "create_read_engine",
    "create_sessionmaker",
    "current_revision",
    "get_read_session",
    "get_session",
]

_log = get_logger(__name__)

PRIMARY_APPLICATION_NAME = "klageapi"
READ_APPLICATION_NAME = "klageapi-read"
"""What the replica's connections call themselves (pg_stat_activity.application_name)."""

# A replica that does not answer costs a request this long before the primary serves it.
_READ_CONNECT_TIMEOUT_SECONDS = 5.0


def create_engine(
    url: str,
    settings: Settings,
    *,
    application_name: str = PRIMARY_APPLICATION_NAME,
    connect_timeout: float | None = None,
) -> AsyncEngine:
    """An asyncpg engine whose connections work in UTC.

    No ping when a connection is taken from the pool: it costs three round trips on every
    request. When the server has dropped the connections (a restart), the first request to
    meet one fails with 503 and a Retry-After, and the pool drops all connections older than
    that failure, so the retry and the requests after it get new ones."""
    connect_args: dict[str, object] = {
        "server_settings": {"timezone": "UTC", "application_name": application_name}
    }
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # SQL errors would otherwise carry bound values (national ids) into log lines.
        hide_parameters=True,
        connect_args=connect_args,
    )


def create_read_engine(settings: Settings) -> AsyncEngine | None:
    """The read replica's engine, or None when KLAGEAPI_READ_DATABASE_URL is not set."""
    if settings.read_database_url is None:
        return None
    return create_engine(
        settings.read_database_url.get_secret_value(),
        settings,
        application_name=READ_APPLICATION_NAME,
        connect_timeout=_READ_CONNECT_TIMEOUT_SECONDS,
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


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only transaction for reads that tolerate replication lag: on the read replica when
    one is configured (and answers), else on the primary.

    Read-only on the primary too, so an endpoint that would write (which a replica refuses) is
    caught wherever it runs. A replica that cannot be reached is logged and the primary answers.
    """
    primary: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    replica: async_sessionmaker[AsyncSession] | None = request.app.state.read_sessionmaker
    session: AsyncSession | None = None
    if replica is not None:
        try:
            session = await _read_only(replica)
        except (SQLAlchemyError, OSError) as error:
            _log.warning("read_replica_unreachable", error=type(error).__name__)
    if session is None:
        session = await _read_only(primary)
    try:
        yield session
    finally:
        # Nothing to commit: closing ends the transaction.
        await session.close()


async def _read_only(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncSession:
    """A session in a read-only transaction, connected (so an unreachable server fails here)."""
    session = sessionmaker()
    try:
        # BEGIN READ ONLY, in the one round trip of the BEGIN; the pool takes the option off
        # the connection again when it is returned.
        await session.connection(execution_options={"postgresql_readonly": True})
    except BaseException:
        await session.close()
        raise
    return session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


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
