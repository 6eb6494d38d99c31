"""The backlog an operator alerts on, read at the scrape of /metrics from the database: events
not yet delivered and the age of the oldest, deliveries failing, subscriptions failing or
disabled, packages awaiting receipt and overdue, documentation requests overdue."""

from __future__ import annotations

import datetime as dt

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from klageapi.core.clock import FixedClock
from klageapi.core.db import create_sessionmaker
from klageapi.models import WebhookDelivery, WebhookSubscription
from klageapi.webhook import queue
from tests import journey
from tests.conftest import NOW, CommittedApp
from tests.journey import AuthHeaders
from tests.webhook.conftest import Receiver

# The fixtures of a sibling folder's conftest, used here as they are (re-exported).
from tests.webhook.conftest import receiver as receiver
from tests.webhook.conftest import receiver_server as receiver_server
from tests.webhook.test_dispatcher import subscribe

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _scrape(track: CommittedApp) -> Figures:
    answer = await track.client.get("/metrics")
    assert answer.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _gauge(figures: Figures, name: str, **labels: str) -> float:
    return figures[(name, tuple(sorted(labels.items())))]


async def test_the_backlog_gauges_count_what_waits_and_how_long(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    clock = race_track.app.state.clock
    assert isinstance(clock, FixedClock)
    healthy, failing, disabled = [await subscribe(race_track, auth, receiver) for _ in range(3)]
    # Waiting for documentation (due 16 November), and a second appeal awaiting receipt.
    appeal, _, _ = await journey.under_statsforvalter_review(race_track.client, auth)
    await journey.request_documentation(race_track.client, auth, appeal["id"])
    await journey.forwarded(race_track.client, auth)

    before = await _scrape(race_track)

    async with AsyncSession(race_track.engine) as session, session.begin():
        while await queue.fan_out(session, limit=1000):
            pass
    sessionmaker = create_sessionmaker(race_track.engine)
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == failing["id"])
            .values(failing_since=NOW)
        )
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == disabled["id"])
            .values(enabled=False, disabled_at=NOW, disabled_reason="gone")
        )
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == failing["id"])
            .values(attempt_count=1)
        )
    clock.advance(dt.timedelta(days=30))

    after = await _scrape(race_track)

    assert _gauge(before, "klageapi_database_figures_up") == 1
    events = _gauge(before, "klageapi_events_undelivered", stage="fan_out")
    assert events > 0
    assert _gauge(before, "klageapi_events_undelivered", stage="delivery") == 0
    # Recorded at NOW by the fixed clock, the scrape's now: none has waited yet.
    assert _gauge(before, "klageapi_events_undelivered_oldest_age_seconds", stage="fan_out") == 0
    assert _gauge(before, "klageapi_packages_awaiting_receipt") == 1
    assert _gauge(before, "klageapi_packages_overdue") == 0
    assert _gauge(before, "klageapi_documentation_requests_open") == 1
    assert _gauge(before, "klageapi_documentation_requests_overdue") == 0

    assert _gauge(after, "klageapi_events_undelivered", stage="fan_out") == 0
    # Each subscription wants appeal.received and appeal.status_changed: two appeals received,
    # and the first's statuses on its way to waiting for documentation.
    pending = _gauge(after, "klageapi_events_undelivered", stage="delivery")
    assert pending > 0
    assert pending % 3 == 0  # the three subscriptions got the same deliveries
    assert _gauge(after, "klageapi_webhook_deliveries_failing") == pending / 3
    month = dt.timedelta(days=30).total_seconds()
    assert _gauge(after, "klageapi_events_undelivered_oldest_age_seconds", stage="delivery") == (
        month
    )
    assert _gauge(after, "klageapi_events_undelivered_oldest_age_seconds", stage="fan_out") == 0
    assert _gauge(after, "klageapi_webhook_subscriptions", state="healthy") == 1
    assert _gauge(after, "klageapi_webhook_subscriptions", state="failing") == 1
    assert _gauge(after, "klageapi_webhook_subscriptions", state="disabled") == 1
    assert _gauge(after, "klageapi_packages_awaiting_receipt") == 1
    assert _gauge(after, "klageapi_packages_overdue") == 1
    assert _gauge(after, "klageapi_documentation_requests_open") == 1
    assert _gauge(after, "klageapi_documentation_requests_overdue") == 1
    assert healthy["id"] not in (failing["id"], disabled["id"])


async def test_a_scrape_answers_without_the_backlog_when_the_database_does_not(
    race_track: CommittedApp,
) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    race_track.app.state.scrape_engine = create_async_engine(
        "postgresql+asyncpg://klageapi:x@127.0.0.1:1/klageapi"
    )

    figures = await _scrape(race_track)

    assert _gauge(figures, "klageapi_database_figures_up") == 0
    assert not any(name == "klageapi_packages_overdue" for name, _ in figures)
    assert any(name == "process_resident_memory_bytes" for name, _ in figures)
    assert any(name == "klageapi_db_pool_size" for name, _ in figures)
