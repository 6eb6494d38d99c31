"""Processing times: the period and the caller's view checked, the figures from SQL shaped."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import SCOPE_ADMIN, Organisation
from klageapi.core.clock import NORWAY
from klageapi.models import Channel, NavOutcome, StatsforvalterOutcome
from klageapi.registry import access
from klageapi.statistics import repository
from klageapi.statistics.errors import PeriodOutOfRange, PeriodReversed, PeriodTooLong
from klageapi.statistics.repository import STAGES, GroupBy, Scope
from klageapi.statistics.schemas import (
    DecidedFigures,
    GroupFigures,
    Period,
    ProcessingTimes,
    ReceivedFigures,
    Stages,
    StageTimes,
)

__all__ = ["MAX_PERIOD_YEARS", "processing_times"]

MAX_PERIOD_YEARS = 5
# Days a Norwegian midnight, a day later and five years on can all be computed for: the year
# 1 or 9999 overflows datetime (found by the fuzzer as a 500).
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)


async def processing_times(
    session: AsyncSession,
    *,
    organisation: Organisation,
    start: dt.date,
    end: dt.date,
    group_by: GroupBy,
    channel: Channel | None,
) -> ProcessingTimes:
    """Figures for the appeals the caller may see: administrators every appeal, NAV offices
    their own, Statsforvalter offices those forwarded to them. Both dates are included."""
    _check_period(start, end)
    offices = None
    if SCOPE_ADMIN not in organisation.scopes:
        offices = await access.offices_of(session, organisation)
    scope = Scope(offices=offices, channel=channel)
    received = await repository.received_figures(
        session, start=start, end=end, group_by=group_by, scope=scope
    )
    decided = await repository.decided_figures(
        session,
        start=_midnight(start),
        end=_midnight(end + dt.timedelta(days=1)),
        group_by=group_by,
        scope=scope,
    )
    by_key_received = {_key(row): row for row in received}
    by_key_decided = {_key(row): row for row in decided}
    keys = sorted(k for k in by_key_received.keys() | by_key_decided.keys() if k is not None)

    def figures(key: str | None) -> GroupFigures:
        return GroupFigures(
            key=key,
            received=_received(by_key_received.get(key)),
            decided=_decided(by_key_decided.get(key)),
        )

    return ProcessingTimes(
        period=Period(from_=start, to=end),
        group_by=group_by,
        channel=channel,
        groups=[figures(key) for key in keys],
        total=figures(None),
    )


def _check_period(start: dt.date, end: dt.date) -> None:
    for field, day in (("from", start), ("to", end)):
        if not FIRST_DAY <= day <= LAST_DAY:
            raise PeriodOutOfRange(field=field, first=FIRST_DAY, last=LAST_DAY)
    if end < start:
        raise PeriodReversed(start=start, end=end)
    try:
        limit = start.replace(year=start.year + MAX_PERIOD_YEARS)
    except ValueError:  # 29 February
        limit = start.replace(year=start.year + MAX_PERIOD_YEARS, day=28) + dt.timedelta(days=1)
    if end >= limit:
        raise PeriodTooLong(
            start=start, years=MAX_PERIOD_YEARS, latest=limit - dt.timedelta(days=1)
        )


def _midnight(day: dt.date) -> dt.datetime:
    """The start of a Norwegian calendar day."""
    return dt.datetime.combine(day, dt.time(), tzinfo=NORWAY)


def _key(row: RowMapping) -> str | None:
    return None if row["is_total"] else str(row["key"])


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _days(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _received(row: RowMapping | None) -> ReceivedFigures:
    if row is None:
        return ReceivedFigures(
            appeals=0,
            digital_share=None,
            nav_outcomes={**{o.value: 0 for o in NavOutcome}, "pending": 0},
        )
    return ReceivedFigures(
        appeals=row["appeals"],
        digital_share=_share(row["digital"], row["appeals"]),
        nav_outcomes={
            **{o.value: row[f"nav_outcome_{o.value}"] for o in NavOutcome},
            "pending": row["nav_outcome_pending"],
        },
    )


def _decided(row: RowMapping | None) -> DecidedFigures:
    def stage(name: str) -> StageTimes:
        if row is None:
            return StageTimes(count=0, median_days=None, p90_days=None)
        median, p90 = row[f"{name}_percentiles"] or (None, None)
        return StageTimes(
            count=row[f"{name}_count"], median_days=_days(median), p90_days=_days(p90)
        )

    stages = Stages(**{name: stage(name) for name in STAGES})
    outcomes = {o.value: row[f"outcome_{o.value}"] if row else 0 for o in StatsforvalterOutcome}
    if row is None:
        return DecidedFigures(
            appeals=0, within_90_days_share=None, outcomes=outcomes, stages=stages
        )
    return DecidedFigures(
        appeals=row["appeals"],
        within_90_days_share=_share(row["within_90_days"], row["with_receipt"]),
        outcomes=outcomes,
        stages=stages,
    )
