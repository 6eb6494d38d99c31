"""SQL for the registry.

A PUT creates its row with INSERT ... ON CONFLICT DO NOTHING rather than the ORM's flush (the
flush has no way to say "unless it exists"): concurrent creates of one office then give one
201 and 200s, where eight at once gave several 500s on the primary key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, inspect, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import Base, CountyRoute, NavOffice, StatsforvalterOffice

__all__ = [
    "add_if_absent",
    "get_nav_office",
    "get_statsforvalter_office",
    "list_county_routes",
    "list_nav_offices",
    "list_statsforvalter_offices",
    "nav_office_with_route",
    "office_for_county",
    "office_names",
]


async def add_if_absent(session: AsyncSession, model: type[Base], **values: Any) -> bool:
    """Insert a row unless one with its primary key exists; whether it was inserted.

    INSERT ... ON CONFLICT DO NOTHING: of several transactions creating the same row at once,
    one inserts it and the others wait for it and find it, where a read and then an insert let
    each of them insert and all but one fail on the primary key."""
    key = inspect(model).primary_key
    statement = (
        insert(model).values(**values).on_conflict_do_nothing(index_elements=key).returning(*key)
    )
    return (await session.execute(statement)).first() is not None


async def get_nav_office(session: AsyncSession, unit_number: str) -> NavOffice | None:
    return await session.get(NavOffice, unit_number)


async def list_nav_offices(
    session: AsyncSession, *, after: str | None, limit: int
) -> Sequence[NavOffice]:
    query = select(NavOffice).order_by(NavOffice.unit_number).limit(limit)
    if after is not None:
        query = query.where(NavOffice.unit_number > after)
    return (await session.scalars(query)).all()


async def get_statsforvalter_office(
    session: AsyncSession, office_id: str
) -> StatsforvalterOffice | None:
    return await session.get(StatsforvalterOffice, office_id)


async def list_statsforvalter_offices(
    session: AsyncSession, *, after: str | None, limit: int
) -> Sequence[StatsforvalterOffice]:
    query = select(StatsforvalterOffice).order_by(StatsforvalterOffice.id).limit(limit)
    if after is not None:
        query = query.where(StatsforvalterOffice.id > after)
    return (await session.scalars(query)).all()


async def list_county_routes(session: AsyncSession) -> Sequence[CountyRoute]:
    return (await session.scalars(select(CountyRoute).order_by(CountyRoute.county))).all()


async def office_for_county(session: AsyncSession, county: str) -> StatsforvalterOffice | None:
    query = (
        select(StatsforvalterOffice)
        .join(CountyRoute, CountyRoute.statsforvalter_office_id == StatsforvalterOffice.id)
        .where(CountyRoute.county == county)
    )
    return (await session.scalars(query)).one_or_none()


async def nav_office_with_route(
    session: AsyncSession, unit_number: str, county: str
) -> Row[str, list[str], str] | None:
    """A NAV office's organisation and municipalities, and the Statsforvalter office routed for
    `county` (None, from the outer join, when the county has no route): what a registration
    needs, in one query."""
    query = (
        select(
            NavOffice.organisation_number,
            NavOffice.municipality_numbers,
            CountyRoute.statsforvalter_office_id,
        )
        .outerjoin(CountyRoute, CountyRoute.county == county)
        .where(NavOffice.unit_number == unit_number)
    )
    return (await session.execute(query)).one_or_none()


async def office_names(session: AsyncSession) -> tuple[dict[str, str], dict[str, str]]:
    """Every Statsforvalter office's name by id and every NAV office's by unit number."""
    statsforvalter = await session.execute(
        select(StatsforvalterOffice.id, StatsforvalterOffice.name)
    )
    nav = await session.execute(select(NavOffice.unit_number, NavOffice.name))
    return {key: name for key, name in statsforvalter}, {key: name for key, name in nav}
