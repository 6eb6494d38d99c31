"""SQL for the registry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import CountyRoute, NavOffice, StatsforvalterOffice

__all__ = [
    "get_nav_office",
    "get_statsforvalter_office",
    "list_county_routes",
    "list_nav_offices",
    "list_statsforvalter_offices",
    "nav_office_with_route",
    "office_for_county",
]


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
