"""SQL for the citizen's view: the citizen's own appeals, their steps, and how long the
Statsforvalter office has recently taken from a stage to its decision."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import (
    Appeal,
    AppealHistory,
    AppealStatus,
    CasePackage,
    DocumentationRequest,
    DocumentationRequestStatus,
    NavOffice,
    PackageKind,
    StatsforvalterOffice,
)

__all__ = [
    "OfficeNames",
    "OfficeRecord",
    "OpenRequest",
    "OwnAppeal",
    "comment_deadlines",
    "get_own",
    "list_own",
    "open_documentation_requests",
    "recent_time_to_decision",
    "recent_time_to_forwarding",
    "steps",
]


@dataclass(frozen=True)
class OfficeNames:
    """An office's official names; Bokmål stands in for a language it has no other name in."""

    nb: str
    nn: str | None
    en: str | None

    def in_(self, language: str) -> str:
        return {"nn": self.nn, "en": self.en}.get(language) or self.nb


@dataclass(frozen=True)
class OwnAppeal:
    appeal: Appeal
    nav_office: OfficeNames
    statsforvalter_office: OfficeNames


def _own() -> Select[Appeal, str, str | None, str | None, str, str | None, str | None]:
    return (
        select(
            Appeal,
            NavOffice.name,
            NavOffice.name_nn,
            NavOffice.name_en,
            StatsforvalterOffice.name,
            StatsforvalterOffice.name_nn,
            StatsforvalterOffice.name_en,
        )
        .join(NavOffice, NavOffice.unit_number == Appeal.nav_office_unit_number)
        .join(StatsforvalterOffice, StatsforvalterOffice.id == Appeal.statsforvalter_office_id)
    )


def _own_appeal(row: Sequence[object]) -> OwnAppeal:
    appeal, nav, nav_nn, nav_en, sf, sf_nn, sf_en = row
    assert isinstance(appeal, Appeal)
    return OwnAppeal(
        appeal,
        OfficeNames(str(nav), _optional(nav_nn), _optional(nav_en)),
        OfficeNames(str(sf), _optional(sf_nn), _optional(sf_en)),
    )


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


async def list_own(
    session: AsyncSession,
    national_id: str,
    *,
    digisos_case_id: str | None = None,
    after: tuple[dt.date, uuid.UUID] | None = None,
    limit: int | None = None,
) -> list[OwnAppeal]:
    """The citizen's appeals (of one Digisos case, when given), the newest first: a page of
    them after `after` (received_on, id) in that order."""
    query = _own().where(Appeal.national_id == national_id)
    if digisos_case_id is not None:
        query = query.where(Appeal.digisos_case_id == digisos_case_id)
    if after is not None:
        query = query.where(tuple_(Appeal.received_on, Appeal.id) < tuple_(*after))
    query = query.order_by(Appeal.received_on.desc(), Appeal.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = await session.execute(query)
    return [_own_appeal(row) for row in rows.all()]


async def get_own(
    session: AsyncSession, appeal_id: uuid.UUID, national_id: str
) -> OwnAppeal | None:
    query = _own().where(Appeal.id == appeal_id, Appeal.national_id == national_id)
    row = (await session.execute(query)).one_or_none()
    return None if row is None else _own_appeal(row)


async def steps(
    session: AsyncSession, appeal_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[AppealStatus, dt.datetime]]]:
    """Every status each appeal entered, with when, in order. Only a change of status dates a
    step: NAV's outcome, a preliminary reply or a re-route is a row of the history, no step."""
    query = (
        select(AppealHistory.appeal_id, AppealHistory.to_status, AppealHistory.occurred_at)
        .where(
            AppealHistory.appeal_id.in_(appeal_ids),
            AppealHistory.from_status.is_distinct_from(AppealHistory.to_status),
        )
        .order_by(AppealHistory.appeal_id, AppealHistory.id)
    )
    found: dict[uuid.UUID, list[tuple[AppealStatus, dt.datetime]]] = {}
    for appeal_id, status, occurred_at in (await session.execute(query)).all():
        found.setdefault(appeal_id, []).append((status, occurred_at))
    return found


@dataclass(frozen=True)
class OpenRequest:
    """An open documentation request, as the citizen's tasks need it."""

    id: uuid.UUID
    due_on: dt.date
    categories: tuple[str, ...]


async def open_documentation_requests(
    session: AsyncSession, appeal_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[OpenRequest]]:
    """Each appeal's open documentation requests: what they ask for (document categories) and
    by when."""
    query = (
        select(
            DocumentationRequest.appeal_id,
            DocumentationRequest.id,
            DocumentationRequest.due_on,
            DocumentationRequest.categories,
        )
        .where(
            DocumentationRequest.appeal_id.in_(appeal_ids),
            DocumentationRequest.status == DocumentationRequestStatus.open,
        )
        .order_by(DocumentationRequest.due_on, DocumentationRequest.id)
    )
    found: dict[uuid.UUID, list[OpenRequest]] = {}
    for appeal_id, request_id, due_on, categories in (await session.execute(query)).all():
        found.setdefault(appeal_id, []).append(OpenRequest(request_id, due_on, tuple(categories)))
    return found


async def comment_deadlines(
    session: AsyncSession, appeal_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dt.date]:
    """The comment deadline of the case presentation sent with each appeal's latest forwarding,
    where one was set."""
    query = (
        select(CasePackage.appeal_id, CasePackage.manifest["forwarding"]["comment_deadline_on"])
        .where(CasePackage.appeal_id.in_(appeal_ids), CasePackage.kind == PackageKind.initial)
        .order_by(CasePackage.appeal_id, CasePackage.frozen_at.desc(), CasePackage.id.desc())
        .ext(distinct_on(CasePackage.appeal_id))
    )
    return {
        appeal_id: dt.date.fromisoformat(deadline)
        for appeal_id, deadline in (await session.execute(query)).all()
        if isinstance(deadline, str)
    }


@dataclass(frozen=True)
class OfficeRecord:
    """How long an office's appeals took from entering a status to their decision."""

    count: int
    p50: dt.timedelta | None
    p90: dt.timedelta | None


async def recent_time_to_decision(
    session: AsyncSession, *, office_id: str, status: AppealStatus, since: dt.datetime
) -> OfficeRecord:
    """Over the Statsforvalter office's appeals decided since `since`: the median and 90th
    percentile of the time from first entering `status` to the decision (business time)."""
    return await _recent_time(
        session,
        Appeal.statsforvalter_office_id == office_id,
        status=status,
        until=AppealStatus.decided,
        since=since,
    )


async def recent_time_to_forwarding(
    session: AsyncSession, *, unit_number: str, status: AppealStatus, since: dt.datetime
) -> OfficeRecord:
    """Over the NAV office's appeals forwarded since `since`: the median and 90th percentile of
    the time from first entering `status` to the (last) forwarding."""
    return await _recent_time(
        session,
        Appeal.nav_office_unit_number == unit_number,
        status=status,
        until=AppealStatus.forwarded,
        since=since,
    )


async def _recent_time(
    session: AsyncSession,
    office: ColumnElement[bool],
    *,
    status: AppealStatus,
    until: AppealStatus,
    since: dt.datetime,
) -> OfficeRecord:
    reached = (
        select(AppealHistory.appeal_id, func.max(AppealHistory.occurred_at).label("reached_at"))
        .join(Appeal, Appeal.id == AppealHistory.appeal_id)
        .where(
            office,
            AppealHistory.to_status == until,
            # Entering it: a re-route (forwarded → forwarded) is no new forwarding.
            AppealHistory.from_status.is_distinct_from(until),
            AppealHistory.occurred_at >= since,
        )
        .group_by(AppealHistory.appeal_id)
        .subquery()
    )
    entered = (
        select(AppealHistory.appeal_id, func.min(AppealHistory.occurred_at).label("entered_at"))
        .join(reached, reached.c.appeal_id == AppealHistory.appeal_id)
        .where(AppealHistory.to_status == status)
        .group_by(AppealHistory.appeal_id)
        .subquery()
    )
    seconds = func.extract("epoch", reached.c.reached_at - entered.c.entered_at)
    query = select(
        func.count(),
        func.percentile_cont(0.5).within_group(seconds),
        func.percentile_cont(0.9).within_group(seconds),
    ).join_from(reached, entered, reached.c.appeal_id == entered.c.appeal_id)
    count, p50, p90 = (await session.execute(query)).one()
    return OfficeRecord(
        count=int(count),
        p50=None if p50 is None else dt.timedelta(seconds=float(p50)),
        p90=None if p90 is None else dt.timedelta(seconds=float(p90)),
    )
