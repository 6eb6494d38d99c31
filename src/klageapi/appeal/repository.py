"""SQL for appeals, including who may see which appeal."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import Organisation
from klageapi.models import Appeal, AppealHistory, AppealStatus, NavOffice, StatsforvalterOffice

__all__ = [
    "AppealFilter",
    "Offices",
    "get_by_external_reference",
    "get_visible",
    "history",
    "last_occurred_at",
    "list_visible",
    "offices_of",
    "visible_clause",
]


@dataclass(frozen=True)
class Offices:
    """The offices an organisation acts for, as the registry says now."""

    nav: frozenset[str]
    statsforvalter: frozenset[str]


async def offices_of(session: AsyncSession, organisation: Organisation) -> Offices:
    number = organisation.organisation_number
    nav = await session.scalars(
        select(NavOffice.unit_number).where(NavOffice.organisation_number == number)
    )
    statsforvalter = await session.scalars(
        select(StatsforvalterOffice.id).where(
            or_(
                StatsforvalterOffice.organisation_number == number,
                StatsforvalterOffice.agent_organisation_numbers.contains([number]),
            )
        )
    )
    return Offices(nav=frozenset(nav), statsforvalter=frozenset(statsforvalter))


def visible_clause(offices: Offices) -> ColumnElement[bool]:
    """Appeals of the NAV offices acted for, and appeals forwarded to the Statsforvalter
    offices acted for (from the moment of forwarding). Built from literal office lists, so
    that the common case (one NAV office) is a plain index range."""
    clauses: list[ColumnElement[bool]] = []
    if offices.nav:
        clauses.append(Appeal.nav_office_unit_number.in_(sorted(offices.nav)))
    if offices.statsforvalter:
        clauses.append(
            Appeal.statsforvalter_office_id.in_(sorted(offices.statsforvalter))
            & Appeal.forwarded_at.is_not(None)
        )
    if not clauses:
        return false()
    return clauses[0] if len(clauses) == 1 else or_(*clauses)


async def get_visible(
    session: AsyncSession, appeal_id: uuid.UUID, offices: Offices, *, for_update: bool = False
) -> Appeal | None:
    query = select(Appeal).where(Appeal.id == appeal_id, visible_clause(offices))
    if for_update:
        # populate_existing: a locked read must see the row as it is now, not as the
        # session's identity map remembered it.
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).one_or_none()


async def get_by_external_reference(
    session: AsyncSession, *, unit_number: str, external_reference: str
) -> Appeal | None:
    query = select(Appeal).where(
        Appeal.nav_office_unit_number == unit_number,
        Appeal.external_reference == external_reference,
    )
    return (await session.scalars(query)).one_or_none()


@dataclass(frozen=True)
class AppealFilter:
    statuses: Sequence[AppealStatus] = ()
    nav_office: str | None = None
    statsforvalter_office: str | None = None
    updated_after: dt.datetime | None = None
    late: bool | None = None


async def list_visible(
    session: AsyncSession,
    offices: Offices,
    where: AppealFilter,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Appeal]:
    """A page of visible appeals in (updated_at, id) order."""
    query = select(Appeal).where(visible_clause(offices))
    if where.statuses:
        query = query.where(Appeal.status.in_(where.statuses))
    if where.nav_office is not None:
        query = query.where(Appeal.nav_office_unit_number == where.nav_office)
    if where.statsforvalter_office is not None:
        query = query.where(Appeal.statsforvalter_office_id == where.statsforvalter_office)
    if where.updated_after is not None:
        query = query.where(Appeal.updated_at > where.updated_after)
    if where.late is not None:
        # Plain `late` / `NOT late` (not `IS TRUE`) so the partial index applies.
        query = query.where(Appeal.late if where.late else ~Appeal.late)
    if after is not None:
        query = query.where(tuple_(Appeal.updated_at, Appeal.id) > tuple_(*after))
    query = query.order_by(Appeal.updated_at, Appeal.id).limit(limit)
    return (await session.scalars(query)).all()


async def last_occurred_at(session: AsyncSession, appeal_id: uuid.UUID) -> dt.datetime | None:
    """When the appeal's latest recorded step happened."""
    query = select(func.max(AppealHistory.occurred_at)).where(AppealHistory.appeal_id == appeal_id)
    return await session.scalar(query)


async def history(session: AsyncSession, appeal_id: uuid.UUID) -> Sequence[AppealHistory]:
    query = (
        select(AppealHistory).where(AppealHistory.appeal_id == appeal_id).order_by(AppealHistory.id)
    )
    return (await session.scalars(query)).all()
