"""SQL for the dispatcher: turning feed events into deliveries, leasing subscriptions to one
worker at a time, and recording attempts. Every function runs in a short transaction of its
caller's; none holds a transaction open across an HTTP call."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Insert,
    Integer,
    Text,
    all_,
    and_,
    any_,
    bindparam,
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
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import BindParameter

from klageapi.event import repository as events
from klageapi.models import (
    DeliveryReason,
    DeliveryStatus,
    Event,
    FanoutCursor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from klageapi.registry import access
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


# The dispatcher's statements run for every event, so they are built once, with bind
# parameters: building them per call cost more CPU than running them. They run on the
# session's connection (Core): given parameters, the ORM would take an INSERT or UPDATE of a
# mapped class for a bulk one by primary key.


def _seconds(seconds: float | BindParameter[float]) -> Any:
    """An interval of `seconds` (a number, or a parameter bound when run)."""
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds)


async def _run(session: AsyncSession, statement: Executable, params: dict[str, Any]) -> Any:
    connection = await session.connection()
    return await connection.execute(statement, params)


def _position(prefix: str) -> Any:
    return tuple_(
        bindparam(f"{prefix}_transaction_id", type_=BigInteger),
        bindparam(f"{prefix}_event_id", type_=BigInteger),
    )


def _event_position() -> Any:
    return tuple_(Event.transaction_id, Event.id)


_LOCK_CURSOR = (
    select(FanoutCursor.transaction_id, FanoutCursor.event_id)
    .where(FanoutCursor.id == 1)
    .with_for_update(skip_locked=True)
)
_MOVE_CURSOR = (
    update(FanoutCursor)
    .where(FanoutCursor.id == 1)
    .values(
        transaction_id=bindparam("end_transaction_id", type_=BigInteger),
        event_id=bindparam("end_event_id", type_=BigInteger),
    )
)
_NEXT_POSITIONS = (
    select(Event.transaction_id, Event.id)
    .where(_event_position() > _position("start"))
    .where(Event.transaction_id < bindparam("below", type_=BigInteger))
    .order_by(Event.transaction_id, Event.id)
    .limit(bindparam("limit", type_=Integer))
)
_SET_ORIGIN = select(func.set_config(NOTIFY_ORIGIN, bindparam("origin", type_=Text), True))


def _deliveries_statement() -> Insert:
    """One delivery per event in (start, end] and enabled subscription that wants its type and
    whose organisation may see it (as the feed decides)."""
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
        .where(_event_position() > _position("start"), _event_position() <= _position("end"))
        .where(access.visible(access.EVENT, WebhookSubscription.organisation_number.expression))
        .order_by(Event.transaction_id, Event.id, WebhookSubscription.id)
    )
    return insert_deliveries(chosen)


_INSERT_DELIVERIES = _deliveries_statement()


async def fan_out(session: AsyncSession, *, limit: int, origin: str = "") -> int | None:
    """Create the deliveries of the next `limit` final events and move the cursor past them.
    Returns how many events were read, or None when another worker holds the cursor.

    `origin` goes with the commit's NOTIFY, so the dispatcher that fanned out (and claimed in
    the same transaction) can tell its own notice from other workers'."""
    below = await events.horizon(session)
    cursor = (await _run(session, _LOCK_CURSOR, {})).one_or_none()
    if cursor is None:
        return None
    start = (cursor[0], cursor[1])
    positions = (
        await _run(
            session,
            _NEXT_POSITIONS,
            {
                "start_transaction_id": start[0],
                "start_event_id": start[1],
                "below": below,
                "limit": limit,
            },
        )
    ).all()
    end = (positions[-1][0], positions[-1][1]) if positions else start
    if positions:
        await _run(session, _SET_ORIGIN, {"origin": origin})
        await _run(
            session,
            _INSERT_DELIVERIES,
            {
                "start_transaction_id": start[0],
                "start_event_id": start[1],
                "end_transaction_id": end[0],
                "end_event_id": end[1],
            },
        )
    if len(positions) < limit:
        # Everything final was read: continue from the horizon, past hidden gaps.
        end = max(end, (below, 0))
    if end != start:
        await _run(session, _MOVE_CURSOR, {"end_transaction_id": end[0], "end_event_id": end[1]})
    return len(positions)


def _head_due() -> ColumnElement[bool]:
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


_CLAIM = (
    update(WebhookSubscription)
    .where(
        WebhookSubscription.id.in_(
            select(WebhookSubscription.id)
            .where(
                WebhookSubscription.enabled,
                or_(
                    WebhookSubscription.lease_expires_at.is_(None),
                    WebhookSubscription.lease_expires_at < _NOW,
                ),
                _head_due(),
                WebhookSubscription.id
                != all_(bindparam("exclude", type_=postgresql.ARRAY(postgresql.UUID))),
            )
            .order_by(WebhookSubscription.id)
            .limit(bindparam("limit", type_=Integer))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(
        lease_owner=bindparam("owner", type_=Text),
        lease_expires_at=_NOW + _seconds(bindparam("lease", type_=Float)),
    )
    .returning(WebhookSubscription.id)
)


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
    result = await _run(
        session,
        _CLAIM,
        {"owner": owner, "lease": lease_seconds, "limit": limit, "exclude": list(exclude)},
    )
    return list(result.scalars().all())


_HEAD = (
    select(WebhookDelivery, Event)
    .join(Event, Event.id == WebhookDelivery.event_id)
    .where(
        WebhookDelivery.subscription_id == bindparam("subscription_id"),
        WebhookDelivery.status == DeliveryStatus.pending,
    )
    .order_by(WebhookDelivery.sequence)
    .limit(bindparam("limit", type_=Integer))
)


async def head(
    session: AsyncSession, subscription_id: uuid.UUID, *, limit: int
) -> Sequence[tuple[WebhookDelivery, Event]]:
    """The subscription's first pending deliveries, in order, with their events."""
    rows = await session.execute(_HEAD, {"subscription_id": subscription_id, "limit": limit})
    return [(row[0], row[1]) for row in rows.all()]


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
