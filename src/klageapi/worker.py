"""The background worker: the webhook dispatcher and, every minute, the overdue announcements
and the retention job. `klageapi worker` runs it alone, with its Prometheus metrics on a port of
its own (KLAGEAPI_WORKER_METRICS_HOST and _PORT); `klageapi serve` runs it inside the API
process by default."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator

import httpx
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from klageapi.case_package.overdue import announce_overdue
from klageapi.core.clock import Clock, SystemClock
from klageapi.core.config import Settings
from klageapi.core.db import create_engine, create_scrape_engine, create_sessionmaker
from klageapi.core.embedded_postgres import EmbeddedPostgres
from klageapi.core.logging import configure_logging, get_logger
from klageapi.core.metrics import Metrics
from klageapi.core.tracing import exporting_provider, trace_http_client
from klageapi.document.storage import BlobStore, blob_store_from_settings
from klageapi.retention.service import erase_due
from klageapi.statistics import backlog
from klageapi.webhook.dispatcher import Dispatcher

__all__ = ["dispatcher_for", "metrics_app", "run"]

_log = get_logger(__name__)


def dispatcher_for(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    http_client: httpx.AsyncClient,
    clock: Clock,
    metrics: Metrics | None = None,
    *,
    blob_store: BlobStore | None = None,
) -> Dispatcher:
    """A dispatcher that also, every minute, announces overdue packages and documentation
    requests and erases the appeals past their retention period."""
    store = blob_store if blob_store is not None else blob_store_from_settings(settings)

    async def announce() -> None:
        async with sessionmaker() as session, session.begin():
            count = await announce_overdue(
                session, clock=clock, working_days=settings.package_receipt_overdue_working_days
            )
        if count:
            _log.info("overdue_announced", count=count)

    async def erase() -> None:
        await erase_due(
            sessionmaker, store=store, clock=clock, retention_days=settings.retention_days
        )

    async def periodic() -> None:
        # Each on its own: one failing (the store away, say) does not hold the other back.
        for job in (announce, erase):
            try:
                await job()
            except Exception as error:
                _log.warning("periodic_job_failed", job=job.__name__, error=type(error).__name__)

    return Dispatcher(
        engine, sessionmaker, settings, http_client, periodic=periodic, metrics=metrics
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
    scrape_engine = create_scrape_engine(url)
    clock = SystemClock()
    metrics = Metrics()
    metrics.watch_pool(engine)
    tracer_provider = exporting_provider(settings, service="klageapi-worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = _MetricsServer(
        uvicorn.Config(
            metrics_app(metrics, scrape_engine, clock=clock, settings=settings),
            host=settings.worker_metrics_host,
            port=settings.worker_metrics_port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    # The socket is bound here, not by uvicorn: uvicorn answers a port in use with SystemExit,
    # which asyncio lets out of the loop and which would end the worker. Sending webhooks
    # matters more than being scraped: the worker goes on, and the scrape that fails (and this
    # line) tells the operator.
    listener = _metrics_listener(settings.worker_metrics_host, settings.worker_metrics_port)
    try:
        async with httpx.AsyncClient() as http_client:
            trace_http_client(http_client, tracer_provider)
            serving = None
            if listener is not None:
                serving = asyncio.create_task(server.serve(sockets=[listener]))
                host, port = listener.getsockname()[:2]
                _log.info("worker_metrics_listening", host=host, port=port)
            dispatcher = dispatcher_for(
                engine, create_sessionmaker(engine), settings, http_client, clock, metrics
            )
            _log.info("worker_started", owner=dispatcher.owner)
            task = asyncio.create_task(dispatcher.run())
            await stop.wait()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            server.should_exit = True
            if serving is not None:
                await serving
            _log.info("worker_stopped")
    finally:
        await engine.dispose()
        await scrape_engine.dispose()
        if listener is not None:
            listener.close()
        if tracer_provider is not None:
            tracer_provider.shutdown()
        if embedded is not None:
            embedded.stop()


def _metrics_listener(host: str, port: int) -> socket.socket | None:
    """A listening socket for the worker's /metrics, or None (logged) when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        _log.error(
            "worker_metrics_unavailable", host=host, port=port, reason=error.strerror or str(error)
        )
        return None


class _MetricsServer(uvicorn.Server):
    """uvicorn inside the worker's loop: the worker handles SIGINT and SIGTERM itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def metrics_app(
    metrics: Metrics, scrape_engine: AsyncEngine, *, clock: Clock, settings: Settings
) -> Starlette:
    """The worker's own endpoints: `/metrics` (its process, its pool, its webhook attempts and
    the database's backlog figures) and `/healthz`."""

    async def scrape(request: Request) -> Response:
        extra = await backlog.scrape(
            scrape_engine,
            clock=clock,
            working_days=settings.package_receipt_overdue_working_days,
        )
        return Response(metrics.exposition(extra), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/metrics", scrape), Route("/healthz", healthz)])
