"""No client takes another's capacity: requests that wait on their client (a slow upload, to
the filesystem or to S3) or on a remote server (a webhook URL's ping) hold no database
connection or transaction while they wait, so one organisation holding more of them than the
pool has connections does not stall another organisation's reads. On a database of its own with
a small pool (3, no overflow), every request committing as in production, with
Idempotency-Keys (whose claim once held a connection too)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from klageapi.api.app import create_app
from klageapi.core.clock import FixedClock
from klageapi.core.config import Settings
from klageapi.document.seaweedfs import SeaweedFS
from tests.conftest import NAV_OSLO_ORG, NOW, CommittedApp, DatabaseTemplate
from tests.document.conftest import seaweedfs
from tests.factories import appeal_body
from tests.webhook.conftest import Answer, Receiver, receiver, receiver_server

# The webhook tests' real receiver and the document tests' S3 store, as fixtures here.
__all__ = ["receiver", "receiver_server", "seaweedfs"]

AuthHeaders = Callable[..., dict[str, str]]

POOL = 3
WAITING = 2 * POOL  # more waiting requests than the pool has connections
# Another organisation's read while they wait: a few ms when nothing is held; with every
# connection held it waits for the pool's timeout (10 s), and then fails.
READ_WITHIN_SECONDS = 5.0


@pytest.fixture
async def small_pool(
    database_template: DatabaseTemplate, settings: Settings, http_client: httpx.AsyncClient
) -> AsyncIterator[CommittedApp]:
    # Pings are held as long as the test needs (the run's 2 s would cut them short on a busy
    # machine).
    small = settings.model_copy(
        update={"db_pool_size": POOL, "db_max_overflow": 0, "webhook_timeout_seconds": 30}
    )
    async with database_template.copy(small, prefix="capacity") as engine:
        app = create_app(small, engine=engine, clock=FixedClock(NOW), http_client=http_client)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as c:
            yield CommittedApp(app=app, engine=engine, client=c)


async def _held(engine: AsyncEngine) -> dict[str, int]:
    """Connections of this database other than the asking one, by state, and the pool's."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1"
            )
        )
        states = {state: int(n) for state, n in rows}
    return {
        "idle in transaction": states.get("idle in transaction", 0)
        + states.get("idle in transaction (aborted)", 0),
        "active": states.get("active", 0),
        "checked out": engine.pool.checkedout(),  # type: ignore[attr-defined]
    }


async def _oslo_read(track: CommittedApp, auth: AuthHeaders, appeal_id: str) -> float:
    began = time.monotonic()
    async with asyncio.timeout(READ_WITHIN_SECONDS):
        response = await track.client.get(
            f"/v1/appeals/{appeal_id}", headers=auth(org=NAV_OSLO_ORG)
        )
    assert response.status_code == 200, response.text
    return time.monotonic() - began


async def _oslo_appeal(track: CommittedApp, auth: AuthHeaders) -> str:
    body = appeal_body(nav_office_unit_number="0301", municipality_number="0301")
    response = await track.client.post("/v1/appeals", json=body, headers=auth(org=NAV_OSLO_ORG))
    assert response.status_code == 201, response.text
    appeal_id: str = response.json()["id"]
    return appeal_id


@pytest.mark.parametrize("backend", ["filesystem", "s3"])
async def test_slow_uploads_of_one_organisation_hold_no_connection_and_stall_no_other(
    small_pool: CommittedApp, auth: AuthHeaders, request: pytest.FixtureRequest, backend: str
) -> None:
    if backend == "s3":
        store: SeaweedFS = request.getfixturevalue("seaweedfs")
        small_pool.app.state.blob_store = store.blob_store(prefix=f"capacity-{uuid.uuid4().hex}")
    register = await small_pool.client.post("/v1/appeals", json=appeal_body(), headers=auth())
    assert register.status_code == 201, register.text
    stavanger_appeal = register.json()["id"]
    oslo_appeal = await _oslo_appeal(small_pool, auth)
    release = asyncio.Event()
    started = asyncio.Semaphore(0)

    async def upload(number: int) -> httpx.Response:
        content = b"%PDF-1.7\n" + str(number).encode() * 2000
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()

        async def trickle() -> AsyncIterator[bytes]:
            yield content[:9]  # the first bytes, and then the client stalls
            started.release()
            await release.wait()
            yield content[9:]

        return await small_pool.client.post(
            f"/v1/appeals/{stavanger_appeal}/documents?category=supporting_document&title=V{number}",
            content=trickle(),
            headers={
                **auth(),
                "Content-Type": "application/pdf",
                "Content-Digest": f"sha-256=:{digest}:",
                "Idempotency-Key": f"upload-{number}",
            },
        )

    uploads = [asyncio.create_task(upload(number)) for number in range(WAITING)]
    try:
        for _ in range(WAITING):
            async with asyncio.timeout(10):
                await started.acquire()
        await asyncio.sleep(0.2)  # past their first bytes, inside the endpoint

        held = await _held(small_pool.engine)
        read = await _oslo_read(small_pool, auth, oslo_appeal)
    finally:
        release.set()
    answers = await asyncio.gather(*uploads)

    assert held == {"idle in transaction": 0, "active": 0, "checked out": 0}
    assert read < READ_WITHIN_SECONDS
    assert [answer.status_code for answer in answers] == [201] * WAITING, answers[0].text
    listed = await small_pool.client.get(
        f"/v1/appeals/{stavanger_appeal}/documents", headers=auth()
    )
    assert len(listed.json()["items"]) == WAITING


async def test_slow_pings_of_one_organisation_hold_no_connection_and_stall_no_other(
    small_pool: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    # A real receiver on loopback that holds each ping's answer until told.
    oslo_appeal = await _oslo_appeal(small_pool, auth)
    hold = asyncio.Event()
    receiver.answers = [Answer(hold=hold) for _ in range(2 * WAITING)]

    async def subscribe(number: int) -> httpx.Response:
        return await small_pool.client.post(
            "/v1/webhook-subscriptions",
            json={"url": f"{receiver.url}/{number}", "event_types": ["appeal.received"]},
            headers={**auth(), "Idempotency-Key": f"subscribe-{number}"},
        )

    async def change_url(subscription_id: str, number: int) -> httpx.Response:
        return await small_pool.client.patch(
            f"/v1/webhook-subscriptions/{subscription_id}",
            json={"url": f"{receiver.url}/changed/{number}"},
            headers=auth(),
        )

    creations = [asyncio.create_task(subscribe(number)) for number in range(WAITING)]
    try:
        await receiver.wait_for(WAITING)
        held_creating = await _held(small_pool.engine)
        read_creating = await _oslo_read(small_pool, auth, oslo_appeal)
    finally:
        hold.set()
    created = await asyncio.gather(*creations)
    assert [answer.status_code for answer in created] == [201] * WAITING, created[0].text

    # A new URL is pinged too: the same holds for the change.
    hold.clear()
    changes = [
        asyncio.create_task(change_url(answer.json()["id"], number))
        for number, answer in enumerate(created)
    ]
    try:
        await receiver.wait_for(2 * WAITING)
        held_changing = await _held(small_pool.engine)
        read_changing = await _oslo_read(small_pool, auth, oslo_appeal)
    finally:
        hold.set()
    changed = await asyncio.gather(*changes)

    assert held_creating == {"idle in transaction": 0, "active": 0, "checked out": 0}
    assert held_changing == {"idle in transaction": 0, "active": 0, "checked out": 0}
    assert max(read_creating, read_changing) < READ_WITHIN_SECONDS
    assert [answer.status_code for answer in changed] == [200] * WAITING, changed[0].text
    assert {answer.json()["url"] for answer in changed} == {
        f"{receiver.url}/changed/{number}" for number in range(WAITING)
    }
