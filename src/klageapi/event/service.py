"""The event feed: every event a caller may see, in an order a cursor can follow safely."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import Organisation
from klageapi.event import repository
from klageapi.event.repository import FeedPosition
from klageapi.models import Event
from klageapi.registry import access

__all__ = ["feed"]

START: FeedPosition = (0, 0)


async def feed(
    session: AsyncSession,
    *,
    organisation: Organisation,
    after: FeedPosition | None,
    types: Sequence[str],
    limit: int,
) -> tuple[Sequence[Event], FeedPosition]:
    """A page of the feed and the position to continue from. A short page has read up to the
    horizon, so the next one starts there and never walks the same hidden events again."""
    after = after or START
    below = await repository.horizon(session)
    offices = await access.offices_of(session, organisation)
    events = await repository.page(
        session, offices, after=after, below=below, types=types, limit=limit
    )
    if len(events) == limit:
        return events, (events[-1].transaction_id, events[-1].id)
    return events, max(after, (below, 0))
