"""HTTP endpoints of webhook subscriptions and their delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from klageapi.core.auth import AdminDep, ReaderDep, WriterDep
from klageapi.core.clock import ClockDep
from klageapi.core.config import Settings
from klageapi.core.db import SessionDep, TransactionsDep
from klageapi.core.idempotency import IdempotencyKeyDep
from klageapi.core.pagination import PageParamsDep
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import problem_responses
from klageapi.event.schemas import EventType
from klageapi.models import DeliveryStatus, Event, WebhookAttempt, WebhookDelivery
from klageapi.webhook import service
from klageapi.webhook.schemas import (
    AttemptRead,
    DeliveryPage,
    DeliveryRead,
    ReplayCreate,
    ReplayRead,
    SecretRead,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPage,
    SubscriptionRead,
    SubscriptionUpdate,
    TroubledState,
    TroubledSubscriptionPage,
    subscription_read,
)

__all__ = ["router"]

router = APIRouter(
    prefix="/webhook-subscriptions",
    tags=["webhooks"],
    responses=problem_responses(401, 403),
    route_class=JsonRoute,
)

_WRITE_RESPONSES = problem_responses(400, 404, 409, 413, 415, 422)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post(
    "",
    operation_id="create_webhook_subscription",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionCreated,
    responses=_WRITE_RESPONSES,
)
async def create_subscription(
    request: Request,
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    body: SubscriptionCreate,
    response: Response,
    _idempotency: IdempotencyKeyDep,
) -> SubscriptionCreated:
    """Subscribe a URL to event types. The URL must answer a signed ping (`type`
    `webhook.ping`) with 2xx first. The signing secret is in this answer and nowhere else."""
    subscription, secret = await service.create(
        session,
        body,
        organisation=organisation,
        settings=_settings(request),
        http_client=request.app.state.http_client,
        clock=clock,
    )
    response.headers["Location"] = f"/v1/webhook-subscriptions/{subscription.id}"
    return SubscriptionCreated(**subscription_read(subscription).model_dump(), secret=secret)


@router.get(
    "",
    operation_id="list_webhook_subscriptions",
    response_model=SubscriptionPage,
    responses=problem_responses(400, 422),
)
async def list_subscriptions(
    session: SessionDep, organisation: ReaderDep, page: PageParamsDep
) -> SubscriptionPage:
    """The caller's subscriptions, oldest first."""
    subscriptions, cursor = await service.list_for(session, page, organisation=organisation)
    return SubscriptionPage(items=[subscription_read(s) for s in subscriptions], next_cursor=cursor)


# Before /{subscription_id}, which would take "failing" for an id.
@router.get(
    "/failing",
    operation_id="list_failing_webhook_subscriptions",
    response_model=TroubledSubscriptionPage,
    responses=problem_responses(400, 422),
)
async def list_troubled_subscriptions(
    session: SessionDep,
    administrator: AdminDep,
    clock: ClockDep,
    page: PageParamsDep,
    state: Annotated[
        list[TroubledState] | None,
        Query(description="`failing`, `disabled` or both (repeat it); both when not given."),
    ] = None,
) -> TroubledSubscriptionPage:
    """Every organisation's failing or disabled subscriptions, for an administrator, oldest
    first, with how many deliveries each has waiting. Audited."""
    items, cursor = await service.list_troubled(
        session,
        page,
        states=state or list(TroubledState),
        administrator=administrator,
        clock=clock,
    )
    return TroubledSubscriptionPage(items=items, next_cursor=cursor)


@router.get(
    "/{subscription_id}",
    operation_id="get_webhook_subscription",
    response_model=SubscriptionRead,
    responses=problem_responses(404, 422),
)
async def get_subscription(
    session: SessionDep, organisation: ReaderDep, subscription_id: uuid.UUID
) -> SubscriptionRead:
    """One subscription, with why it was disabled if klageapi disabled it."""
    subscription = await service.get(session, subscription_id, organisation=organisation)
    return subscription_read(subscription)


@router.patch(
    "/{subscription_id}",
    operation_id="update_webhook_subscription",
    response_model=SubscriptionRead,
    responses=_WRITE_RESPONSES,
)
async def update_subscription(
    request: Request,
    session: SessionDep,
    transactions: TransactionsDep,
    organisation: WriterDep,
    clock: ClockDep,
    subscription_id: uuid.UUID,
    body: SubscriptionUpdate,
) -> SubscriptionRead:
    """Change the URL (pinged first), the event types, the description, or switch it on or off.
    Switching a disabled subscription on resumes its pending deliveries."""
    subscription = await service.update(
        session,
        subscription_id,
        body,
        reads=transactions,
        organisation=organisation,
        settings=_settings(request),
        http_client=request.app.state.http_client,
        clock=clock,
    )
    return subscription_read(subscription)


@router.delete(
    "/{subscription_id}",
    operation_id="delete_webhook_subscription",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 422),
)
async def delete_subscription(
    session: SessionDep, organisation: WriterDep, subscription_id: uuid.UUID
) -> Response:
    """Delete the subscription with its delivery log; nothing more is sent to it."""
    await service.delete(session, subscription_id, organisation=organisation)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{subscription_id}/secret-rotation",
    operation_id="rotate_webhook_secret",
    response_model=SecretRead,
    responses=_WRITE_RESPONSES,
)
async def rotate_secret(
    request: Request,
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    subscription_id: uuid.UUID,
    _idempotency: IdempotencyKeyDep,
) -> SecretRead:
    """A new signing secret. Messages carry signatures by both the new and the previous secret
    until `previous_secret_expires_at` (24 hours by default), so receivers can switch over."""
    secret, expires_at = await service.rotate_secret(
        session,
        subscription_id,
        organisation=organisation,
        settings=_settings(request),
        clock=clock,
    )
    return SecretRead(secret=secret, previous_secret_expires_at=expires_at)


@router.get(
    "/{subscription_id}/deliveries",
    operation_id="list_webhook_deliveries",
    response_model=DeliveryPage,
    responses=problem_responses(400, 404, 422),
)
async def list_deliveries(
    session: SessionDep,
    organisation: ReaderDep,
    page: PageParamsDep,
    subscription_id: uuid.UUID,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    event_type: EventType | None = None,
) -> DeliveryPage:
    """The delivery log, newest first: each delivery with its latest attempts (time,
    duration, HTTP status, the first 2 KB of the answer, or the error)."""
    rows, attempts = await service.deliveries(
        session,
        subscription_id,
        organisation=organisation,
        status=status_,
        event_type=None if event_type is None else str(event_type),
        before=page.after_int("deliveries"),
        limit=page.limit + 1,
    )
    kept, cursor = page.page("deliveries", rows, lambda row: [row[0].sequence])
    return DeliveryPage(
        items=[_delivery_read(d, e, attempts.get(d.id, [])) for d, e in kept],
        next_cursor=cursor,
    )


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redelivery",
    operation_id="redeliver_webhook_delivery",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses=_WRITE_RESPONSES,
)
async def redeliver(
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    _idempotency: IdempotencyKeyDep,
) -> DeliveryRead:
    """Send the delivery's event again, as a new delivery queued after those waiting."""
    delivery, event = await service.redeliver(
        session, subscription_id, delivery_id, organisation=organisation, clock=clock
    )
    return _delivery_read(delivery, event, [])


@router.post(
    "/{subscription_id}/replay",
    operation_id="replay_webhook_events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayRead,
    responses=_WRITE_RESPONSES,
)
async def replay(
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    subscription_id: uuid.UUID,
    body: ReplayCreate,
    _idempotency: IdempotencyKeyDep,
) -> ReplayRead:
    """Queue again every event recorded in a window of at most 14 days that this subscription
    matches (its event types, the caller's visibility), in feed order."""
    queued = await service.replay(
        session, subscription_id, body, organisation=organisation, clock=clock
    )
    return ReplayRead(queued=queued)


def _delivery_read(
    delivery: WebhookDelivery, event: Event, attempts: list[WebhookAttempt]
) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        event_id=event.event_id,
        event_type=event.type,
        reason=delivery.reason,
        status=delivery.status,
        attempt_count=delivery.attempt_count,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        delivered_at=delivery.delivered_at,
        attempts=[AttemptRead.model_validate(attempt) for attempt in attempts],
    )
