"""Builds the FastAPI application: state, middleware, error rendering and routers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from klageapi import __version__
from klageapi.api import contract, docs, ops, v1
from klageapi.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from klageapi.api.problems import install_problem_handlers
from klageapi.api.summaries import SERVERS, SUMMARIES, TAGS
from klageapi.core.auth import TokenVerifier
from klageapi.core.clock import Clock, SystemClock
from klageapi.core.config import Settings, get_settings
from klageapi.core.db import (
    create_engine,
    create_read_engine,
    create_scrape_engine,
    create_sessionmaker,
    current_revision,
)
from klageapi.core.dev_issuer import DevIssuer
from klageapi.core.embedded_postgres import EmbeddedPostgres
from klageapi.core.files import read_or_create
from klageapi.core.idempotency import sweep_expired
from klageapi.core.limits import OrganisationLimits
from klageapi.core.logging import configure_logging, get_logger
from klageapi.core.metrics import Metrics
from klageapi.core.migrations import head_revision, upgrade_to_head
from klageapi.core.pagination import CursorCodec
from klageapi.core.schemas import Problem
from klageapi.core.tracing import (
    exporting_provider,
    trace_app,
    trace_database,
    trace_http_client,
)
from klageapi.document.storage import blob_store_from_settings
from klageapi.registry.service import load_shipped_data
from klageapi.worker import dispatcher_for

__all__ = ["create_app", "openapi_document", "sweep_idempotency_keys_once"]

_log = get_logger(__name__)

DESCRIPTION = """\
Integration API for appeals (klager) against decisions on economic social assistance.

NAV case systems register appeals and forward case packages; Statsforvalter systems pull,
acknowledge and decide them. Every refusal is an RFC 9457 problem document with a stable `code`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    read_engine: AsyncEngine | None = None,
    clock: Clock | None = None,
    http_client: httpx.AsyncClient | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The application. With `engine` it uses that database as it is (tests), and
    `read_engine`, if given, as its read replica; without, its lifespan connects to the
    configured (and replica) or embedded database and migrates it if told to. Spans go to
    `tracer_provider` when given (tests), else to the configured OTLP collector, if any."""
    settings = settings or get_settings()
    # FastAPIOffline serves Swagger UI's and ReDoc's assets from its package under
    # docs.ASSETS; the pages themselves are docs.router's (FastAPI's own load from CDNs).
    app = FastAPIOffline(
        docs_url=None,
        redoc_url=None,
        static_url=docs.ASSETS,
        title="klageapi",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
        openapi_tags=TAGS,
        servers=SERVERS,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock(backdating_limit=_backdating_limit(settings))
    app.state.metrics = Metrics()
    app.state.owns_tracer_provider = tracer_provider is None
    app.state.tracer_provider = tracer_provider or exporting_provider(settings, service="klageapi")
    app.state.http_client = http_client or httpx.AsyncClient(timeout=10.0)
    app.state.owns_http_client = http_client is None
    trace_http_client(app.state.http_client, app.state.tracer_provider)
    app.state.token_verifier = _token_verifier(settings, app.state.http_client, app.state.metrics)
    app.state.cursor_codec = CursorCodec(_secret_key(settings))
    app.state.blob_store = blob_store_from_settings(settings)
    app.state.organisation_limits = OrganisationLimits(
        max_concurrent=settings.organisation_max_concurrent_requests,
        rate=settings.organisation_requests_per_second,
        burst=settings.organisation_request_burst,
    )
    app.state.engine = None
    app.state.scrape_engine = None
    app.state.read_sessionmaker = None
    if engine is not None:
        _attach_database(app, engine, read_engine)

    install_problem_handlers(app)
    app.include_router(ops.router)
    app.include_router(docs.router)
    app.include_router(v1.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    # Added last is outermost: the request context wraps the body limit, so a 413 carries the
    # request id and is counted in the metrics.
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_json_body_bytes,
        larger=[("POST", re.compile(r"/v1/appeals/[^/]+/documents"), settings.document_max_bytes)],
    )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=app.state.metrics,
        templates=_route_templates(app),
    )
    # Outermost of all: the request's span is current in everything the request does.
    trace_app(app, app.state.tracer_provider)
    return app


def _backdating_limit(settings: Settings) -> dt.timedelta | None:
    # Development and tests replay old cases freely; production holds case systems to a window.
    if settings.is_development:
        return None
    return dt.timedelta(days=settings.backdating_limit_days)


_templates: list[str] = []


def _route_templates(app: FastAPI) -> list[str]:
    # Every app has the same routers, and building the OpenAPI document is the slow part of
    # create_app: do it once per process.
    if not _templates:
        pages = [r.path for r in docs.router.routes if isinstance(r, APIRoute)]
        assets = f"{docs.ASSETS}/{{file}}"
        _templates.extend([*app.openapi()["paths"], *pages, assets, "/openapi.json"])
    return _templates


def _attach_database(app: FastAPI, engine: AsyncEngine, read_engine: AsyncEngine | None) -> None:
    app.state.engine = engine
    trace_database(engine, app.state.tracer_provider)
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.read_sessionmaker = None if read_engine is None else create_sessionmaker(read_engine)
    app.state.metrics.watch_pool(engine)
    app.state.scrape_engine = create_scrape_engine(engine.url)


def _token_verifier(
    settings: Settings, http_client: httpx.AsyncClient, metrics: Metrics
) -> TokenVerifier:
    issuers = list(settings.issuers)
    if settings.is_development:
        issuers.append(DevIssuer(settings.data_dir).settings())
    return TokenVerifier(
        issuers,
        http_client=http_client,
        leeway_seconds=settings.jwt_leeway_seconds,
        refresh_min_seconds=settings.jwks_refresh_min_seconds,
        metrics=metrics,
    )


def _secret_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    # Development only (production refuses to start without one): keep one in the data folder
    # so cursors stay valid across restarts and between the workers of one `serve`.
    path = settings.data_dir / "secret-key"
    return read_or_create(path, lambda: secrets.token_urlsafe(48).encode()).strip()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    configure_logging(level=settings.log_level, json=settings.log_json)
    async with AsyncExitStack() as stack:
        if app.state.owns_http_client:
            stack.push_async_callback(app.state.http_client.aclose)
        if app.state.owns_tracer_provider and app.state.tracer_provider is not None:
            stack.callback(app.state.tracer_provider.shutdown)  # sends what is left
        if app.state.engine is None:
            engine = await _connect(settings, stack)
            read_engine = create_read_engine(settings)
            if read_engine is not None:
                stack.push_async_callback(read_engine.dispose)
            _attach_database(app, engine, read_engine)
            if settings.should_migrate_on_start:
                await upgrade_to_head(engine)
            await _load_registry(app, settings)
        # Leftovers of uploads cut off by a crash are never served; clear the old ones.
        await app.state.blob_store.sweep_partial(older_than=dt.timedelta(hours=1))
        sweeper = asyncio.create_task(_sweep_idempotency_keys(app))
        stack.callback(sweeper.cancel)
        stack.push_async_callback(app.state.scrape_engine.dispose)
        if app.state.metrics.multiprocess:
            sampler = asyncio.create_task(app.state.metrics.sample_pools_forever())
            stack.callback(sampler.cancel)
        if settings.run_worker:
            dispatcher = dispatcher_for(
                app.state.engine,
                app.state.sessionmaker,
                settings,
                app.state.http_client,
                app.state.clock,
                app.state.metrics,
                blob_store=app.state.blob_store,
            )
            worker = asyncio.create_task(dispatcher.run())
            stack.push_async_callback(_cancelled, worker)
        _log.info("started", environment=settings.environment)
        yield


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _sweep_idempotency_keys(app: FastAPI) -> None:
    """Delete stored idempotent answers past their retention, every few minutes."""
    settings: Settings = app.state.settings
    while True:
        await asyncio.sleep(settings.idempotency_sweep_seconds)
        await sweep_idempotency_keys_once(app)


async def sweep_idempotency_keys_once(app: FastAPI) -> int:
    """One round of the sweeper, in a transaction of its own; returns how many answers went.
    A failed round is logged and left to the next one, never fatal."""
    try:
        async with app.state.sessionmaker() as session, session.begin():
            swept = await sweep_expired(session, now=app.state.clock.now())
    except Exception as error:
        _log.warning("idempotency_sweep_failed", error=type(error).__name__)
        return 0
    if swept:
        _log.info("idempotency_keys_swept", count=swept)
    return swept


async def _connect(settings: Settings, stack: AsyncExitStack) -> AsyncEngine:
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
    else:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = await asyncio.to_thread(embedded.start)
        stack.callback(embedded.stop)
        _log.info("embedded_postgres_started", data_dir=str(embedded.pgdata))
    engine = create_engine(url, settings)
    stack.push_async_callback(engine.dispose)
    return engine


async def _load_registry(app: FastAPI, settings: Settings) -> None:
    if await current_revision(app.state.engine) != head_revision():
        _log.warning("schema_behind", hint="run `klageapi migrate`; the registry is not loaded")
        return
    async with app.state.sessionmaker() as session, session.begin():
        await load_shipped_data(session, demo=settings.is_development)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            servers=app.servers,
        )
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        contract.complete(schema, app.routes)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation["summary"] = SUMMARIES.get(
                    operation["operationId"], operation.get("summary")
                )
        app.openapi_schema = schema
    return app.openapi_schema


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, built without touching any database or data folder."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(environment="development", data_dir=Path(folder), secret_key="x" * 32)
        return create_app(settings).openapi()
