"""Webhook subscriptions, their deliveries (one per event and subscription) and every attempt."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from klageapi.models.base import Base, TimestampMixin, Trigger, text_enum

__all__ = [
    "DISPATCHER_NOTICES",
    "DeliveryReason",
    "DeliveryStatus",
    "FanoutCursor",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]


class WebhookSubscription(Base, TimestampMixin):
    """An organisation's URL for a set of event types. Signing secrets are kept as issued: the
    dispatcher needs them to sign, and a database reader could read the events anyway."""

    __tablename__ = "webhook_subscription"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organisation_number: Mapped[str] = mapped_column(String(9), index=True)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    description: Mapped[str] = mapped_column(Text, server_default="")
    enabled: Mapped[bool] = mapped_column(server_default=text("true"))
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[dt.datetime | None]
    failing_since: Mapped[dt.datetime | None] = mapped_column(
        doc="Start of the current run of failed attempts; cleared by a success."
    )
    disabled_at: Mapped[dt.datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # One worker at a time sends a subscription's deliveries, in order, while its lease runs.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[dt.datetime | None]


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class DeliveryReason(enum.StrEnum):
    event = "event"
    redelivery = "redelivery"
    replay = "replay"


class WebhookDelivery(Base):
    """One event to send to one subscription. `sequence` is feed order for the subscription:
    deliveries are created in that order, and the head one blocks the rest while it waits."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index(
            "ix_webhook_delivery_pending",
            "subscription_id",
            "sequence",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_delivery_subscription_id_sequence", "subscription_id", "sequence"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("event.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[DeliveryReason] = mapped_column(text_enum(DeliveryReason, "delivery_reason"))
    status: Mapped[DeliveryStatus] = mapped_column(text_enum(DeliveryStatus, "delivery_status"))
    attempt_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]
    last_attempt_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery, successful or not."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_delivery_id", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_delivery.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[dt.datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text, doc="The first 2 KB of the answer.")
    error: Mapped[str | None] = mapped_column(Text)


class FanoutCursor(Base):
    """How far into the event feed deliveries have been created: one row, locked while a worker
    turns the next events into deliveries, so no event is fanned out twice."""

    __tablename__ = "webhook_fanout_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(BigInteger)


DISPATCHER_NOTICES = tuple(
    Trigger(
        name=f"{table}_notify_dispatcher",
        table=table,
        function="klageapi_notify_dispatcher",
        why="Wakes the dispatchers at the commit of new events or queued deliveries (NOTIFY"
        " klageapi_dispatcher), whoever writes them, instead of leaving them to the poll"
        " (bench/webhooks.py: p99 commit-to-arrival 37-79 ms with it; the poll alone waits up to"
        " its interval).",
    )
    for table in ("event", "webhook_delivery")
)
