"""SQL for the event feed: the events a caller may see (`registry.access`'s rule on the events'
columns), and which are safe to hand out."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import Event
from klageapi.registry import access

__all__ = ["FeedPosition", "horizon", "page"]

FeedPosition = tuple[int, int]
"""(transaction id, event row id): the feed's order."""

# Every transaction with a smaller id than the snapshot's xmin has ended, so no event can still
# appear below this line. Events above it wait until the transactions before them end: that is
# what lets a cursor never skip an event whose transaction committed late.
_HORIZON = text("SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")


async def horizon(session: AsyncSession) -> int:
    """The transaction id below which every event is final. Read it before the events: it only
    grows, so a page read afterwards holds every visible event below it."""
    return int((await session.execute(_HORIZON)).scalar_one())


async def page(
    session: AsyncSession,
    offices: access.Offices,
    *,
    after: FeedPosition,
    below: int,
    types: Sequence[str],
    limit: int,
) -> Sequence[Event]:
    """Up to `limit` visible events after `after` and of transactions below `below`, in feed
    order."""
    query = (
        select(Event)
        .where(
            tuple_(Event.transaction_id, Event.id) > tuple_(*after),
            Event.transaction_id < below,
            access.visible(access.EVENT, offices),
        )
        .order_by(Event.transaction_id, Event.id)
        .limit(limit)
    )
    if types:
        query = query.where(Event.type.in_(types))
    return (await session.scalars(query)).all()
