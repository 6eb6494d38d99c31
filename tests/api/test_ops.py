"""Operators' endpoints (liveness, readiness, metrics) and the request id every response carries."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from klageapi.api.app import create_app
from klageapi.core.config import IssuerSettings, Settings
from klageapi.core.migrations import head_revision
from klageapi.models import AuditEntry
from tests.conftest import CommittedApp, create_database, drop_database
from tests.factories import make_appeal

AuthHeaders = Callable[..., dict[str, str]]

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def app(new_app: FastAPI) -> FastAPI:
    """An app of each test's own: the metrics tests count its requests from zero."""
    return new_app


async def _client_for(settings: Settings, engine: AsyncEngine) -> httpx.AsyncClient:
    app = create_app(settings, engine=engine)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ops.test")


@pytest.fixture
async def empty_database_engine(postgres_server_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database no migration has touched; dropped afterwards."""
    name = f"klageapi_empty_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(await create_database(postgres_server_url, name))
    yield engine
    await engine.dispose()
    await drop_database(postgres_server_url, name)


# --- Liveness and readiness ---------------------------------------------------------------------


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_schema_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "schema_revision": head_revision()}


async def test_readyz_on_an_unmigrated_database_reports_schema_behind(
    settings: Settings, empty_database_engine: AsyncEngine
) -> None:
    async with await _client_for(settings, empty_database_engine) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "schema_behind"
    assert problem["schema_revision"] is None
    assert problem["expected_revision"] == head_revision()
    assert "klageapi migrate" in problem["detail"]


async def test_readyz_on_a_database_at_another_revision_reports_schema_behind(
    settings: Settings, empty_database_engine: AsyncEngine
) -> None:
    async with empty_database_engine.begin() as connection:
        await connection.execute(text("CREATE TABLE alembic_version (version_num varchar(32))"))
        await connection.execute(text("INSERT INTO alembic_version VALUES ('older0001')"))

    async with await _client_for(settings, empty_database_engine) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    problem = response.json()
    assert problem["code"] == "schema_behind"
    assert problem["schema_revision"] == "older0001"


async def test_readyz_without_a_reachable_database_reports_unreachable(settings: Settings) -> None:
    # Port 1 on the loopback interface: nothing listens there, the connection is refused.
    engine = create_async_engine("postgresql+asyncpg://klageapi:x@127.0.0.1:1/klageapi")
    try:
        async with await _client_for(settings, engine) as client:
            response = await client.get("/readyz")
    finally:
        await engine.dispose()

    assert response.status_code == 503
    assert response.json()["code"] == "database_unreachable"
    assert "x@127.0.0.1" not in response.text


async def test_healthz_answers_even_when_the_database_is_behind(
    settings: Settings, empty_database_engine: AsyncEngine
) -> None:
    async with await _client_for(settings, empty_database_engine) as client:
        response = await client.get("/healthz")

    assert response.status_code == 200


# --- Metrics ------------------------------------------------------------------------------------


async def test_metrics_count_requests_by_route_template_not_by_id(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal_id = uuid.uuid4()
    for _ in range(2):
        await client.get(f"/v1/appeals/{appeal_id}", headers=auth(scope="klageapi:read"))
    await client.get(f"/v1/appeals/{uuid.uuid4()}")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    metrics = response.text
    route = 'method="GET",route="/v1/appeals/{appeal_id}"'
    assert f'klageapi_http_requests_total{{{route},status="404"}} 2.0' in metrics
    assert f'klageapi_http_requests_total{{{route},status="401"}} 1.0' in metrics
    assert str(appeal_id) not in metrics


async def test_metrics_put_unknown_paths_under_one_label(client: httpx.AsyncClient) -> None:
    await client.get(f"/no/such/path/{uuid.uuid4()}")

    metrics = (await client.get("/metrics")).text

    assert 'klageapi_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in (
        metrics
    )
    assert "/no/such/path" not in metrics


async def test_metrics_record_request_latency_by_route(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")

    metrics = (await client.get("/metrics")).text

    assert 'klageapi_http_request_duration_seconds_count{method="GET",route="/healthz"} 1.0' in (
        metrics
    )


async def test_metrics_expose_the_database_pool(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    metrics = (await client.get("/metrics")).text

    size = re.search(r"^klageapi_db_pool_size (\S+)$", metrics, re.MULTILINE)
    assert size is not None
    assert float(size.group(1)) == engine.sync_engine.pool.size()  # type: ignore[attr-defined]
    assert re.search(r"^klageapi_db_pool_checked_out \S+$", metrics, re.MULTILINE)


# --- Request ids --------------------------------------------------------------------------------


async def test_every_response_carries_a_fresh_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")

    assert _HEX_ID.fullmatch(first.headers["x-request-id"])
    assert _HEX_ID.fullmatch(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_sane_incoming_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.2_B-x"})

    assert response.headers["x-request-id"] == "lb-7f3a.2_B-x"


@pytest.mark.parametrize(
    "unsafe",
    ["id with spaces", 'abc"><script>', "a" * 65, "ok;rm -rf", "æøå", "trace-1\n"],
    ids=["spaces", "markup", "too-long", "semicolon", "non-ascii", "trailing-newline"],
)
async def test_unsafe_incoming_request_id_is_replaced(
    client: httpx.AsyncClient, unsafe: str
) -> None:
    response = await client.get("/healthz", headers=[(b"x-request-id", unsafe.encode())])

    assert response.headers["x-request-id"] != unsafe
    assert _HEX_ID.fullmatch(response.headers["x-request-id"])


async def test_problem_document_carries_the_request_id_of_its_response(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/offices/nav", headers={"X-Request-ID": "trace-42"})

    assert response.status_code == 401
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"


async def test_unknown_route_answers_with_a_problem_and_a_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/no/such/route")

    assert response.status_code == 404
    assert response.json()["code"] == "route_not_found"
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_request_id_is_written_to_the_audit_log(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)

    response = await client.get(
        f"/v1/appeals/{appeal.id}",
        headers={**auth(scope="klageapi:read"), "X-Request-ID": "case-system-0001"},
    )

    assert response.status_code == 200
    entry = (await session.scalars(select(AuditEntry))).one()
    assert entry.request_id == "case-system-0001"


async def test_a_lost_database_connection_is_a_503_and_the_retry_gets_a_new_one(
    race_track: CommittedApp, auth: AuthHeaders, postgres_server_url: str
) -> None:
    assert (await race_track.client.get("/v1/appeals", headers=auth())).status_code == 200
    database = race_track.engine.url.database
    admin = create_async_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:  # as a server restart would
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :database AND pid <> pg_backend_pid()"
            ),
            {"database": database},
        )
    await admin.dispose()

    lost = await race_track.client.get("/v1/appeals", headers=auth())
    retried = await race_track.client.get("/v1/appeals", headers=auth())

    assert lost.status_code == 503, lost.text
    assert lost.headers["content-type"] == "application/problem+json"
    assert lost.json()["code"] == "database_unavailable"
    assert lost.headers["retry-after"] == "1"
    assert retried.status_code == 200


async def test_a_request_that_gets_no_database_connection_in_time_is_a_503(
    race_track: CommittedApp, auth: AuthHeaders, settings: Settings
) -> None:
    # One connection, taken: the pool's wait runs out, as under a load beyond its size.
    engine = create_async_engine(
        race_track.engine.url, pool_size=1, max_overflow=0, pool_timeout=0.2
    )
    try:
        async with engine.connect(), await _client_for(settings, engine) as client:
            answer = await client.get("/v1/appeals", headers=auth())
    finally:
        await engine.dispose()

    assert answer.status_code == 503
    assert answer.json()["code"] == "database_unavailable"
    assert answer.headers["retry-after"] == "1"


async def test_the_pool_overflow_gauge_never_reads_negative(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # Fewer connections open than the pool keeps: SQLAlchemy's own count is below zero.
    assert engine.sync_engine.pool.overflow() < 0  # type: ignore[attr-defined]

    metrics = (await client.get("/metrics")).text

    assert re.search(r"^klageapi_db_pool_overflow 0\.0$", metrics, re.MULTILINE), metrics


async def test_metrics_count_token_refusals_by_reason(
    client: httpx.AsyncClient, auth: AuthHeaders, make_token: Callable[..., str]
) -> None:
    expired = make_token(exp=1_000_000_000, iat=999_999_000)
    for headers in (
        {},
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {expired}"},
        auth(scope="klageapi:read"),  # not the admin scope the registry needs
    ):
        assert (await client.get("/v1/offices/nav", headers=headers)).status_code in (401, 403)

    metrics = (await client.get("/metrics")).text

    assert 'klageapi_token_refusals_total{reason="missing"} 2.0' in metrics
    assert 'klageapi_token_refusals_total{reason="malformed"} 1.0' in metrics
    assert 'klageapi_token_refusals_total{reason="expired_token"} 1.0' in metrics
    assert 'klageapi_token_refusals_total{reason="insufficient_scope"} 1.0' in metrics


async def test_metrics_count_jwks_fetch_failures_by_issuer(
    settings: Settings, engine: AsyncEngine, make_token: Callable[..., str]
) -> None:
    # An issuer whose JWKS URL nobody answers (port 1 on loopback).
    issuer = IssuerSettings(issuer="https://down.issuer.test", jwks_url="http://127.0.0.1:1/jwks")
    app = create_app(settings.model_copy(update={"issuers": [issuer]}), engine=engine)
    token = make_token(iss="https://down.issuer.test")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ops.test") as client:
        refused = await client.get("/v1/appeals", headers={"Authorization": f"Bearer {token}"})
        metrics = (await client.get("/metrics")).text

    assert refused.status_code == 401
    assert 'klageapi_jwks_fetch_failures_total{issuer="https://down.issuer.test"} 1.0' in metrics
    assert 'klageapi_token_refusals_total{reason="keys_unavailable"} 1.0' in metrics


async def test_metrics_carry_the_process_s_own_figures(client: httpx.AsyncClient) -> None:
    metrics = (await client.get("/metrics")).text

    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"):
        assert re.search(rf"^{name} \S+$", metrics, re.MULTILINE), name
