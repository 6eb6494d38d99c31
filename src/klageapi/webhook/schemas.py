"""Request and response bodies of webhook subscriptions and their deliveries."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from klageapi.core.schemas import Schema
from klageapi.core.validation import DateTime, Text
from klageapi.event.schemas import EventType
from klageapi.models import DeliveryReason, DeliveryStatus, WebhookSubscription

__all__ = [
    "AttemptRead",
    "DeliveryPage",
    "DeliveryRead",
    "ReplayCreate",
    "ReplayRead",
    "SecretRead",
    "SubscriptionCreate",
    "SubscriptionCreated",
    "SubscriptionPage",
    "SubscriptionRead",
    "SubscriptionUpdate",
    "TroubledState",
    "TroubledSubscriptionPage",
    "TroubledSubscriptionRead",
]

Url = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2000,
        pattern=r"^https?://",
        description="Where events are POSTed: https (http only in development).",
        examples=["https://saksbehandling.example.no/klageapi-webhooks"],
    ),
]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=20)]
Description = Annotated[Text, Field(max_length=500)]


class SubscriptionCreate(Schema):
    url: Url
    event_types: EventTypes
    description: Description = ""
    enabled: bool = True


class SubscriptionUpdate(Schema):
    """Only the fields given change. A new URL is pinged before it is taken."""

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = None


class SubscriptionRead(Schema):
    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    failing_since: dt.datetime | None = Field(
        description="Start of the current run of failed attempts, if one is going on."
    )
    disabled_at: dt.datetime | None
    disabled_reason: str | None = Field(description="Why klageapi disabled it, if it did.")


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(
        description="The signing secret (Standard Webhooks `whsec_…`). Shown only here: keep it.",
    )


class SubscriptionPage(BaseModel):
    items: list[SubscriptionRead]
    next_cursor: str | None = None


class TroubledState(enum.StrEnum):
    failing = "failing"
    disabled = "disabled"


class TroubledSubscriptionRead(BaseModel):
    """A subscription as an operator sees it across organisations: whose, to which host, and
    how it fares. The URL's path and query are left out (they may hold the receiver's token)."""

    id: uuid.UUID
    organisation: str = Field(description="The owning organisation, `0192:<orgnr>`.")
    url_origin: str = Field(description="Scheme, host and port of the URL.")
    state: TroubledState
    event_types: list[str]
    created_at: dt.datetime
    failing_since: dt.datetime | None
    disabled_at: dt.datetime | None
    disabled_reason: str | None = Field(
        description="Why klageapi disabled it; null when its owner switched it off."
    )
    pending_deliveries: int = Field(description="Its deliveries waiting to be sent.")


class TroubledSubscriptionPage(BaseModel):
    items: list[TroubledSubscriptionRead]
    next_cursor: str | None = None


class SecretRead(BaseModel):
    secret: str = Field(description="The new signing secret; shown only here.")
    previous_secret_expires_at: dt.datetime = Field(
        description="Until then messages are signed with both the new and the previous secret."
    )


class AttemptRead(Schema):
    attempted_at: dt.datetime
    duration_ms: int
    status_code: int | None
    response_excerpt: str | None = Field(description="The first 2 KB of the answer.")
    error: str | None


class DeliveryRead(Schema):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    reason: DeliveryReason
    status: DeliveryStatus
    attempt_count: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None = Field(description="While pending.")
    delivered_at: dt.datetime | None
    attempts: list[AttemptRead] = Field(description="The last attempts, newest first (up to 10).")


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None = None


class ReplayCreate(Schema):
    since: DateTime = Field(description="Events recorded from this time ...")
    until: DateTime | None = Field(default=None, description="... until this (now if none).")

    @model_validator(mode="after")
    def _ordered(self) -> ReplayCreate:
        if self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class ReplayRead(BaseModel):
    queued: int = Field(description="Deliveries queued, one per matching event.")


def subscription_read(subscription: WebhookSubscription) -> SubscriptionRead:
    return SubscriptionRead.model_validate(subscription)
