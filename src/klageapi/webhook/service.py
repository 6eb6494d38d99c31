"""Webhook subscriptions: creating (with a signed ping), changing, rotating secrets, the
delivery log, redelivery and replay. Only the owning organisation sees a subscription."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.audit import service as audit
from klageapi.core.auth import Organisation
from klageapi.core.clock import Clock
from klageapi.core.config import Settings
from klageapi.core.db import Transactions
from klageapi.core.pagination import PageParams
from klageapi.models import (
    DeliveryReason,
    DeliveryStatus,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from klageapi.registry import access
from klageapi.webhook import repository, sender
from klageapi.webhook.errors import (
    DeliveryNotFound,
    ReplayWindowTooLong,
    SubscriptionNotFound,
    WebhookPingFailed,
    WebhookUrlNotHttps,
)
from klageapi.webhook.schemas import (
    ReplayCreate,
    SubscriptionCreate,
    SubscriptionUpdate,
    TroubledState,
    TroubledSubscriptionRead,
)
from klageapi.webhook.signing import new_secret
from klageapi.webhook.targets import resolve

__all__ = [
    "REPLAY_MAX_DAYS",
    "create",
    "delete",
    "deliveries",
    "get",
    "list_for",
    "list_troubled",
    "redeliver",
    "replay",
    "rotate_secret",
    "signing_secrets",
    "update",
]

REPLAY_MAX_DAYS = 14
ATTEMPTS_SHOWN = 10


async def create(
    session: AsyncSession,
    body: SubscriptionCreate,
    *,
    organisation: Organisation,
    settings: Settings,
    http_client: httpx.AsyncClient,
    clock: Clock,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret, once a signed ping to its URL was answered 2xx. The
    ping goes out before `session` runs its first statement, so no connection waits on it."""
    subscription_id = uuid.uuid4()
    secret = new_secret()
    await _check_url(body.url, subscription_id, [secret], settings, http_client, clock)
    subscription = WebhookSubscription(
        id=subscription_id,
        organisation_number=organisation.organisation_number,
        url=body.url,
        event_types=[str(type_) for type_ in body.event_types],
        description=body.description,
        enabled=body.enabled,
        secret=secret,
    )
    session.add(subscription)
    await session.flush()
    await session.refresh(subscription)
    return subscription, secret


async def list_for(
    session: AsyncSession, page: PageParams, *, organisation: Organisation
) -> tuple[Sequence[WebhookSubscription], str | None]:
    """A page of the caller's own subscriptions, oldest first."""
    rows = await repository.list_owned(
        session,
        organisation.organisation_number,
        after=page.after_time_and_id("webhook-subscriptions"),
        limit=page.limit + 1,
    )
    return page.page(
        "webhook-subscriptions",
        list(rows),
        lambda subscription: [subscription.created_at.isoformat(), str(subscription.id)],
    )


async def list_troubled(
    session: AsyncSession,
    page: PageParams,
    *,
    states: Sequence[TroubledState],
    administrator: Organisation,
    clock: Clock,
) -> tuple[list[TroubledSubscriptionRead], str | None]:
    """A page of every organisation's failing or disabled subscriptions, for an operator;
    audited, since it shows who subscribes to what across organisations."""
    rows, cursor = page.page(
        "troubled-webhook-subscriptions",
        list(
            await repository.list_troubled(
                session,
                failing=TroubledState.failing in states,
                disabled=TroubledState.disabled in states,
                after=page.after_time_and_id("troubled-webhook-subscriptions"),
                limit=page.limit + 1,
            )
        ),
        lambda row: [row[0].created_at.isoformat(), str(row[0].id)],
    )
    await audit.record(
        session,
        principal=administrator,
        action="webhook_subscription.list_troubled",
        appeal_id=None,
        purpose="operations: failing or disabled webhook subscriptions",
        clock=clock,
    )
    return [_troubled(subscription, pending) for subscription, pending in rows], cursor


def _troubled(subscription: WebhookSubscription, pending: int) -> TroubledSubscriptionRead:
    url = httpx.URL(subscription.url)
    origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
    return TroubledSubscriptionRead(
        id=subscription.id,
        organisation=f"0192:{subscription.organisation_number}",
        url_origin=origin,
        state=TroubledState.failing if subscription.enabled else TroubledState.disabled,
        event_types=subscription.event_types,
        created_at=subscription.created_at,
        failing_since=subscription.failing_since,
        disabled_at=subscription.disabled_at,
        disabled_reason=subscription.disabled_reason,
        pending_deliveries=pending,
    )


async def get(
    session: AsyncSession, subscription_id: uuid.UUID, *, organisation: Organisation
) -> WebhookSubscription:
    """The caller's own subscription; anyone else's is 404."""
    subscription = await repository.get_owned(
        session, subscription_id, organisation.organisation_number
    )
    if subscription is None:
        raise SubscriptionNotFound(subscription_id)
    return subscription


async def update(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    body: SubscriptionUpdate,
    *,
    reads: Transactions,
    organisation: Organisation,
    settings: Settings,
    http_client: httpx.AsyncClient,
    clock: Clock,
) -> WebhookSubscription:
    """Change a subscription. A new URL is pinged first, signed with the subscription's
    secrets as read in a short transaction of its own (`reads`): the request's transaction
    (`session`) begins only once the receiver has answered, however long it takes."""
    if body.url is not None:
        async with reads.begin() as reading:
            current = await get(reading, subscription_id, organisation=organisation)
            url, secrets = current.url, signing_secrets(current, clock.now())
        if body.url != url:
            await _check_url(body.url, subscription_id, secrets, settings, http_client, clock)
    subscription = await get(session, subscription_id, organisation=organisation)
    if body.url is not None:
        subscription.url = body.url
    if body.event_types is not None:
        subscription.event_types = [str(type_) for type_ in body.event_types]
    if body.description is not None:
        subscription.description = body.description
    if body.enabled is not None:
        subscription.enabled = body.enabled
        if body.enabled:
            # Switched on again by its owner: a fresh start, without the old failure run.
            subscription.disabled_at = None
            subscription.disabled_reason = None
            subscription.failing_since = None
    subscription.updated_at = clock.now()
    await session.flush()
    return subscription


async def delete(
    session: AsyncSession, subscription_id: uuid.UUID, *, organisation: Organisation
) -> None:
    # One statement: of two requests deleting it at once, the second finds it gone (404).
    owner = organisation.organisation_number
    if not await repository.delete_owned(session, subscription_id, owner):
        raise SubscriptionNotFound(subscription_id)


async def rotate_secret(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    *,
    organisation: Organisation,
    settings: Settings,
    clock: Clock,
) -> tuple[str, dt.datetime]:
    """A new secret; the current one keeps signing alongside it for the overlap."""
    subscription = await get(session, subscription_id, organisation=organisation)
    now = clock.now()
    expires_at = now + dt.timedelta(hours=settings.webhook_secret_overlap_hours)
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = expires_at
    subscription.secret = new_secret()
    subscription.updated_at = now
    await session.flush()
    return subscription.secret, expires_at


def signing_secrets(subscription: WebhookSubscription, now: dt.datetime) -> list[str]:
    """The secrets a message is signed with now: the current one, and during an overlap the
    previous one too."""
    secrets = [subscription.secret]
    expires_at = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires_at is not None and now < expires_at:
        secrets.append(subscription.previous_secret)
    return secrets


async def deliveries(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    *,
    organisation: Organisation,
    status: DeliveryStatus | None,
    event_type: str | None,
    before: int | None,
    limit: int,
) -> tuple[list[tuple[WebhookDelivery, Event]], dict[uuid.UUID, list[WebhookAttempt]]]:
    """A page of the delivery log, newest first, with each delivery's latest attempts."""
    await get(session, subscription_id, organisation=organisation)
    rows = list(
        await repository.deliveries_page(
            session,
            subscription_id,
            status=status,
            event_type=event_type,
            before=before,
            limit=limit,
        )
    )
    attempts = await repository.attempts_of(
        session, [delivery.id for delivery, _ in rows], each=ATTEMPTS_SHOWN
    )
    return rows, attempts


async def redeliver(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    *,
    organisation: Organisation,
    clock: Clock,
) -> tuple[WebhookDelivery, Event]:
    """Send a delivery's event again, as a new delivery after those already queued."""
    await get(session, subscription_id, organisation=organisation)
    found = await repository.get_delivery(session, subscription_id, delivery_id)
    if found is None:
        raise DeliveryNotFound(delivery_id)
    _, event = found
    now = clock.now()
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        subscription_id=subscription_id,
        event_id=event.id,
        reason=DeliveryReason.redelivery,
        status=DeliveryStatus.pending,
        attempt_count=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery, event


async def replay(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    body: ReplayCreate,
    *,
    organisation: Organisation,
    clock: Clock,
) -> int:
    """Queue again every event of the window that the subscription would have been sent."""
    subscription = await get(session, subscription_id, organisation=organisation)
    now = clock.now()
    until = body.until or now
    if until - body.since > dt.timedelta(days=REPLAY_MAX_DAYS):
        raise ReplayWindowTooLong(REPLAY_MAX_DAYS)
    offices = await access.offices_of(session, organisation)
    events = (
        access.visible(access.EVENT, offices)
        & Event.type.in_(subscription.event_types)
        & (Event.recorded_at >= body.since)
        & (Event.recorded_at <= until)
    )
    return await repository.queue_events(
        session, subscription.id, events, reason=DeliveryReason.replay, now=now
    )


async def _check_url(
    url: str,
    subscription_id: uuid.UUID,
    secrets: list[str],
    settings: Settings,
    http_client: httpx.AsyncClient,
    clock: Clock,
) -> None:
    """Refuse a URL that is not https (in production), not public, or not answering a signed
    ping with 2xx."""
    if not settings.is_development and not url.startswith("https://"):
        raise WebhookUrlNotHttps()
    allowed = settings.webhook_allowed_networks
    target = await resolve(url, allowed=allowed)  # refused here with the reason, as a 422
    outcome = await sender.send(
        http_client,
        target=target,
        url=url,
        secrets=secrets,
        message_id=f"ping_{uuid.uuid4()}",
        body=sender.ping_message(str(subscription_id), clock.now()),
        timeout_seconds=settings.webhook_timeout_seconds,
        allowed=allowed,
    )
    if not outcome.delivered:
        raise WebhookPingFailed(outcome.describe(), outcome.response_excerpt)
