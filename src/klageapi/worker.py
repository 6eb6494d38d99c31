"""The background worker: the webhook dispatcher and, every minute, the overdue announcements.
`klageapi worker` runs it alone; `klageapi serve` runs it inside the API process by default."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from klageapi.case_package.overdue import announce_overdue
from klageapi.core.clock import Clock, SystemClock
from klageapi.core.config import Settings
from klageapi.core.db import create_engine, create_sessionmaker
from klageapi.core.embedded_postgres import EmbeddedPostgres
from klageapi.core.logging import configure_logging, get_logger
from klageapi.core.metrics import Metrics
from klageapi.webhook.dispatcher import Dispatcher

__all__ = ["dispatcher_for", "run"]

_log = get_logger(__name__)


def dispatcher_for(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    http_client: httpx.AsyncClient,
    clock: Clock,
    metrics: Metrics | None = None,
) -> Dispatcher:
    """A dispatcher that also announces overdue packages and documentation requests."""

    async def announce() -> None:
        async with sessionmaker() as session, session.begin():
            count = await announce_overdue(
                session, clock=clock, working_days=settings.package_receipt_overdue_working_days
            )
        if count:
            _log.info("overdue_announced", count=count)

    return Dispatcher(
        engine, sessionmaker, settings, http_client, periodic=announce, metrics=metrics
    )


async def run(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM; the leases of what was being sent are given back."""
    configure_logging(level=settings.log_level, json=settings.log_json)
    embedded = None
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
    else:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = await asyncio.to_thread(embedded.start)
    # A round that meets a dropped connection fails, is logged and is tried again at the next
    # wake-up, on new connections.
    engine = create_engine(url, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with httpx.AsyncClient() as http_client:
            dispatcher = dispatcher_for(
                engine, create_sessionmaker(engine), settings, http_client, SystemClock()
            )
            _log.info("worker_started", owner=dispatcher.owner)
            task = asyncio.create_task(dispatcher.run())
            await stop.wait()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            _log.info("worker_stopped")
    finally:
        await engine.dispose()
        if embedded is not None:
            embedded.stop()
