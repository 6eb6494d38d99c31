"""A PostgreSQL that stops and starts again: every request meanwhile gets 503
database_unavailable with Retry-After at once (never a 500, never a wait past the pool's), and
the app and its dispatcher carry on by themselves once it is back, with no restart.

The server is the test's own (an embedded PostgreSQL in the test's folder): stopping the run's
would take every other test's database away."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from klageapi.api.app import create_app
from klageapi.core.clock import FixedClock
from klageapi.core.config import Settings
from klageapi.core.db import create_engine
from klageapi.core.migrations import upgrade_to_head
from klageapi.models import Appeal
from klageapi.registry.service import load_shipped_data
from klageapi.worker import dispatcher_for
from tests.conftest import NOW
from tests.factories import appeal_body
from tests.journey import AuthHeaders
from tests.webhook.conftest import Receiver
from tests.webhook.conftest import receiver as receiver
from tests.webhook.conftest import receiver_server as receiver_server

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # XDG_RUNTIME_DIR unset: pgserver's lock file goes to /tmp
    from klageapi.core.embedded_postgres import EmbeddedPostgres

POOL_TIMEOUT = 3.0


@dataclass
class OwnDatabase:
    server: EmbeddedPostgres
    engine: AsyncEngine
    app: FastAPI
    client: httpx.AsyncClient
    app_settings: Settings


@pytest.fixture(scope="module")
def _server() -> Iterator[EmbeddedPostgres]:
    """The module's server. Not under pytest's temporary root: run as root, the server runs as
    another user, which must reach its folder (see conftest's postgres_server_url)."""
    folder = Path(tempfile.mkdtemp(prefix="klageapi-faults-"))
    server = EmbeddedPostgres(folder)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
async def _database_url(_server: EmbeddedPostgres, settings: Settings) -> str:
    """The module's database, migrated and seeded with the demonstration registry."""
    url = await asyncio.to_thread(_server.start)
    engine = create_engine(url, settings)
    await upgrade_to_head(engine)
    async with AsyncSession(engine) as session, session.begin():
        await load_shipped_data(session, demo=True)
    await engine.dispose()
    return url


@pytest.fixture
async def own(
    _server: EmbeddedPostgres,
    _database_url: str,
    settings: Settings,
    http_client: httpx.AsyncClient,
) -> AsyncIterator[OwnDatabase]:
    """The app, every request committing, on the module's PostgreSQL (running, whatever the
    test before did to it)."""
    await asyncio.to_thread(_server.resume)
    app_settings = settings.model_copy(
        update={
            "db_pool_size": 5,
            "db_max_overflow": 2,
            "db_pool_timeout_seconds": POOL_TIMEOUT,
            "db_connect_timeout_seconds": 2.0,
        }
    )
    engine = create_engine(_database_url, app_settings)
    app = create_app(app_settings, engine=engine, clock=FixedClock(NOW), http_client=http_client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client:
        yield OwnDatabase(_server, engine, app, client, app_settings)
    await engine.dispose()


async def _register(client: httpx.AsyncClient, auth: AuthHeaders) -> httpx.Response:
    return await client.post("/v1/appeals", json=appeal_body(), headers=auth())


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "database_unavailable"


async def _appeals(engine: AsyncEngine) -> int:
    async with AsyncSession(engine) as session:
        return int(await session.scalar(select(func.count()).select_from(Appeal)) or 0)


async def test_while_the_database_is_stopped_requests_get_503_and_it_recovers_by_itself(
    own: OwnDatabase, auth: AuthHeaders
) -> None:
    before = await _appeals(own.engine)
    # Connections in the pool, as a service under load has them.
    first = await asyncio.gather(*(_register(own.client, auth) for _ in range(4)))
    assert [r.status_code for r in first] == [201] * 4
    appeal_id = first[0].json()["id"]

    await asyncio.to_thread(own.server.halt)
    began = time.monotonic()
    during = await asyncio.gather(
        *(_register(own.client, auth) for _ in range(6)),
        *(own.client.get(f"/v1/appeals/{appeal_id}", headers=auth()) for _ in range(6)),
        own.client.get("/v1/events", headers=auth()),
    )
    elapsed = time.monotonic() - began

    for response in during:
        _assert_unavailable(response)
    assert elapsed < POOL_TIMEOUT, f"the 503s took {elapsed:.1f} s"

    await asyncio.to_thread(own.server.resume)
    after = await _register(own.client, auth)
    assert after.status_code == 201, after.text
    read = await own.client.get(f"/v1/appeals/{appeal_id}", headers=auth())
    assert read.status_code == 200
    # The answered registrations are stored, the refused ones are not.
    assert await _appeals(own.engine) == before + 5


async def test_a_server_shutting_down_refuses_new_connections_with_503_not_500(
    own: OwnDatabase, auth: AuthHeaders
) -> None:
    assert (await _register(own.client, auth)).status_code == 201
    # The pool's connections go; a session that stays open keeps a smart shutdown waiting,
    # and meanwhile the server answers every new connection "the database system is shutting
    # down" (SQLSTATE 57P03), which once was a 500.
    await own.engine.dispose()
    holder = create_engine(own.engine.url.render_as_string(hide_password=False), own.app_settings)
    async with holder.connect() as held:
        await asyncio.to_thread(own.server.halt, mode="smart", wait=False)
        await asyncio.sleep(0.3)

        response = await _register(own.client, auth)

        _assert_unavailable(response)
        await held.rollback()
    await holder.dispose()
    await asyncio.to_thread(own.server.halt)  # the smart shutdown may not have finished yet
    await asyncio.to_thread(own.server.resume)
    assert (await _register(own.client, auth)).status_code == 201


async def test_a_full_pool_answers_503_after_the_pools_wait_not_later(
    own: OwnDatabase, auth: AuthHeaders
) -> None:
    size = own.app_settings.db_pool_size + own.app_settings.db_max_overflow
    taken = [await own.engine.connect() for _ in range(size)]
    try:
        began = time.monotonic()
        response = await _register(own.client, auth)
        elapsed = time.monotonic() - began
    finally:
        for connection in taken:
            await connection.close()

    _assert_unavailable(response)
    assert POOL_TIMEOUT <= elapsed < POOL_TIMEOUT + 2


async def test_the_dispatcher_delivers_again_once_the_database_is_back(
    own: OwnDatabase, auth: AuthHeaders, receiver: Receiver
) -> None:
    created = await own.client.post(
        "/v1/webhook-subscriptions",
        json={"url": receiver.url, "event_types": ["appeal.received"]},
        headers=auth(),
    )
    assert created.status_code == 201, created.text
    state = own.app.state
    dispatcher = dispatcher_for(
        own.engine, state.sessionmaker, own.app_settings, state.http_client, state.clock
    )
    task = asyncio.create_task(dispatcher.run())
    try:
        assert (await _register(own.client, auth)).status_code == 201
        await receiver.wait_for(2)  # the ping and the first event

        await asyncio.to_thread(own.server.halt)
        await asyncio.sleep(1.0)  # the dispatcher's rounds meet the stopped server
        await asyncio.to_thread(own.server.resume)
        await asyncio.sleep(0.5)

        registered = None
        for _ in range(3):  # a first request may meet a connection from before the stop
            registered = await _register(own.client, auth)
            if registered.status_code == 201:
                break
            _assert_unavailable(registered)
        assert registered is not None and registered.status_code == 201
        # At least once: an event whose delivery was being recorded as the server stopped
        # comes again, with the same webhook-id.
        arrived = 3
        while len({event.headers["webhook-id"] for event in receiver.events()}) < 2:
            await receiver.wait_for(arrived)
            arrived += 1
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
