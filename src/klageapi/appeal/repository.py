"""SQL for appeals, including who may see which appeal."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import Organisation
from klageapi.models import Appeal, NavOffice, StatsforvalterOffice

__all__ = ["get_by_external_reference", "get_visible", "visible_to"]


def visible_to(organisation: Organisation) -> ColumnElement[bool]:
    """Appeals of the NAV offices the organisation acts for, and appeals forwarded to the
    Statsforvalter offices it acts for (from the moment of forwarding)."""
    number = organisation.organisation_number
    nav_offices = select(NavOffice.unit_number).where(NavOffice.organisation_number == number)
    sf_offices = select(StatsforvalterOffice.id).where(
        or_(
            StatsforvalterOffice.organisation_number == number,
            StatsforvalterOffice.agent_organisation_numbers.contains([number]),
        )
    )
    return or_(
        Appeal.nav_office_unit_number.in_(nav_offices),
        Appeal.forwarded_at.is_not(None) & Appeal.statsforvalter_office_id.in_(sf_offices),
    )


async def get_visible(
    session: AsyncSession, appeal_id: uuid.UUID, organisation: Organisation
) -> Appeal | None:
    query = select(Appeal).where(Appeal.id == appeal_id, visible_to(organisation))
    return (await session.scalars(query)).one_or_none()


async def get_by_external_reference(
    session: AsyncSession, *, unit_number: str, external_reference: str
) -> Appeal | None:
    query = select(Appeal).where(
        Appeal.nav_office_unit_number == unit_number,
        Appeal.external_reference == external_reference,
    )
    return (await session.scalars(query)).one_or_none()
