"""The event as the feed and the webhooks carry it: thin, with no personal data."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import BaseModel, Field

from klageapi.event.outbox import EVENT_TYPES
from klageapi.models import Event

__all__ = ["EventPage", "EventRead", "EventType", "event_read"]

EventType = enum.StrEnum("EventType", {name: name for name in EVENT_TYPES})  # type: ignore[misc]


class EventRead(BaseModel):
    """What happened to which appeal, for which offices, and the appeal's status after it.
    Receivers fetch the details with their own token."""

    id: uuid.UUID = Field(description="The event's id; the `webhook-id` of its deliveries.")
    type: str = Field(examples=["appeal.status_changed"])
    occurred_at: dt.datetime = Field(description="When the step happened.")
    recorded_at: dt.datetime = Field(description="When klageapi recorded it.")
    appeal_id: uuid.UUID
    nav_office: str = Field(description="The NAV office's unit number.", examples=["1103"])
    statsforvalter_office: str = Field(examples=["sf-rogaland"])
    status: str = Field(description="The appeal's status after the event.")
    data: dict[str, object] = Field(
        description="Ids, codes and dates of the step (a package id, an outcome); never names,"
        " national ids or free text."
    )


class EventPage(BaseModel):
    items: list[EventRead]
    next_cursor: str = Field(
        description="Where the next page starts; always present, so a consumer that has read"
        " everything polls again with the same cursor."
    )


def event_read(event: Event) -> EventRead:
    return EventRead(
        id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        appeal_id=event.appeal_id,
        nav_office=event.nav_office_unit_number,
        statsforvalter_office=event.statsforvalter_office_id,
        status=event.status,
        data=event.data,
    )
