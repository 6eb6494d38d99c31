"""SQL for the dispatcher: turning feed events into deliveries, leasing subscriptions to one
worker at a time, and recording attempts. Every function runs in a short transaction of its
caller's; none holds a transaction open across an HTTP call."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    and_,
    any_,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.event import repository as events
from klageapi.models import (
    DeliveryReason,
    DeliveryStatus,
    Event,
    FanoutCursor,
    NavOffice,
    StatsforvalterOffice,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from klageapi.webhook.repository import insert_deliveries

__all__ = [
    "NOTIFY_ORIGIN",
    "Attempt",
    "claim",
    "fan_out",
    "has_pending",
    "head",
    "record",
    "release",
]

_NOW = func.now()
NOTIFY_ORIGIN = "klageapi.notify_origin"
"""The transaction setting whose value the dispatcher trigger sends as the NOTIFY payload."""


async def fan_out(session: AsyncSession, *, limit: int, origin: str = "") -> int | None:
    """Create the deliveries of the next `limit` final events and move the cursor past them.
    Returns how many events were read, or None when another worker holds the cursor.

    `origin` goes with the commit's NOTIFY, so the dispatcher that fanned out (and claimed in
    the same transaction) can tell its own notice from other workers'."""
    below = await events.horizon(session)
    cursor = (
        await session.execute(
            select(FanoutCursor).where(FanoutCursor.id == 1).with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()
    if cursor is None:
        return None
    start = (cursor.transaction_id, cursor.event_id)
    positions = (
        await session.execute(
            select(Event.transaction_id, Event.id)
            .where(tuple_(Event.transaction_id, Event.id) > tuple_(*start))
            .where(Event.transaction_id < below)
            .order_by(Event.transaction_id, Event.id)
            .limit(limit)
        )
    ).all()
    end = (positions[-1][0], positions[-1][1]) if positions else start
    if positions:
        await session.execute(select(func.set_config(NOTIFY_ORIGIN, origin, True)))
        await _insert_deliveries(session, start, end)
    if len(positions) < limit:
        # Everything final was read: continue from the horizon, past hidden gaps.
        end = max(end, (below, 0))
    cursor.transaction_id, cursor.event_id = end
    await session.flush()
    return len(positions)


async def _insert_deliveries(
    session: AsyncSession, start: tuple[int, int], end: tuple[int, int]
) -> None:
    """One delivery per event in (start, end] and enabled subscription that wants its type and
    whose organisation may see it (as the feed decides)."""
    organisation = WebhookSubscription.organisation_number
    acts_for_nav_office = exists().where(
        NavOffice.unit_number == Event.nav_office_unit_number,
        NavOffice.organisation_number == organisation,
    )
    acts_for_statsforvalter = exists().where(
        StatsforvalterOffice.id == Event.statsforvalter_office_id,
        or_(
            StatsforvalterOffice.organisation_number == organisation,
            organisation == any_(StatsforvalterOffice.agent_organisation_numbers),
        ),
    )
    position = tuple_(Event.transaction_id, Event.id)
    chosen = (
        select(
            func.gen_random_uuid(),
            WebhookSubscription.id,
            Event.id,
            literal(DeliveryReason.event.value),
            literal(DeliveryStatus.pending.value),
            _NOW,
            _NOW,
        )
        .join(
            WebhookSubscription,
            and_(WebhookSubscription.enabled, Event.type == any_(WebhookSubscription.event_types)),
        )
        .where(position > tuple_(*start), position <= tuple_(*end))
        .where(or_(acts_for_nav_office, Event.statsforvalter_visible & acts_for_statsforvalter))
        .order_by(Event.transaction_id, Event.id, WebhookSubscription.id)
    )
    await session.execute(insert_deliveries(chosen))


def _head_due() -> object:
    """Whether a subscription's first pending delivery is due (a later one never overtakes it)."""
    head_next_attempt = (
        select(WebhookDelivery.next_attempt_at)
        .where(
            WebhookDelivery.subscription_id == WebhookSubscription.id,
            WebhookDelivery.status == DeliveryStatus.pending,
        )
        .order_by(WebhookDelivery.sequence)
        .limit(1)
        .scalar_subquery()
    )
    return head_next_attempt <= _NOW


async def claim(
    session: AsyncSession,
    *,
    owner: str,
    lease_seconds: float,
    limit: int,
    exclude: Sequence[uuid.UUID] = (),
) -> list[uuid.UUID]:
    """Lease up to `limit` enabled subscriptions whose next delivery is due and that no other
    worker holds; the lease lets one worker send their deliveries, in order."""
    candidates = (
        select(WebhookSubscription.id)
        .where(
            WebhookSubscription.enabled,
            or_(
                WebhookSubscription.lease_expires_at.is_(None),
                WebhookSubscription.lease_expires_at < _NOW,
            ),
            _head_due(),  # type: ignore[arg-type]
        )
        .order_by(WebhookSubscription.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if exclude:
        candidates = candidates.where(WebhookSubscription.id.not_in(exclude))
    result = await session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id.in_(candidates.scalar_subquery()))
        .values(lease_owner=owner, lease_expires_at=_NOW + _seconds(lease_seconds))
        .returning(WebhookSubscription.id)
    )
    return list(result.scalars().all())


async def head(
    session: AsyncSession, subscription_id: uuid.UUID, *, limit: int
) -> Sequence[tuple[WebhookDelivery, Event]]:
    """The subscription's first pending deliveries, in order, with their events."""
    query = (
        select(WebhookDelivery, Event)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status == DeliveryStatus.pending,
        )
        .order_by(WebhookDelivery.sequence)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


@dataclass(frozen=True)
class Attempt:
    """An attempt to record, and what it means for its delivery."""

    delivery_id: uuid.UUID
    attempted_at: dt.datetime
    duration_ms: int
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    delivered: bool
    retry_in_seconds: float | None = None  # failed: when to try again; None: given up


async def record(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    attempts: Sequence[Attempt],
    *,
    owner: str,
    lease_seconds: float,
    disable_after: dt.timedelta,
    disable_reason: str | None,
    release_when_idle: bool = False,
) -> bool:
    """Record attempts (successes, or one failure last) and track the subscription's run of
    failures. The lease is renewed, or given back after a failure, or, with
    `release_when_idle`, when nothing more is due. True while the lease is still held."""
    if attempts:
        await session.execute(
            insert(WebhookAttempt),
            [
                {
                    "delivery_id": a.delivery_id,
                    "attempted_at": a.attempted_at,
                    "duration_ms": a.duration_ms,
                    "status_code": a.status_code,
                    "response_excerpt": a.response_excerpt,
                    "error": a.error,
                }
                for a in attempts
            ],
        )
    delivered = [a for a in attempts if a.delivered]
    if delivered:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_([a.delivery_id for a in delivered]))
            .values(
                status=DeliveryStatus.delivered,
                attempt_count=WebhookDelivery.attempt_count + 1,
                last_attempt_at=_NOW,
                delivered_at=_NOW,
            )
        )
    failed = [a for a in attempts if not a.delivered]
    for attempt in failed:
        given_up = attempt.retry_in_seconds is None
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == attempt.delivery_id)
            .values(
                status=DeliveryStatus.failed if given_up else DeliveryStatus.pending,
                attempt_count=WebhookDelivery.attempt_count + 1,
                last_attempt_at=attempt.attempted_at,
                next_attempt_at=WebhookDelivery.next_attempt_at
                if given_up
                else _NOW + _seconds(attempt.retry_in_seconds or 0),
            )
        )
    renewal = _NOW + _seconds(lease_seconds)
    values: dict[str, object] = {"lease_expires_at": renewal}
    if failed:
        # Sending stops at a failure; the retry is claimed again when it is due.
        values |= {"lease_owner": None, "lease_expires_at": None}
    elif release_when_idle:
        # Keep the lease only while something is due: saves a round of claiming and releasing.
        due = exists().where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.next_attempt_at <= _NOW,
        )
        values |= {
            "lease_owner": case((due, WebhookSubscription.lease_owner), else_=None),
            "lease_expires_at": case((due, renewal), else_=None),
        }
    if failed:
        failing_since = func.coalesce(WebhookSubscription.failing_since, _NOW)
        values["failing_since"] = failing_since
        if disable_reason is not None:
            values |= {"enabled": False, "disabled_at": _NOW, "disabled_reason": disable_reason}
    elif delivered:
        values["failing_since"] = None
    renewed = await session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id, WebhookSubscription.lease_owner == owner)
        .values(**values)
        .returning(WebhookSubscription.failing_since, WebhookSubscription.lease_owner)
    )
    row = renewed.one_or_none()
    if row is not None and failed and disable_reason is None and row[0] is not None:
        # A run of failures longer than allowed disables the subscription; its owner sees why.
        await session.execute(
            update(WebhookSubscription)
            .where(
                WebhookSubscription.id == subscription_id,
                WebhookSubscription.failing_since <= _NOW - disable_after,
            )
            .values(
                enabled=False,
                disabled_at=_NOW,
                disabled_reason=text(
                    "'failing without a break since ' || to_char(failing_since AT TIME ZONE"
                    " 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || '; last answer: ' ||"
                    " :last_answer"
                ).bindparams(last_answer=_answer(failed[-1])),
            )
        )
    return row is not None and row[1] is not None


def _answer(attempt: Attempt) -> str:
    if attempt.status_code is not None:
        return f"HTTP {attempt.status_code}"
    return attempt.error or "no answer"


async def has_pending(session: AsyncSession) -> bool:
    """Whether an enabled subscription has a delivery still to send."""
    query = select(
        exists().where(
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.subscription_id == WebhookSubscription.id,
            WebhookSubscription.enabled,
        )
    )
    return bool(await session.scalar(query))


async def release(session: AsyncSession, subscription_id: uuid.UUID, *, owner: str) -> None:
    await session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id, WebhookSubscription.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


def _seconds(seconds: float) -> object:
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds)
