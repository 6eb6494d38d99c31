"""Writing events into the outbox, in the transaction of the change that caused them."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import Appeal, Event

__all__ = ["COLUMNS", "EVENT_TYPES", "row", "write"]

EVENT_TYPES = (
    "appeal.received",
    "appeal.status_changed",
    "document.added",
    "package.forwarded",
    "package.received",
    "package.rejected",
    "documentation.requested",
    "documentation.fulfilled",
    "appeal.preliminary_reply",
    "appeal.decided",
    "appeal.withdrawn",
    "package.overdue",
    "documentation.overdue",
    "appeal.nav_outcome_recorded",
    "package.downloaded",
    "package.withdrawn",
    "appeal.personal_data_erased",
    "citizen.comment_sent",
    "citizen.documentation_sent",
    "citizen.documents_sent",
)
"""Every event type; types may be added, never removed or renamed."""


COLUMNS = (
    "event_id",
    "type",
    "occurred_at",
    "recorded_at",
    "appeal_id",
    "nav_office_unit_number",
    "statsforvalter_office_id",
    "statsforvalter_visible",
    "status",
    "data",
)
"""The columns `row` gives values for, for statements built once."""


def write(
    session: AsyncSession,
    appeal: Appeal,
    *,
    type_: str,
    occurred_at: dt.datetime,
    recorded_at: dt.datetime,
    data: dict[str, object] | None = None,
    statsforvalter_office_id: str | None = None,
) -> Event:
    """Add one thin event about `appeal`: ids, offices and status only, never personal data."""
    event = Event(
        **row(
            appeal,
            type_=type_,
            occurred_at=occurred_at,
            recorded_at=recorded_at,
            data=data,
            statsforvalter_office_id=statsforvalter_office_id,
        )
    )
    session.add(event)
    return event


def row(
    appeal: Appeal,
    *,
    type_: str,
    occurred_at: dt.datetime,
    recorded_at: dt.datetime,
    data: dict[str, object] | None = None,
    statsforvalter_office_id: str | None = None,
) -> dict[str, object]:
    """The values of one event about `appeal`, for a caller that writes it in its own statement;
    addressed to the appeal's offices, or to `statsforvalter_office_id` when given (a package's
    own office, or the one a re-route took it from)."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    return {
        "event_id": uuid.uuid4(),
        "type": type_,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "appeal_id": appeal.id,
        "nav_office_unit_number": appeal.nav_office_unit_number,
        "statsforvalter_office_id": statsforvalter_office_id or appeal.statsforvalter_office_id,
        "statsforvalter_visible": appeal.forwarded_at is not None,
        "status": appeal.status.value,
        "data": data or {},
    }
