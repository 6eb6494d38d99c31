"""HTTP endpoint of the processing-time statistics."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from klageapi.core.auth import ReaderOrAdminDep
from klageapi.core.clock import ClockDep
from klageapi.core.db import ReadSessionDep
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import problem_responses
from klageapi.models import Channel
from klageapi.statistics import service
from klageapi.statistics.repository import GroupBy
from klageapi.statistics.schemas import ProcessingTimes

__all__ = ["router"]

router = APIRouter(
    prefix="/statistics",
    tags=["statistics"],
    responses=problem_responses(401, 403),
    route_class=JsonRoute,
)


@router.get(
    "/processing-times",
    operation_id="get_processing_times",
    response_model=ProcessingTimes,
    responses=problem_responses(422),
)
async def get_processing_times(
    # Aggregates over history: a replica's lag of a moment changes nothing that matters.
    session: ReadSessionDep,
    organisation: ReaderOrAdminDep,
    clock: ClockDep,
    from_: Annotated[
        dt.date, Query(alias="from", description="First day of the period (Norwegian date).")
    ],
    to: Annotated[dt.date, Query(description="Last day of the period, included; ≤ 5 years.")],
    group_by: Annotated[GroupBy, Query(description="One group per office or county.")] = (
        GroupBy.statsforvalter_office
    ),
    channel: Annotated[Channel | None, Query(description="Only appeals of this channel.")] = None,
) -> ProcessingTimes:
    """Where the waiting happens: per group, the time in each stage (count, median, 90th
    percentile, in days) and the share decided within 90 days of the Statsforvalter's receipt,
    for the appeals decided in the period, with the citizen's whole wait and the official
    measure (median, 90th and 99th percentile); the digital share and NAV's outcomes, for the
    appeals received in the period; the appeals open now and their age; and each
    Statsforvalter office's queue by the waiting-list formulas.

    Administrators (`klageapi:admin`) see every appeal, NAV offices their own, Statsforvalter
    offices the appeals forwarded to them. Stage times come from when each step happened.
    """
    return await service.processing_times(
        session,
        organisation=organisation,
        start=from_,
        end=to,
        group_by=group_by,
        channel=channel,
        clock=clock,
    )
