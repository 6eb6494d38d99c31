"""Tracing with OpenTelemetry's instrumentation libraries: an incoming W3C `traceparent` is
honoured, each request is a server span, its SQL statements and its outgoing HTTP calls (the
webhook ping, the JWKS fetch; the worker's deliveries) are its children, and the outgoing calls
carry the trace on in their own `traceparent`.

Spans are exported (OTLP over HTTP) only when KLAGEAPI_TRACING_OTLP_ENDPOINT names a collector.
Without it no span is recorded, but the request's trace context still reaches the outgoing
calls, so a receiver that traces sees its delivery in the caller's trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from klageapi import __version__
from klageapi.core.config import Settings

__all__ = [
    "current_trace_id",
    "exporting_provider",
    "trace_app",
    "trace_database",
    "trace_http_client",
]

# Operators' endpoints are scraped and probed every few seconds: no spans for them.
_UNTRACED = "healthz,readyz,metrics"


def exporting_provider(settings: Settings, *, service: str) -> TracerProvider | None:
    """A tracer provider exporting to the configured OTLP collector, or None when none is.
    The standard OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES apply as well."""
    if settings.tracing_otlp_endpoint is None:
        return None
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.version": __version__}),
        sampler=ParentBased(root=_WorkRoots()),
    )
    exporter = OTLPSpanExporter(endpoint=str(settings.tracing_otlp_endpoint))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class _WorkRoots(Sampler):
    """A trace starts at a unit of work: a request (a server span) or an outgoing HTTP call
    made outside one (a webhook delivery). The background loops' bare SQL (the dispatcher's
    polls, the sweeps) starts none: a trace every two seconds of each process, of nothing."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        outgoing = kind == SpanKind.CLIENT and bool(attributes) and _is_http(attributes)
        if kind == SpanKind.SERVER or outgoing:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "WorkRoots"


def _is_http(attributes: Attributes) -> bool:
    assert attributes is not None
    return "http.method" in attributes or "http.request.method" in attributes


def trace_app(app: FastAPI, provider: TracerProvider | None) -> None:
    """Server spans for the app's requests, continuing an incoming traceparent; called last,
    so the request's trace is current in every middleware and below.

    Without a provider (no collector) nothing is recorded, and OpenTelemetry's server middleware
    would still cost its work on every request (0.7 ms of CPU on this 2-core machine,
    `bench/tracing.py`): then only the incoming trace context is made current (with
    OpenTelemetry's W3C propagator), which is all the outgoing calls need to pass it on."""
    if provider is None:
        app.add_middleware(_TraceContext)
        return
    # No spans for each ASGI message sent and received: they say nothing the server span
    # does not.
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=_UNTRACED,
        exclude_spans=["receive", "send"],
    )


_PROPAGATED = (b"traceparent", b"tracestate")


class _TraceContext:
    """The incoming W3C trace context, current while the request is handled."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name in _PROPAGATED
        }
        if scope["type"] != "http" or not carrier:
            await self.app(scope, receive, send)
            return
        token = context.attach(propagate.extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)


def trace_database(engine: AsyncEngine, provider: TracerProvider | None) -> None:
    """A span per SQL statement, a child of the span it runs in. Only when spans are recorded:
    each instrumentation adds listeners to the engine, and a span nobody records is no use."""
    if provider is not None:
        # skip_dep_check: the instrumentation declares SQLAlchemy below 2.1, while the engine
        # events it listens to (before and after each cursor execute) are the same in 2.1;
        # tests/core/test_tracing.py fails if its spans stop coming.
        SQLAlchemyInstrumentor().instrument(
            engine=engine.sync_engine,
            tracer_provider=provider,
            enable_commenter=False,
            skip_dep_check=True,
        )


def trace_http_client(client: httpx.AsyncClient, provider: TracerProvider | None) -> None:
    """A client span per outgoing request, with the trace passed on in its traceparent."""
    if not getattr(client, "_is_instrumented_by_opentelemetry", False):
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)


def current_trace_id() -> str | None:
    """The current trace's id (32 hex digits), when the request is part of a trace."""
    context: Any = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}"
