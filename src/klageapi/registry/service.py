"""The registry's operations: routing, who acts for which office, and administration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.errors import FieldError, ValidationFailed
from klageapi.models import CountyRoute, NavOffice, StatsforvalterOffice
from klageapi.registry import repository
from klageapi.registry.errors import NavOfficeNotFound, StatsforvalterOfficeNotFound, UnknownCounty
from klageapi.registry.schemas import (
    NavOfficeWrite,
    StatsforvalterOfficeRead,
    StatsforvalterOfficeWrite,
)

_Row = TypeVar("_Row", NavOffice, StatsforvalterOffice, CountyRoute)

__all__ = [
    "RegistrationTarget",
    "counties_of",
    "load_shipped_data",
    "office_names",
    "put_county_route",
    "put_nav_office",
    "put_statsforvalter_office",
    "registration_target",
    "route",
    "statsforvalter_office_exists",
    "statsforvalter_office_read",
    "statsforvalter_office_reads",
]


async def route(
    session: AsyncSession, municipality_number: str, *, field: str = "municipality_number"
) -> StatsforvalterOffice:
    """The Statsforvalter office that handles appeals from this municipality."""
    office = await repository.office_for_county(session, municipality_number[:2])
    if office is None:
        raise UnknownCounty(field, municipality_number)
    return office


@dataclass(frozen=True)
class RegistrationTarget:
    """The NAV office an appeal is registered at, and where its municipality is routed."""

    unit_number: str
    municipality_numbers: frozenset[str]
    statsforvalter_office_id: str | None
    """None when the municipality's county has no route: the caller refuses with
    `UnknownCounty`, after its other checks."""


async def registration_target(
    session: AsyncSession, *, organisation_number: str, unit_number: str, municipality_number: str
) -> RegistrationTarget:
    """The NAV office, if the calling organisation acts for it (otherwise it does not exist),
    and the office its municipality's county routes to, from one query."""
    found = await repository.nav_office_with_route(session, unit_number, municipality_number[:2])
    if found is None or found.organisation_number != organisation_number:
        raise NavOfficeNotFound(unit_number, acting_for=True)
    return RegistrationTarget(
        unit_number=unit_number,
        municipality_numbers=frozenset(found.municipality_numbers),
        statsforvalter_office_id=found.statsforvalter_office_id,
    )


async def _check_municipalities(session: AsyncSession, numbers: Sequence[str]) -> None:
    for index, number in enumerate(numbers):
        await route(session, number, field=f"municipality_numbers.{index}")


async def put_nav_office(
    session: AsyncSession, unit_number: str, body: NavOfficeWrite
) -> tuple[NavOffice, bool]:
    """Create or replace a NAV office; returns it and whether it was created."""
    await _check_municipalities(session, body.municipality_numbers)
    values = {
        "name": body.name,
        "name_nn": body.name_nn,
        "name_en": body.name_en,
        "organisation_number": body.organisation_number,
        "municipality_numbers": list(dict.fromkeys(body.municipality_numbers)),
    }
    created = await repository.add_if_absent(session, NavOffice, unit_number=unit_number, **values)
    office = await _replaced(session, NavOffice, unit_number, values, created=created)
    return office, created


async def put_statsforvalter_office(
    session: AsyncSession, office_id: str, body: StatsforvalterOfficeWrite
) -> tuple[StatsforvalterOffice, bool]:
    values = {
        "name": body.name,
        "name_nn": body.name_nn,
        "name_en": body.name_en,
        "organisation_number": body.organisation_number,
        "agent_organisation_numbers": list(dict.fromkeys(body.agent_organisation_numbers)),
    }
    created = await repository.add_if_absent(session, StatsforvalterOffice, id=office_id, **values)
    office = await _replaced(session, StatsforvalterOffice, office_id, values, created=created)
    return office, created


async def put_county_route(
    session: AsyncSession, county: str, office_id: str
) -> tuple[CountyRoute, bool]:
    """Route a county's appeals to an office (existing appeals keep the office they had);
    returns the route and whether the county is new to the table."""
    if await repository.get_statsforvalter_office(session, office_id) is None:
        raise ValidationFailed(
            [FieldError("statsforvalter_office_id", f"no office {office_id!r}", "unknown_office")]
        )
    values = {"statsforvalter_office_id": office_id}
    created = await repository.add_if_absent(session, CountyRoute, county=county, **values)
    county_route = await _replaced(session, CountyRoute, county, values, created=created)
    return county_route, created


async def _replaced(
    session: AsyncSession, model: type[_Row], key: str, values: dict[str, Any], *, created: bool
) -> _Row:
    """The row `add_if_absent` inserted, or the one it found, given `values` (a replacement)."""
    row = await session.get(model, key, populate_existing=True)
    assert row is not None  # inserted, or there before: registry rows are never deleted
    if not created:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = func.now()
        await session.flush()
        await session.refresh(row)
    return row


async def counties_of(session: AsyncSession, office_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = await session.execute(
        select(CountyRoute.statsforvalter_office_id, CountyRoute.county)
        .where(CountyRoute.statsforvalter_office_id.in_(office_ids))
        .order_by(CountyRoute.county)
    )
    counties: dict[str, list[str]] = {office_id: [] for office_id in office_ids}
    for office_id, county in rows:
        counties[office_id].append(county)
    return counties


async def office_names(session: AsyncSession) -> tuple[dict[str, str], dict[str, str]]:
    """The names to show for offices: Statsforvalter offices by id, NAV offices by unit number.
    Names are public (they are on every decision letter): anyone may be shown them."""
    return await repository.office_names(session)


async def statsforvalter_office_read(
    session: AsyncSession, office_id: str
) -> StatsforvalterOfficeRead:
    office = await repository.get_statsforvalter_office(session, office_id)
    if office is None:
        raise StatsforvalterOfficeNotFound(office_id)
    return (await statsforvalter_office_reads(session, [office]))[0]


async def statsforvalter_office_reads(
    session: AsyncSession, offices: Sequence[StatsforvalterOffice]
) -> list[StatsforvalterOfficeRead]:
    """The API's view of offices, with their counties fetched in one query."""
    counties = await counties_of(session, [office.id for office in offices])
    return [
        StatsforvalterOfficeRead(
            id=office.id,
            name=office.name,
            name_nn=office.name_nn,
            name_en=office.name_en,
            organisation_number=office.organisation_number,
            agent_organisation_numbers=office.agent_organisation_numbers,
            counties=counties[office.id],
        )
        for office in offices
    ]


class _ShippedOffice(BaseModel):
    id: str
    name: str
    name_nn: str | None = None
    name_en: str | None = None
    counties: list[str]


class _RoutingFile(BaseModel):
    statsforvalter_offices: list[_ShippedOffice]


class _DemoNavOffice(BaseModel):
    unit_number: str
    name: str
    organisation_number: str
    municipality_numbers: list[str]


class _DemoFile(BaseModel):
    nav_offices: list[_DemoNavOffice]
    statsforvalter_organisations: dict[str, str]


def _shipped(name: str) -> str:
    return resources.files("klageapi.registry").joinpath("data", name).read_text("utf-8")


# Beside the migrations' 7312001 (core/migrations.py).
_LOAD_LOCK = 7312002


async def load_shipped_data(session: AsyncSession, *, demo: bool) -> None:
    """Load the shipped routing table into an empty registry; with `demo`, the demo offices too.

    Runs at every start and changes nothing once an administrator (or an earlier start) has
    filled the registry, so edits made through the API are kept. Processes starting together
    take turns (a transaction-scoped advisory lock): the later one finds the registry filled.
    """
    await session.execute(text(f"SELECT pg_advisory_xact_lock({_LOAD_LOCK})"))
    if await session.scalar(select(func.count()).select_from(StatsforvalterOffice)) == 0:
        routing = _RoutingFile.model_validate_json(_shipped("routing.json"))
        for office in routing.statsforvalter_offices:
            session.add(
                StatsforvalterOffice(
                    id=office.id, name=office.name, name_nn=office.name_nn, name_en=office.name_en
                )
            )
        await session.flush()
        for office in routing.statsforvalter_offices:
            for county in office.counties:
                session.add(CountyRoute(county=county, statsforvalter_office_id=office.id))
        await session.flush()
    if demo and await session.scalar(select(func.count()).select_from(NavOffice)) == 0:
        data = _DemoFile.model_validate_json(_shipped("demo.json"))
        for nav_office in data.nav_offices:
            session.add(NavOffice(**nav_office.model_dump()))
        for office_id, organisation_number in data.statsforvalter_organisations.items():
            sf_office = await repository.get_statsforvalter_office(session, office_id)
            if sf_office is not None and sf_office.organisation_number is None:
                sf_office.organisation_number = organisation_number
        await session.flush()


async def statsforvalter_office_exists(session: AsyncSession, office_id: str) -> bool:
    return await repository.get_statsforvalter_office(session, office_id) is not None
