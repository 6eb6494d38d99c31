"""The database engines (the primary, and a read replica when configured), sessions, the
one-transaction-per-request session dependencies, and short transactions of their own.

No connection is held while a request waits on its client or on a remote server: the request's
session takes a connection at its first statement (SQLAlchemy connects lazily), so an endpoint
that waits (an upload's body, a webhook's ping) does so before it, and whatever it must read
first it reads in a short transaction of its own (`Transactions`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import URL, NullPool, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
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
    "Transactions",
    "TransactionsDep",
    "create_engine",
    "create_read_engine",
    "create_scrape_engine",
    "create_sessionmaker",
    "current_revision",
    "database_unavailable",
    "get_read_session",
    "get_session",
    "get_transactions",
]

_log = get_logger(__name__)

PRIMARY_APPLICATION_NAME = "klageapi"
SCRAPE_APPLICATION_NAME = "klageapi-metrics"
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
    that failure, so the retry and the requests after it get new ones.

    A request waits at most `db_pool_timeout_seconds` for a connection from a full pool and
    `db_connect_timeout_seconds` (or `connect_timeout`) for a new one, so a server that is away
    never holds a request longer than that: it gets 503 database_unavailable."""
    connect_args: dict[str, object] = {
        "server_settings": {"timezone": "UTC", "application_name": application_name},
        "timeout": settings.db_connect_timeout_seconds
        if connect_timeout is None
        else connect_timeout,
    }
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        # SQL errors would otherwise carry bound values (national ids) into log lines.
        hide_parameters=True,
        connect_args=connect_args,
    )


# SQLSTATEs that say the server cannot serve anyone now, whatever was asked: class 08
# (connection exception), admin_shutdown, crash_shutdown, cannot_connect_now (the server is
# starting up or shutting down) and too_many_connections.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached or dropped the connection (a
    stopped or restarting server, a full pool), rather than anything about the request."""
    if isinstance(error, PoolTimeout):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or isinstance(error.orig, OSError):
            return True
        sqlstate = getattr(error.orig, "sqlstate", None) or ""
        return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
    # asyncpg's own errors when a connection cannot even be opened (the socket is gone, the
    # port refuses, the connect timed out) reach us as they are, not wrapped by SQLAlchemy.
    return isinstance(error, OSError)


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


def create_scrape_engine(url: str | URL) -> AsyncEngine:
    """An engine without a pool for the figures `/metrics` reads from the database: each scrape
    connects, runs one short statement and closes, so it never waits behind the requests for
    the pool's connections, nor keeps one of its own. Connecting and the statement each get
    5 s."""
    return create_async_engine(
        url,
        poolclass=NullPool,
        hide_parameters=True,
        connect_args={
            "timeout": 5.0,
            "server_settings": {
                "timezone": "UTC",
                "application_name": SCRAPE_APPLICATION_NAME,
                "statement_timeout": "5000",
                "default_transaction_read_only": "on",
            },
        },
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


class Transactions:
    """Short transactions of their own, each committed when its block ends (rolled back if it
    raises): for what a request must read or claim before it waits on its client or a remote
    server, which the request's own transaction must not span."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        async with self._sessionmaker() as session, session.begin():
            yield session


def get_transactions(request: Request) -> Transactions:
    return Transactions(request.app.state.sessionmaker)


TransactionsDep = Annotated[Transactions, Depends(get_transactions)]


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
