"""SQL for the event feed: which events a caller may see, and which are safe to hand out."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, false, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal.repository import Offices
from klageapi.models import Event

__all__ = ["FeedPosition", "horizon", "page", "visible_clause"]

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


def visible_clause(offices: Offices) -> ColumnElement[bool]:
    """Events of the NAV offices acted for, and of appeals forwarded to the Statsforvalter
    offices acted for, from their forwarding on."""
    clauses: list[ColumnElement[bool]] = []
    if offices.nav:
        clauses.append(Event.nav_office_unit_number.in_(sorted(offices.nav)))
    if offices.statsforvalter:
        clauses.append(
            Event.statsforvalter_office_id.in_(sorted(offices.statsforvalter))
            & Event.statsforvalter_visible
        )
    if not clauses:
        return false()
    return clauses[0] if len(clauses) == 1 else or_(*clauses)


async def page(
    session: AsyncSession,
    offices: Offices,
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
            visible_clause(offices),
        )
        .order_by(Event.transaction_id, Event.id)
        .limit(limit)
    )
    if types:
        query = query.where(Event.type.in_(types))
    return (await session.scalars(query)).all()
