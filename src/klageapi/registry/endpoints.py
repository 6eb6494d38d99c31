"""Administration of the registry: NAV offices, Statsforvalter offices and county routing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from klageapi.core.auth import AdminDep
from klageapi.core.db import SessionDep
from klageapi.core.pagination import PageParamsDep
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import problem_responses
from klageapi.registry import repository, service
from klageapi.registry.errors import NavOfficeNotFound
from klageapi.registry.schemas import (
    CountyRoutePage,
    CountyRouteRead,
    CountyRouteWrite,
    NavOfficePage,
    NavOfficeRead,
    NavOfficeWrite,
    StatsforvalterOfficePage,
    StatsforvalterOfficeRead,
    StatsforvalterOfficeWrite,
)

__all__ = ["router"]

router = APIRouter(
    prefix="/offices",
    tags=["registry"],
    responses=problem_responses(400, 401, 403, 415, 422),
    route_class=JsonRoute,
)

UnitNumberPath = Annotated[str, Path(pattern=r"^[0-9]{4}$", examples=["1103"])]
OfficeIdPath = Annotated[str, Path(pattern=r"^[a-z0-9-]{2,64}$", examples=["sf-rogaland"])]
CountyPath = Annotated[str, Path(pattern=r"^[0-9]{2}$", examples=["11"])]


@router.get("/nav", operation_id="list_nav_offices", response_model=NavOfficePage)
async def list_nav_offices(session: SessionDep, _: AdminDep, page: PageParamsDep) -> NavOfficePage:
    """Every NAV office, by unit number."""
    position = page.position("nav_office")
    rows = await repository.list_nav_offices(
        session, after=position[0] if position else None, limit=page.limit + 1
    )
    items, cursor = page.page("nav_office", list(rows), lambda office: [office.unit_number])
    return NavOfficePage(items=[NavOfficeRead.model_validate(o) for o in items], next_cursor=cursor)


@router.get(
    "/nav/{unit_number}",
    operation_id="get_nav_office",
    response_model=NavOfficeRead,
    responses=problem_responses(404),
)
async def get_nav_office(session: SessionDep, _: AdminDep, unit_number: UnitNumberPath) -> object:
    office = await repository.get_nav_office(session, unit_number)
    if office is None:
        raise NavOfficeNotFound(unit_number)
    return office


@router.put(
    "/nav/{unit_number}",
    operation_id="put_nav_office",
    response_model=NavOfficeRead,
    responses={201: {"description": "Created", "model": NavOfficeRead}},
)
async def put_nav_office(
    session: SessionDep,
    _: AdminDep,
    unit_number: UnitNumberPath,
    body: NavOfficeWrite,
    response: Response,
) -> object:
    """Create or replace a NAV office (201 when created, 200 when replaced)."""
    office, created = await service.put_nav_office(session, unit_number, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return office


@router.get(
    "/statsforvalter",
    operation_id="list_statsforvalter_offices",
    response_model=StatsforvalterOfficePage,
)
async def list_statsforvalter_offices(
    session: SessionDep, _: AdminDep, page: PageParamsDep
) -> StatsforvalterOfficePage:
    position = page.position("statsforvalter_office")
    rows = await repository.list_statsforvalter_offices(
        session, after=position[0] if position else None, limit=page.limit + 1
    )
    items, cursor = page.page("statsforvalter_office", list(rows), lambda office: [office.id])
    return StatsforvalterOfficePage(
        items=await service.statsforvalter_office_reads(session, items),
        next_cursor=cursor,
    )


@router.get(
    "/statsforvalter/{office_id}",
    operation_id="get_statsforvalter_office",
    response_model=StatsforvalterOfficeRead,
    responses=problem_responses(404),
)
async def get_statsforvalter_office(
    session: SessionDep, _: AdminDep, office_id: OfficeIdPath
) -> StatsforvalterOfficeRead:
    return await service.statsforvalter_office_read(session, office_id)


@router.put(
    "/statsforvalter/{office_id}",
    operation_id="put_statsforvalter_office",
    response_model=StatsforvalterOfficeRead,
    responses={201: {"description": "Created", "model": StatsforvalterOfficeRead}},
)
async def put_statsforvalter_office(
    session: SessionDep,
    _: AdminDep,
    office_id: OfficeIdPath,
    body: StatsforvalterOfficeWrite,
    response: Response,
) -> StatsforvalterOfficeRead:
    """Create or replace a Statsforvalter office; its counties are set through the routing."""
    _office, created = await service.put_statsforvalter_office(session, office_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return await service.statsforvalter_office_read(session, office_id)


@router.get("/routing", operation_id="list_county_routes", response_model=CountyRoutePage)
async def list_county_routes(session: SessionDep, _: AdminDep) -> CountyRoutePage:
    """The whole routing table (one row per county, so never more than one page)."""
    routes = await repository.list_county_routes(session)
    return CountyRoutePage(items=[CountyRouteRead.model_validate(route) for route in routes])


@router.put(
    "/routing/{county}",
    operation_id="put_county_route",
    response_model=CountyRouteRead,
    responses={201: {"description": "Created", "model": CountyRouteRead}},
)
async def put_county_route(
    session: SessionDep,
    _: AdminDep,
    county: CountyPath,
    body: CountyRouteWrite,
    response: Response,
) -> object:
    """Route a county's new appeals to a Statsforvalter office (201 for a county new to the
    table, 200 when re-routed)."""
    route, created = await service.put_county_route(session, county, body.statsforvalter_office_id)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return route
