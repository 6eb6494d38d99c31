"""The webhook dispatcher: turns new events into deliveries and sends them, signed, in order
per subscription, with retries. Any number of dispatchers may run against one database: the
fan-out cursor is taken by one at a time, and a subscription is leased to one at a time.

Woken at once by `NOTIFY klageapi_dispatcher` (sent at the commit of every event and queued
delivery), and by polling when no notification comes. At-least-once: a dispatcher that dies
mid-send leaves its lease to run out, and another sends what was not recorded as delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from klageapi.core.config import Settings
from klageapi.core.db import current_revision
from klageapi.core.logging import get_logger
from klageapi.core.metrics import Metrics
from klageapi.core.migrations import head_revision
from klageapi.models import Event, WebhookDelivery, WebhookSubscription
from klageapi.webhook import queue, sender
from klageapi.webhook.service import signing_secrets

__all__ = ["CHANNEL", "Dispatcher"]

CHANNEL = "klageapi_dispatcher"
_FAN_OUT_BATCH = 1000
_HEAD_BATCH = 200
_RECORD_EVERY = 50


_log = get_logger(__name__)


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        http_client: httpx.AsyncClient,
        *,
        periodic: Callable[[], Awaitable[None]] | None = None,
        periodic_seconds: float = 60.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._http = http_client
        self._periodic = periodic
        self._periodic_seconds = periodic_seconds
        self._metrics = metrics
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Long enough for a send and its recording; short enough that a dead worker's
        # subscriptions move on soon.
        self._lease_seconds = 2 * settings.webhook_timeout_seconds + 5
        self._wake = asyncio.Event()
        self._sending: dict[uuid.UUID, asyncio.Task[None]] = {}
        # Notices from others, counted so a finishing sender can tell whether one came while
        # its subscription was excluded from claiming.
        self._notices = 0
        self.listening = False  # woken by notices (else it polls only)

    async def run(self) -> None:
        """Dispatch until cancelled, once the database is at this code's schema."""
        await self._until_schema_current()
        listener = await self._listen()
        last_periodic = 0.0
        try:
            while True:
                self._wake.clear()
                try:
                    await self.run_once()
                    if (
                        self._periodic
                        and time.monotonic() - last_periodic >= self._periodic_seconds
                    ):
                        last_periodic = time.monotonic()
                        await self._periodic()
                except Exception as error:  # the database may be away for a moment; go on
                    _log.warning("dispatcher_round_failed", error=type(error).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.worker_poll_seconds)
        finally:
            for task in list(self._sending.values()):
                task.cancel()
            await asyncio.gather(*self._sending.values(), return_exceptions=True)
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()

    async def run_once(self) -> None:
        """One round: fan new events out, then lease due subscriptions and start sending."""
        while True:
            free = self._settings.worker_concurrency - len(self._sending)
            async with self._sessionmaker() as session, session.begin():
                read = await queue.fan_out(session, limit=_FAN_OUT_BATCH, origin=self.owner)
                if read == _FAN_OUT_BATCH:
                    continue  # more to fan out first, in a transaction of its own
                claimed = []
                if free > 0:
                    claimed = await queue.claim(
                        session,
                        owner=self.owner,
                        lease_seconds=self._lease_seconds,
                        limit=free,
                        exclude=list(self._sending),
                    )
            break
        full = len(claimed) >= free
        for subscription_id in claimed:
            task = asyncio.create_task(self._send_all(subscription_id))
            self._sending[subscription_id] = task
            task.add_done_callback(
                functools.partial(self._finished, subscription_id, self._notices, full)
            )

    async def drain(self, *, within: float = 30.0) -> None:
        """Rounds until no enabled subscription has a pending delivery, waiting out retries
        (for tests and benchmarks)."""
        async with asyncio.timeout(within):
            while True:
                await self.run_once()
                await asyncio.gather(*self._sending.values(), return_exceptions=True)
                async with self._sessionmaker() as session:
                    if not await queue.has_pending(session):
                        return
                await asyncio.sleep(0.05)

    async def _until_schema_current(self) -> None:
        """Wait while the database is not at the schema this code was written for (a
        deployment's migrate step still to come, or the database away): rounds would fail."""
        expected, told = head_revision(), False
        while True:
            try:
                found = await current_revision(self._engine)
            except Exception as error:
                found = f"unreachable ({type(error).__name__})"
            if found == expected:
                if told:
                    _log.info("dispatcher_schema_current", revision=expected)
                return
            if not told:
                _log.warning("dispatcher_waiting_for_schema", expected=expected, found=found)
                told = True
            await asyncio.sleep(self._settings.worker_poll_seconds)

    def _finished(
        self, subscription_id: uuid.UUID, notices: int, full: bool, _: asyncio.Task[None]
    ) -> None:
        self._sending.pop(subscription_id, None)
        # Claim again when a notice may have been passed over while the subscription was
        # being sent, or when a free slot may be waited for; otherwise sleep until a notice.
        if full or self._notices != notices or not self.listening:
            self._wake.set()

    def _noticed(self, origin: str) -> None:
        if origin != self.owner:  # its own fan-out was claimed in the same transaction
            self._notices += 1
            self._wake.set()

    async def _listen(self) -> Any:
        """A connection of its own that LISTENs; None (polling only) when that fails."""
        try:
            connection = await self._engine.connect()
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.add_listener(CHANNEL, lambda *notice: self._noticed(notice[-1]))
        except Exception as error:
            _log.warning("dispatcher_listen_failed", error=type(error).__name__)
            return None
        self.listening = True
        return connection

    async def _send_all(self, subscription_id: uuid.UUID) -> None:
        holding = True
        try:
            while holding:
                holding = await self._send_batch(subscription_id)
        except Exception as error:
            _log.warning(
                "webhook_send_failed", subscription_id=str(subscription_id), error=repr(error)
            )
        finally:
            if holding:
                with contextlib.suppress(Exception):
                    await self._release(subscription_id)

    async def _release(self, subscription_id: uuid.UUID) -> None:
        async with self._sessionmaker() as session, session.begin():
            await queue.release(session, subscription_id, owner=self.owner)

    async def _send_batch(self, subscription_id: uuid.UUID) -> bool:
        """Send the subscription's next due deliveries in order; True while the lease is
        still held and there is more to send."""
        async with self._sessionmaker() as session:
            subscription = await session.get(WebhookSubscription, subscription_id)
            batch: Sequence[tuple[WebhookDelivery, Event]] = ()
            if subscription is not None and subscription.enabled:
                batch = await queue.head(session, subscription_id, limit=_HEAD_BATCH)
        if (
            subscription is None
            or not batch
            or batch[0][0].next_attempt_at > dt.datetime.now(dt.UTC)
        ):
            await self._release(subscription_id)
            return False
        done: list[queue.Attempt] = []
        last_record = time.monotonic()
        for delivery, event in batch:
            if delivery.next_attempt_at > dt.datetime.now(dt.UTC):
                break
            outcome = await sender.send(
                self._http,
                url=subscription.url,
                secrets=signing_secrets(subscription, dt.datetime.now(dt.UTC)),
                message_id=str(event.event_id),
                body=sender.event_message(event),
                timeout_seconds=self._settings.webhook_timeout_seconds,
                allowed=self._settings.webhook_allowed_networks,
            )
            if self._metrics is not None:
                seconds = outcome.duration_ms / 1000
                self._metrics.observe_webhook(delivered=outcome.delivered, seconds=seconds)
            if not outcome.delivered:
                done.append(self._failure(delivery.id, delivery.attempt_count + 1, outcome))
                await self._record(subscription_id, done, outcome)
                return False
            done.append(_attempt(delivery.id, outcome, delivered=True))
            if (
                len(done) >= _RECORD_EVERY
                or time.monotonic() - last_record > self._lease_seconds / 3
            ):
                if not await self._record(subscription_id, done, None):
                    return False
                done, last_record = [], time.monotonic()
        # Deliveries fanned out meanwhile are sent under the same lease; when none are due,
        # the lease is given back in the same transaction.
        return await self._record(subscription_id, done, None, release_when_idle=True)

    def _failure(
        self, delivery_id: uuid.UUID, attempt: int, outcome: sender.Outcome
    ) -> queue.Attempt:
        schedule = self._settings.webhook_retry_schedule_seconds
        if attempt > len(schedule):
            return _attempt(delivery_id, outcome, delivered=False)
        delay = schedule[attempt - 1] * (1 + random.uniform(0, 0.2))  # noqa: S311 (jitter)
        if outcome.retry_after_seconds is not None:
            cap = self._settings.webhook_retry_after_max_seconds
            delay = min(max(outcome.retry_after_seconds, 1.0), cap)
        return _attempt(delivery_id, outcome, delivered=False, retry_in_seconds=delay)

    async def _record(
        self,
        subscription_id: uuid.UUID,
        attempts: list[queue.Attempt],
        failure: sender.Outcome | None,
        *,
        release_when_idle: bool = False,
    ) -> bool:
        gone = failure is not None and failure.status_code == 410
        async with self._sessionmaker() as session, session.begin():
            kept = await queue.record(
                session,
                subscription_id,
                attempts,
                owner=self.owner,
                lease_seconds=self._lease_seconds,
                disable_after=dt.timedelta(hours=self._settings.webhook_disable_after_hours),
                disable_reason="the receiver answered 410 Gone" if gone else None,
                release_when_idle=release_when_idle,
            )
        if gone:
            _log.info("webhook_subscription_disabled", subscription_id=str(subscription_id))
        return kept


def _attempt(
    delivery_id: uuid.UUID,
    outcome: sender.Outcome,
    *,
    delivered: bool,
    retry_in_seconds: float | None = None,
) -> queue.Attempt:
    return queue.Attempt(
        delivery_id=delivery_id,
        attempted_at=outcome.attempted_at,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        response_excerpt=outcome.response_excerpt,
        error=outcome.error,
        delivered=delivered,
        retry_in_seconds=retry_in_seconds,
    )
