"""The dispatcher against real PostgreSQL and a real receiver on loopback: signed deliveries
that carry the feed's events, order per subscription, retries, disabling, several workers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from standardwebhooks.webhooks import Webhook

from klageapi.api.app import create_app
from klageapi.core.config import Settings
from klageapi.core.db import create_sessionmaker
from klageapi.core.logging import configure_logging
from klageapi.core.migrations import upgrade_to_head
from klageapi.models import WebhookDelivery, WebhookSubscription
from klageapi.webhook import queue
from klageapi.webhook.dispatcher import CHANNEL, Dispatcher
from tests import journey
from tests.conftest import SF_ROGALAND_ORG, CommittedApp, create_database
from tests.factories import NATIONAL_ID
from tests.journey import AuthHeaders
from tests.webhook.conftest import Answer, Receiver, make_dispatcher

Json = dict[str, Any]


async def subscribe(
    track: CommittedApp,
    auth: AuthHeaders,
    receiver: Receiver,
    *,
    event_types: list[str] | None = None,
    org: str | None = None,
) -> Json:
    headers = auth() if org is None else auth(org=org)
    response = await track.client.post(
        "/v1/webhook-subscriptions",
        json={
            "url": receiver.url,
            "event_types": event_types or ["appeal.received", "appeal.status_changed"],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    subscription: Json = response.json()
    return subscription


async def feed(track: CommittedApp, headers: dict[str, str]) -> list[Json]:
    response = await track.client.get("/v1/events", params={"limit": 1000}, headers=headers)
    items: list[Json] = response.json()["items"]
    return items


async def test_deliveries_are_signed_and_carry_the_same_events_as_the_feed(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    subscription = await subscribe(race_track, auth, receiver)
    appeal = await journey.register(race_track.client, auth)
    await journey.start_nav_review(race_track.client, auth, appeal["id"])

    await make_dispatcher(race_track).drain()

    delivered = receiver.events()
    verifier = Webhook(subscription["secret"])
    messages = [verifier.verify(r.body, r.headers) for r in delivered]
    assert [r.headers["webhook-id"] for r in delivered] == [m["data"]["id"] for m in messages]
    assert [m["data"] for m in messages] == await feed(race_track, auth())
    assert [m["type"] for m in messages] == ["appeal.received", "appeal.status_changed"]
    assert all(m["timestamp"] for m in messages)
    assert all(NATIONAL_ID not in r.body.decode() for r in delivered)


async def test_a_later_event_waits_while_an_earlier_one_is_retried(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    await subscribe(race_track, auth, receiver)
    receiver.answers = [Answer(status=500), Answer(status=502)]
    appeal = await journey.register(race_track.client, auth)
    await journey.start_nav_review(race_track.client, auth, appeal["id"])

    await make_dispatcher(race_track).drain()

    arrived = [json.loads(r.body)["type"] for r in receiver.events()]
    assert arrived == ["appeal.received"] * 3 + ["appeal.status_changed"]
    metrics = (await race_track.client.get("/metrics")).text
    assert 'klageapi_webhook_attempts_total{result="failed"} 2.0' in metrics
    assert 'klageapi_webhook_attempts_total{result="delivered"} 2.0' in metrics
    response = await race_track.client.get(
        f"/v1/webhook-subscriptions/{(await _only_subscription(race_track, auth))}/deliveries",
        headers=auth(),
    )
    deliveries = response.json()["items"]
    assert [(d["event_type"], d["status"], d["attempt_count"]) for d in deliveries] == [
        ("appeal.status_changed", "delivered", 1),
        ("appeal.received", "delivered", 3),
    ]
    first_attempts = deliveries[1]["attempts"]
    assert [a["status_code"] for a in first_attempts] == [204, 502, 500]


async def _only_subscription(track: CommittedApp, auth: AuthHeaders) -> str:
    response = await track.client.get("/v1/webhook-subscriptions", headers=auth())
    (subscription,) = response.json()["items"]
    return str(subscription["id"])


async def test_a_delivery_that_keeps_failing_is_given_up_and_the_next_goes_on(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    await subscribe(race_track, auth, receiver)
    # The test schedule has three retries: four attempts in all.
    receiver.answers = [Answer(status=500)] * 4
    appeal = await journey.register(race_track.client, auth)
    await journey.start_nav_review(race_track.client, auth, appeal["id"])

    await make_dispatcher(race_track).drain()

    arrived = [json.loads(r.body)["type"] for r in receiver.events()]
    assert arrived == ["appeal.received"] * 4 + ["appeal.status_changed"]
    async with AsyncSession(race_track.engine) as session:
        statuses = (
            await session.scalars(select(WebhookDelivery.status).order_by(WebhookDelivery.sequence))
        ).all()
    assert statuses == ["failed", "delivered"]


async def test_retry_after_is_honoured(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    await subscribe(race_track, auth, receiver)
    receiver.answers = [Answer(status=503, headers={"retry-after": "2"})]
    await journey.register(race_track.client, auth)

    await make_dispatcher(race_track).drain()

    first, second = receiver.events()
    assert second.at - first.at >= 1.9


async def test_410_gone_disables_the_subscription_and_says_why(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    subscription = await subscribe(race_track, auth, receiver)
    receiver.answers = [Answer(status=410)]
    await journey.register(race_track.client, auth)

    await make_dispatcher(race_track).drain()

    current = await race_track.client.get(
        f"/v1/webhook-subscriptions/{subscription['id']}", headers=auth()
    )
    assert current.json()["enabled"] is False
    assert "410" in current.json()["disabled_reason"]
    assert len(receiver.events()) == 1


async def test_a_subscription_failing_too_long_is_disabled(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    subscription = await subscribe(race_track, auth, receiver)
    receiver.default = Answer(status=500)
    async with AsyncSession(race_track.engine) as session, session.begin():
        await session.execute(
            update(WebhookSubscription).values(
                failing_since=dt.datetime.now(dt.UTC) - dt.timedelta(days=6)
            )
        )
    await journey.register(race_track.client, auth)

    await make_dispatcher(race_track).drain()

    current = (
        await race_track.client.get(
            f"/v1/webhook-subscriptions/{subscription['id']}", headers=auth()
        )
    ).json()
    assert current["enabled"] is False
    assert "failing without a break since" in current["disabled_reason"]
    assert "HTTP 500" in current["disabled_reason"]
    assert len(receiver.events()) == 1


async def test_a_statsforvalter_subscription_gets_events_from_the_forwarding_on(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    await subscribe(
        race_track,
        auth,
        receiver,
        org=SF_ROGALAND_ORG,
        event_types=["appeal.received", "package.forwarded", "appeal.status_changed"],
    )
    await journey.forwarded(race_track.client, auth)

    await make_dispatcher(race_track).drain()

    arrived = [json.loads(r.body)["type"] for r in receiver.events()]
    assert arrived == ["package.forwarded", "appeal.status_changed"]


async def test_two_dispatchers_send_each_event_once(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    for _ in range(2):
        await subscribe(race_track, auth, receiver)
    for _ in range(10):
        appeal = await journey.register(race_track.client, auth)
        await journey.start_nav_review(race_track.client, auth, appeal["id"])
    first, second = make_dispatcher(race_track), make_dispatcher(race_track)

    await asyncio.gather(first.drain(), second.drain(), first.drain(), second.drain())

    arrivals = [
        (r.headers["webhook-id"], r.headers["webhook-signature"]) for r in receiver.events()
    ]
    assert len(arrivals) == 2 * 20
    assert len(set(arrivals)) == 40


async def test_a_switched_off_subscription_gets_nothing(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    subscription = await subscribe(race_track, auth, receiver)
    await race_track.client.patch(
        f"/v1/webhook-subscriptions/{subscription['id']}",
        json={"enabled": False},
        headers=auth(),
    )
    await journey.register(race_track.client, auth)

    await make_dispatcher(race_track).drain()

    assert receiver.events() == []


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    # The lifespan configures logging as the settings say; put back the run's configuration.
    yield
    configure_logging(level="INFO", json=True)


@pytest.mark.usefixtures("_restore_logging")
@pytest.mark.parametrize("run_worker", [True, False])
async def test_the_api_process_sends_webhooks_itself_unless_told_not_to(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver, run_worker: bool
) -> None:
    await subscribe(race_track, auth, receiver)
    settings = race_track.app.state.settings.model_copy(update={"run_worker": run_worker})
    app = create_app(settings, engine=race_track.engine, clock=race_track.app.state.clock)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client,
    ):
        await journey.register(client, auth)
        if run_worker:
            await receiver.wait_for(2)  # the ping, then the event
        else:
            await asyncio.sleep(1.5)

    assert [json.loads(r.body)["type"] for r in receiver.events()] == (
        ["appeal.received"] if run_worker else []
    )


async def test_a_running_dispatcher_is_woken_by_every_commit_and_never_waits_for_its_poll(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    # A poll far beyond the test's patience: every delivery must come from a notice. The first
    # answer is held, so events arrive while their subscription is being sent and cannot be
    # claimed: the sender must take them on, or wake the dispatcher when it lets go.
    state = race_track.app.state
    settings = state.settings.model_copy(update={"worker_poll_seconds": 600.0})
    dispatcher = Dispatcher(race_track.engine, state.sessionmaker, settings, state.http_client)
    await subscribe(race_track, auth, receiver, event_types=["appeal.received"])
    release = asyncio.Event()
    receiver.answers = [Answer(hold=release)]
    running = asyncio.create_task(dispatcher.run())
    try:
        await asyncio.sleep(0.3)  # listening
        await journey.register(race_track.client, auth)
        await receiver.wait_for(2)  # the ping and the held first event
        for _ in range(3):
            await journey.register(race_track.client, auth)
        release.set()
        await receiver.wait_for(5, within=5)
        for _ in range(3):  # one at a time, each after the dispatcher went idle
            await asyncio.sleep(0.2)
            await journey.register(race_track.client, auth)
        await receiver.wait_for(8, within=5)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert len({r.headers["webhook-id"] for r in receiver.events()}) == 7


async def test_a_dispatcher_waits_for_the_schema_before_its_first_round(
    postgres_server_url: str, settings: Settings
) -> None:
    url = await create_database(postgres_server_url, f"klageapi_waiting_{uuid.uuid4().hex[:8]}")
    engine = create_async_engine(url)
    quick = settings.model_copy(update={"worker_poll_seconds": 0.05})
    async with httpx.AsyncClient() as http_client:
        dispatcher = Dispatcher(engine, create_sessionmaker(engine), quick, http_client)
        running = asyncio.create_task(dispatcher.run())
        try:
            await asyncio.sleep(0.5)
            assert not running.done()
            assert not dispatcher.listening  # still waiting: no rounds against a bare database

            await upgrade_to_head(engine)
            for _ in range(100):  # it looks again every poll
                if dispatcher.listening:
                    break
                await asyncio.sleep(0.05)
            assert dispatcher.listening
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await engine.dispose()


async def test_the_periodic_task_runs_between_rounds_and_survives_a_failure(
    race_track: CommittedApp,
) -> None:
    calls = 0

    async def periodic() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away for a moment")

    state = race_track.app.state
    quick = state.settings.model_copy(update={"worker_poll_seconds": 0.05})
    dispatcher = Dispatcher(
        race_track.engine,
        state.sessionmaker,
        quick,
        state.http_client,
        periodic=periodic,
        periodic_seconds=0.1,
    )
    running = asyncio.create_task(dispatcher.run())
    await asyncio.sleep(1.0)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)

    assert 3 <= calls <= 12  # once per 0.1 s at most, and on after the failed first call


async def test_a_fan_out_notice_names_its_dispatcher_and_an_event_notice_names_nobody(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    # What lets a dispatcher sleep through the notice of its own fan-out (claimed already in
    # the same transaction) while other dispatchers wake to it.
    await subscribe(race_track, auth, receiver)
    url = race_track.engine.url.render_as_string(hide_password=False)
    listener = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    notices: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(CHANNEL, lambda *notice: notices.put_nowait(notice[-1]))
    try:
        await journey.register(race_track.client, auth)
        event_notice = await asyncio.wait_for(notices.get(), 5)
        async with race_track.app.state.sessionmaker() as session, session.begin():
            assert await queue.fan_out(session, limit=100, origin="dispatcher-a") == 1
        fan_out_notice = await asyncio.wait_for(notices.get(), 5)
    finally:
        await listener.close()

    assert event_notice == ""
    assert fan_out_notice == "dispatcher-a"
