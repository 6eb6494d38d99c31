"""`GET /v1/statistics/report`: the report as a page, for exactly the callers the statistics
answer (the same dependency, so the same 401 and 403), on the same replica-tolerant reads."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import HTMLResponse

from klageapi.citizen.language import negotiate
from klageapi.core.auth import ReaderOrAdminDep
from klageapi.core.clock import ClockDep
from klageapi.core.db import ReadSessionDep
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import problem_responses
from klageapi.report import service
from klageapi.report.data import default_period
from klageapi.report.render import render

__all__ = ["router"]

router = APIRouter(
    prefix="/statistics",
    tags=["statistics"],
    responses=problem_responses(401, 403),
    route_class=JsonRoute,
)

# The page runs nothing and fetches nothing: its styles are inline, its charts inline SVG, its
# CSV downloads data: URLs.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:;"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "Vary": "Accept-Language",
}


class ReportLanguage(enum.StrEnum):
    nb = "nb"
    nn = "nn"
    en = "en"


@router.get(
    "/report",
    operation_id="get_statistics_report",
    response_class=HTMLResponse,
    responses={
        200: {
            "description": "The report: one self-contained HTML page.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **problem_responses(422),
    },
)
async def get_statistics_report(
    session: ReadSessionDep,
    organisation: ReaderOrAdminDep,
    clock: ClockDep,
    from_: Annotated[
        dt.date | None,
        Query(alias="from", description="First day of the period; a year before `to` if none."),
    ] = None,
    to: Annotated[
        dt.date | None, Query(description="Last day of the period, included; today if none.")
    ] = None,
    lang: Annotated[
        ReportLanguage | None,
        Query(description="nb (Bokmål), nn (Nynorsk) or en; before Accept-Language."),
    ] = None,
    accept_language: Annotated[
        str | None, Header(description="Used when `lang` is not given; nb by default.")
    ] = None,
) -> HTMLResponse:
    """The processing-time statistics as a page a leader reads at a glance: the whole wait and
    the official measure (median, 90th and 99th percentile, with how many appeals each rests
    on), the stages as shares of the real wait, the open backlog and its age, views by
    Statsforvalter office, NAV office and county, a monthly trend and each office's queue,
    each table downloadable as CSV. The same callers and figures as
    `GET /v1/statistics/processing-times`."""
    start, end = default_period(from_, to, clock.today())
    data = await service.gather(
        session, organisation=organisation, start=start, end=end, clock=clock
    )
    language = lang.value if lang is not None else negotiate(accept_language)
    query = {"from": start.isoformat(), "to": end.isoformat()}
    return HTMLResponse(
        render(data, language=language, switch=query),
        headers={**_HEADERS, "Content-Language": language},
    )
