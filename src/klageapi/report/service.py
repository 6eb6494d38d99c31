"""The report's figures gathered in process, for the page the API serves: the statistics
service asked for the period in each grouping and for each month, as the caller."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import Organisation
from klageapi.core.clock import Clock
from klageapi.registry import service as registry
from klageapi.report.data import GROUPINGS, ReportData
from klageapi.statistics import service as statistics
from klageapi.statistics.repository import GroupBy

__all__ = ["gather"]


async def gather(
    session: AsyncSession,
    *,
    organisation: Organisation,
    start: dt.date,
    end: dt.date,
    clock: Clock,
) -> ReportData:
    """The figures the caller may see (the statistics' own rule), for the period."""
    views = {}
    for grouping in GROUPINGS:
        answer = await statistics.processing_times(
            session,
            organisation=organisation,
            start=start,
            end=end,
            group_by=GroupBy(grouping),
            channel=None,
            clock=clock,
        )
        views[grouping] = answer.model_dump(mode="json", by_alias=True)
    trend = [
        (
            first,
            {
                "received": received.model_dump(mode="json"),
                "decided": decided.model_dump(mode="json"),
            },
        )
        for first, received, decided in await statistics.monthly_totals(
            session, organisation=organisation, start=start, end=end
        )
    ]
    statsforvalter_names, nav_names = await registry.office_names(session)
    return ReportData(
        start=start,
        end=end,
        views=views,
        months=trend,
        names={"statsforvalter_office": statsforvalter_names, "nav_office": nav_names},
    )
