"""Tracing: a request's incoming W3C traceparent is continued by its server span, whose children
are the request's SQL statements and its outgoing webhook call, which passes the trace on; spans
are exported over OTLP only when a collector is configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from klageapi.api.app import create_app
from klageapi.core.clock import FixedClock
from klageapi.core.config import Settings
from klageapi.core.tracing import exporting_provider
from tests.conftest import NOW, DatabaseTemplate
from tests.journey import AuthHeaders
from tests.test_logging import CapturedLogs
from tests.test_logging import logs as logs
from tests.webhook.conftest import Receiver

# The fixtures of a sibling folder's conftest, used here as they are (re-exported).
from tests.webhook.conftest import receiver as receiver
from tests.webhook.conftest import receiver_server as receiver_server

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


@dataclass
class Traced:
    client: httpx.AsyncClient
    spans: InMemorySpanExporter


@pytest.fixture
async def traced(database_template: DatabaseTemplate, settings: Settings) -> AsyncIterator[Traced]:
    """The app on a database of its own (its engine instrumented for this test alone) and an
    HTTP client of its own, with spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        async with database_template.copy(settings, prefix="trace") as engine:
            app = create_app(
                settings, engine=engine, clock=FixedClock(NOW), tracer_provider=provider
            )
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://klageapi.test"
                ) as client:
                    yield Traced(client, exporter)
            finally:
                await app.state.http_client.aclose()
    finally:
        provider.shutdown()  # after the engine's last connection has closed


def _hex(number: int, digits: int) -> str:
    return f"{number:0{digits}x}"


def _attribute(span: ReadableSpan, name: str) -> object:
    return (span.attributes or {}).get(name)


def _ancestors(span: ReadableSpan, spans: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in spans:
        span = spans[span.parent.span_id]
        chain.append(span)
    return chain


async def test_a_request_s_traceparent_is_continued_through_the_database_and_its_webhook(
    traced: Traced, auth: AuthHeaders, receiver: Receiver, logs: CapturedLogs
) -> None:
    logs.start()
    response = await traced.client.post(
        "/v1/webhook-subscriptions",
        json={"url": receiver.url, "event_types": ["appeal.received"]},
        headers={**auth(), "traceparent": TRACEPARENT},
    )

    assert response.status_code == 201, response.text
    spans = traced.spans.get_finished_spans()
    by_id = {span.context.span_id: span for span in spans}
    assert {_hex(span.context.trace_id, 32) for span in spans} == {TRACE_ID}
    (server,) = [span for span in spans if span.kind == SpanKind.SERVER]
    assert server.parent is not None
    assert _hex(server.parent.span_id, 16) == PARENT_SPAN_ID
    assert server.attributes is not None
    assert server.attributes.get("http.route") == "/v1/webhook-subscriptions"
    statements = [span for span in spans if _attribute(span, "db.statement")]
    assert {span.name for span in statements} >= {"INSERT", "SELECT"}
    assert all(_attribute(span, "db.system") == "postgresql" for span in statements)
    assert all(server in _ancestors(span, by_id) for span in statements)
    (ping,) = [
        span
        for span in spans
        if span.kind == SpanKind.CLIENT
        and receiver.url in str(_attribute(span, "http.url") or _attribute(span, "url.full"))
    ]
    assert server in _ancestors(ping, by_id)
    # The receiver was told the trace: the ping's own span is its parent.
    (received,) = receiver.received
    assert received.headers["traceparent"] == (f"00-{TRACE_ID}-{_hex(ping.context.span_id, 16)}-01")
    (line,) = logs.events("request")
    assert line["trace_id"] == TRACE_ID


async def test_without_a_collector_nothing_is_exported_and_the_trace_is_still_passed_on(
    client: httpx.AsyncClient, auth: AuthHeaders, receiver: Receiver, settings: Settings
) -> None:
    assert settings.tracing_otlp_endpoint is None
    assert exporting_provider(settings, service="klageapi") is None

    response = await client.post(
        "/v1/webhook-subscriptions",
        json={"url": receiver.url, "event_types": ["appeal.received"]},
        headers={**auth(), "traceparent": TRACEPARENT},
    )

    assert response.status_code == 201, response.text
    (received,) = receiver.received
    version, trace_id, _, _ = received.headers["traceparent"].split("-")
    assert (version, trace_id) == ("00", TRACE_ID)


async def test_with_a_collector_the_spans_are_exported_over_otlp(
    settings: Settings, receiver: Receiver
) -> None:
    collector = f"{receiver.root}/v1/traces"
    configured = settings.model_copy(update={"tracing_otlp_endpoint": collector})
    provider = exporting_provider(configured, service="klageapi")
    assert provider is not None
    app = create_app(configured, tracer_provider=provider)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client:
        await client.get("/v1/appeal-deadlines", headers={"traceparent": TRACEPARENT})
    await app.state.http_client.aclose()

    # The exporter posts from a thread of its own (blocking HTTP), so the receiver, on this
    # test's event loop, must be free to answer meanwhile.
    flushed = await asyncio.to_thread(provider.force_flush, 10_000)
    provider.shutdown()

    assert flushed
    (export,) = await receiver.wait_for(1)
    assert export.path == "/v1/traces"
    assert export.headers["content-type"] == "application/x-protobuf"
    assert bytes.fromhex(TRACE_ID) in export.body  # the spans of that trace, in protobuf
    assert b"klageapi" in export.body  # the service's name, a resource attribute
