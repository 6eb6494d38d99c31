"""HTTP endpoint of the event feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from klageapi.core.auth import ReaderDep
from klageapi.core.db import SessionDep
from klageapi.core.pagination import InvalidCursor
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import problem_responses
from klageapi.event import service
from klageapi.event.repository import FeedPosition
from klageapi.event.schemas import EventPage, EventType, event_read
from klageapi.event.types import EventFeedPage

__all__ = ["router"]

router = APIRouter(
    prefix="/events",
    tags=["events"],
    responses=problem_responses(401, 403),
    route_class=JsonRoute,
)

_CURSOR_KIND = "events"


@router.get(
    "",
    operation_id="list_events",
    # The contract types each event by its `type` (event.types); the answer is serialized as
    # EventRead, so an event recorded before a field was added is still served.
    response_model=None,
    responses={
        200: {"model": EventFeedPage, "description": "A page of events"},
        **problem_responses(400, 422),
    },
)
async def list_events(
    request: Request,
    session: SessionDep,
    organisation: ReaderDep,
    after: Annotated[
        str | None,
        Query(max_length=2000, description="`next_cursor` of the previous page; none: the start."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page.")] = 100,
    type_: Annotated[
        list[EventType] | None, Query(alias="type", description="Only these types; repeatable.")
    ] = None,
) -> EventPage:
    """Every event the caller may see, in a stable order (NAV offices: their appeals';
    Statsforvalter offices: appeals forwarded to them, from the forwarding on).

    Page with `next_cursor` and no event is ever missed or repeated, even when transactions
    commit in another order than they began: an event is served only once every transaction
    that began before its own has ended. An empty page still has a `next_cursor`; poll with it.
    """
    codec = request.app.state.cursor_codec
    events, position = await service.feed(
        session,
        organisation=organisation,
        after=None if after is None else _position(codec.decode(_CURSOR_KIND, after)),
        types=[str(item) for item in type_ or ()],
        limit=limit,
    )
    return EventPage(
        items=[event_read(event) for event in events],
        next_cursor=codec.encode(_CURSOR_KIND, list(position)),
    )


def _position(raw: list[object]) -> FeedPosition:
    if len(raw) != 2 or not all(type(part) is int and part >= 0 for part in raw):
        raise InvalidCursor()
    return (int(raw[0]), int(raw[1]))  # type: ignore[call-overload]
