"""Processing times: the period and the caller's view checked, the figures from SQL shaped."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import SCOPE_ADMIN, Organisation
from klageapi.core.clock import NORWAY, Clock
from klageapi.models import Channel, NavOutcome, StatsforvalterOutcome
from klageapi.registry import access
from klageapi.statistics import queue_health, repository
from klageapi.statistics.errors import PeriodOutOfRange, PeriodReversed, PeriodTooLong
from klageapi.statistics.repository import (
    OPEN_STATUSES,
    SHARED_STAGES,
    STAGES,
    GroupBy,
    Month,
    Scope,
)
from klageapi.statistics.schemas import (
    DecidedFigures,
    GroupFigures,
    OpenAge,
    OpenFigures,
    Period,
    ProcessingTimes,
    QueueHealth,
    ReceivedFigures,
    Stages,
    StageShares,
    StageTimes,
    WaitTimes,
)

__all__ = ["MAX_PERIOD_YEARS", "monthly_totals", "processing_times"]

MAX_PERIOD_YEARS = 5
# Days a Norwegian midnight, a day later and five years on can all be computed for: the year
# 1 or 9999 overflows datetime (found by the fuzzer as a 500).
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
QUEUE_WINDOW_WEEKS = 26
"""The weeks of arrivals and decisions a queue's demand and capacity are measured over."""
TARGET_WEEKS = 90 / 7
"""The official measure's target, 90 days, in the formulas' weeks."""


async def processing_times(
    session: AsyncSession,
    *,
    organisation: Organisation,
    start: dt.date,
    end: dt.date,
    group_by: GroupBy,
    channel: Channel | None,
    clock: Clock,
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
    now = clock.now()
    open_now = await repository.open_figures(session, now=now, group_by=group_by, scope=scope)
    queues = await repository.queue_figures(
        session, now=now, since=now - dt.timedelta(weeks=QUEUE_WINDOW_WEEKS), scope=scope
    )
    by_key_received = {_key(row): row for row in received}
    by_key_decided = {_key(row): row for row in decided}
    by_key_open = {_key(row): row for row in open_now}
    keys = sorted(
        k
        for k in by_key_received.keys() | by_key_decided.keys() | by_key_open.keys()
        if k is not None
    )

    def figures(key: str | None) -> GroupFigures:
        return GroupFigures(
            key=key,
            received=_received(by_key_received.get(key)),
            decided=_decided(by_key_decided.get(key)),
            open=_open(by_key_open.get(key)),
        )

    return ProcessingTimes(
        period=Period(from_=start, to=end),
        group_by=group_by,
        channel=channel,
        as_of=now,
        groups=[figures(key) for key in keys],
        total=figures(None),
        queue_health=[_queue_health(row) for row in queues],
    )


async def monthly_totals(
    session: AsyncSession,
    *,
    organisation: Organisation,
    start: dt.date,
    end: dt.date,
) -> list[tuple[dt.date, ReceivedFigures, DecidedFigures]]:
    """Per calendar month the period touches (keyed by its first day, cut to the period), all
    the caller's appeals received and decided in it: the `total` that `processing_times` gives
    for that month alone, without the open appeals and queues (they do not depend on the
    period). Two queries for any number of months, not four a month."""
    _check_period(start, end)
    offices = None
    if SCOPE_ADMIN not in organisation.scopes:
        offices = await access.offices_of(session, organisation)
    scope = Scope(offices=offices, channel=None)
    received = await repository.received_figures(
        session, start=start, end=end, group_by=Month.month, scope=scope
    )
    decided = await repository.decided_figures(
        session,
        start=_midnight(start),
        end=_midnight(end + dt.timedelta(days=1)),
        group_by=Month.month,
        scope=scope,
    )
    by_month_received = {row["key"]: row for row in received if not row["is_total"]}
    by_month_decided = {row["key"]: row for row in decided if not row["is_total"]}
    found = []
    first = start
    while first <= end:
        month = first.replace(day=1)
        found.append(
            (
                first,
                _received(by_month_received.get(month)),
                _decided(by_month_decided.get(month)),
            )
        )
        first = (month + dt.timedelta(days=32)).replace(day=1)
    return found


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


def _open(row: RowMapping | None) -> OpenFigures:
    if row is None:
        return OpenFigures(
            appeals=0,
            by_status={status.value: 0 for status in OPEN_STATUSES},
            age=OpenAge(count=0, median_days=None, p90_days=None, oldest_days=None),
            at_statsforvalter=0,
            past_90_days_share=None,
        )
    median, p90 = row["age_percentiles"] or (None, None)
    return OpenFigures(
        appeals=row["appeals"],
        by_status={status.value: row[f"status_{status.value}"] for status in OPEN_STATUSES},
        age=OpenAge(
            count=row["appeals"],
            median_days=_days(median),
            p90_days=_days(p90),
            oldest_days=_days(row["oldest_days"]),
        ),
        at_statsforvalter=row["at_statsforvalter"],
        past_90_days_share=_share(row["past_90_days"], row["at_statsforvalter"]),
    )


def _queue_health(row: RowMapping) -> QueueHealth:
    """The waiting-list formulas in weeks, on the office's figures over the window."""
    demand = row["arrivals"] / QUEUE_WINDOW_WEEKS
    capacity = row["decisions"] / QUEUE_WINDOW_WEEKS
    mean_wait = None if row["mean_wait_days"] is None else float(row["mean_wait_days"]) / 7
    load = queue_health.load(demand, capacity)
    return QueueHealth(
        statsforvalter_office=row["office"],
        window_weeks=QUEUE_WINDOW_WEEKS,
        arrivals_per_week=round(demand, 2),
        decisions_per_week=round(capacity, 2),
        queue_size=row["queue"],
        mean_wait_weeks=None if mean_wait is None else round(mean_wait, 2),
        load=None if load is None else round(load, 2),
        pressure=None
        if mean_wait is None
        else round(queue_health.pressure(mean_wait, TARGET_WEEKS), 2),
        target_mean_wait_weeks=round(queue_health.target_mean_wait(TARGET_WEEKS), 2),
        target_queue_size=round(queue_health.target_queue_size(demand, TARGET_WEEKS), 2),
        relief_capacity=round(queue_health.relief_capacity(demand, row["queue"], TARGET_WEEKS), 2),
    )


def _waits(row: RowMapping | None, name: str) -> WaitTimes:
    if row is None:
        return WaitTimes(count=0, median_days=None, p90_days=None, p99_days=None, mean_days=None)
    median, p90, p99 = row[f"{name}_percentiles"] or (None, None, None)
    return WaitTimes(
        count=row[f"{name}_count"],
        median_days=_days(median),
        p90_days=_days(p90),
        p99_days=_days(p99),
        mean_days=_days(row[f"{name}_mean"]),
    )


def _stage_shares(row: RowMapping) -> StageShares | None:
    """Each stage's days over the whole wait's, summed over the decided appeals; NAV's part is
    what the other stages leave, so that the parts add up to 1."""
    whole = row["whole_wait_sum"]
    if not whole:
        return None
    shares = {name: round((row[f"{name}_sum"] or 0.0) / whole, 4) for name in SHARED_STAGES}
    return StageShares(nav=round(1 - sum(shares.values()), 4), **shares)


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
            appeals=0,
            within_90_days_share=None,
            outcomes=outcomes,
            stages=stages,
            whole_wait=_waits(None, "whole_wait"),
            official_measure=_waits(None, "official_measure"),
            stage_shares=None,
        )
    return DecidedFigures(
        appeals=row["appeals"],
        within_90_days_share=_share(row["within_90_days"], row["with_receipt"]),
        outcomes=outcomes,
        stages=stages,
        whole_wait=_waits(row, "whole_wait"),
        official_measure=_waits(row, "official_measure"),
        stage_shares=_stage_shares(row),
    )
