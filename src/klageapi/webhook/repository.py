"""SQL for webhook subscriptions and their delivery log, as the API reads and changes them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import (
    DeliveryReason,
    DeliveryStatus,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

__all__ = [
    "attempts_of",
    "delete_owned",
    "deliveries_page",
    "get_delivery",
    "get_owned",
    "insert_deliveries",
    "list_owned",
    "list_troubled",
    "queue_events",
]


async def get_owned(
    session: AsyncSession, subscription_id: uuid.UUID, organisation_number: str
) -> WebhookSubscription | None:
    query = select(WebhookSubscription).where(
        WebhookSubscription.id == subscription_id,
        WebhookSubscription.organisation_number == organisation_number,
    )
    return (await session.scalars(query)).one_or_none()


async def delete_owned(
    session: AsyncSession, subscription_id: uuid.UUID, organisation_number: str
) -> bool:
    """Delete the organisation's subscription (its deliveries go with it); False if it has none
    by that id."""
    statement = (
        delete(WebhookSubscription)
        .where(
            WebhookSubscription.id == subscription_id,
            WebhookSubscription.organisation_number == organisation_number,
        )
        .returning(WebhookSubscription.id)
    )
    return (await session.execute(statement)).first() is not None


async def list_owned(
    session: AsyncSession,
    organisation_number: str,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[WebhookSubscription]:
    """A page of the organisation's subscriptions in (created_at, id) order."""
    query = select(WebhookSubscription).where(
        WebhookSubscription.organisation_number == organisation_number
    )
    if after is not None:
        query = query.where(
            tuple_(WebhookSubscription.created_at, WebhookSubscription.id) > tuple_(*after)
        )
    query = query.order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    return (await session.scalars(query.limit(limit))).all()


async def list_troubled(
    session: AsyncSession,
    *,
    failing: bool,
    disabled: bool,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[tuple[WebhookSubscription, int]]:
    """A page of every organisation's subscriptions that are failing (enabled, with a run of
    failed attempts going on) or disabled, in (created_at, id) order, each with how many of its
    deliveries wait."""
    states = []
    if failing:
        states.append(
            and_(WebhookSubscription.enabled, WebhookSubscription.failing_since.is_not(None))
        )
    if disabled:
        states.append(WebhookSubscription.enabled.is_(False))
    waiting = (
        select(func.count())
        .where(
            WebhookDelivery.subscription_id == WebhookSubscription.id,
            WebhookDelivery.status == DeliveryStatus.pending,
        )
        .scalar_subquery()
    )
    query = select(WebhookSubscription, waiting).where(or_(*states))
    if after is not None:
        query = query.where(
            tuple_(WebhookSubscription.created_at, WebhookSubscription.id) > tuple_(*after)
        )
    query = query.order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    return [(row[0], row[1]) for row in (await session.execute(query.limit(limit))).all()]


async def deliveries_page(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    event_type: str | None,
    before: int | None,
    limit: int,
) -> Sequence[tuple[WebhookDelivery, Event]]:
    """Deliveries newest first, with their events."""
    query = (
        select(WebhookDelivery, Event)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.sequence.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if event_type is not None:
        query = query.where(Event.type == event_type)
    if before is not None:
        query = query.where(WebhookDelivery.sequence < before)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def get_delivery(
    session: AsyncSession, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, Event] | None:
    query = (
        select(WebhookDelivery, Event)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription_id
        )
    )
    row = (await session.execute(query)).one_or_none()
    return None if row is None else (row[0], row[1])


async def attempts_of(
    session: AsyncSession, delivery_ids: Sequence[uuid.UUID], *, each: int
) -> dict[uuid.UUID, list[WebhookAttempt]]:
    """The newest `each` attempts of every delivery named."""
    if not delivery_ids:
        return {}
    ranked = (
        select(
            WebhookAttempt,
            func.row_number()
            .over(partition_by=WebhookAttempt.delivery_id, order_by=WebhookAttempt.id.desc())
            .label("rank"),
        )
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .subquery()
    )
    query = (
        select(WebhookAttempt)
        .join(ranked, ranked.c.id == WebhookAttempt.id)
        .where(ranked.c.rank <= each)
        .order_by(WebhookAttempt.id.desc())
    )
    found: dict[uuid.UUID, list[WebhookAttempt]] = {}
    for attempt in (await session.scalars(query)).all():
        found.setdefault(attempt.delivery_id, []).append(attempt)
    return found


async def queue_events(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    events: ColumnElement[bool],
    *,
    reason: DeliveryReason,
    now: dt.datetime,
) -> int:
    """A pending delivery for each event matching `events`, in feed order; how many."""
    chosen = (
        select(
            func.gen_random_uuid(),
            literal(subscription_id),
            Event.id,
            literal(reason.value),
            literal(DeliveryStatus.pending.value),
            literal(now),
            literal(now),
        )
        .where(events)
        .order_by(Event.transaction_id, Event.id)
    )
    result = await session.execute(insert_deliveries(chosen).returning(WebhookDelivery.id))
    return len(result.all())


def insert_deliveries(rows: Select[Any]) -> Insert:
    """INSERT of pending deliveries from `rows`: (id, subscription id, event row id, reason,
    status, next attempt, created); in the order given, which is the order they are sent in."""
    return insert(WebhookDelivery).from_select(
        [
            WebhookDelivery.id,
            WebhookDelivery.subscription_id,
            WebhookDelivery.event_id,
            WebhookDelivery.reason,
            WebhookDelivery.status,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.created_at,
        ],
        rows,
    )
