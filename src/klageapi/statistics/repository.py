"""SQL for processing times: each appeal's milestones (kept on the appeal row as its history
grows), then counts, medians and 90th percentiles per group, all in PostgreSQL."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    and_,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import (
    Appeal,
    AppealStatus,
    Channel,
    NavOutcome,
    StatsforvalterOutcome,
)
from klageapi.registry import access

__all__ = [
    "OPEN_STATUSES",
    "SHARED_STAGES",
    "STAGES",
    "WAITS",
    "GroupBy",
    "Month",
    "Scope",
    "decided_figures",
    "open_figures",
    "queue_figures",
    "received_figures",
]


STAGES = (
    "nav_preparation",
    "transfer",
    "waiting_at_statsforvalter",
    "statsforvalter_work",
    "waiting_for_documentation",
    "total",
)
WAITS = ("whole_wait", "official_measure")
"""The waits of a decided appeal measured with their 99th percentile and mean too: the
citizen's whole wait from NAV's receipt, and the official measure from the Statsforvalter's
receipt."""
SHARED_STAGES = (
    "transfer",
    "waiting_at_statsforvalter",
    "statsforvalter_work",
    "waiting_for_documentation",
)
"""The stages whose days are summed to divide the whole wait; NAV's part is the rest of it."""
OPEN_STATUSES = (
    AppealStatus.received,
    AppealStatus.under_nav_review,
    AppealStatus.forwarded,
    AppealStatus.received_by_statsforvalter,
    AppealStatus.under_statsforvalter_review,
    AppealStatus.awaiting_documentation,
)
_AT_STATSFORVALTER = OPEN_STATUSES[3:]
_NORWAY = "Europe/Oslo"
_DAY_SECONDS = 86400.0
_WORK_MEM = "64MB"


class GroupBy(enum.StrEnum):
    statsforvalter_office = "statsforvalter_office"
    nav_office = "nav_office"
    county = "county"


@dataclass(frozen=True)
class Scope:
    """Which appeals the figures cover: the caller's offices (None: every appeal, for an
    administrator) and an optional channel."""

    offices: access.Offices | None
    channel: Channel | None


class Month(enum.Enum):
    """Group by calendar month instead: decided appeals by the Norwegian month of the decision,
    received ones by the month of `received_on`."""

    month = "month"


def _month_of(column: ColumnElement[Any], *, moment: bool) -> ColumnElement[Any]:
    day = func.timezone(_NORWAY, column) if moment else column
    return cast(func.date_trunc(literal_column("'month'"), day), Date)


def _group_key(group_by: GroupBy) -> ColumnElement[str]:
    if group_by is GroupBy.statsforvalter_office:
        return Appeal.statsforvalter_office_id.expression
    if group_by is GroupBy.nav_office:
        return Appeal.nav_office_unit_number.expression
    # Literal arguments: a bound parameter in SELECT and GROUP BY would not be the same
    # expression to PostgreSQL.
    return func.left(Appeal.municipality_number, literal_column("2"))


def _scope_clause(scope: Scope) -> ColumnElement[bool]:
    """The appeals the caller may see (`registry.access`); everything for an administrator."""
    visible = true() if scope.offices is None else access.visible(access.APPEAL, scope.offices)
    if scope.channel is not None:
        return and_(visible, Appeal.channel == scope.channel)
    return visible


def _days(later: ColumnElement[Any], earlier: ColumnElement[Any]) -> ColumnElement[Any]:
    # date_part gives float8; extract would give numeric, several times slower to compute.
    return func.date_part("epoch", later - earlier) / _DAY_SECONDS


def _grouping_sets(key: ColumnElement[str]) -> ColumnElement[Any]:
    # One row per group and one for all groups together (percentiles do not add up).
    return func.grouping_sets(tuple_(key), tuple_())


def _median_and_p90(days: ColumnElement[Any]) -> ColumnElement[Any]:
    # Both fractions from one sort of the stage's values.
    return func.percentile_cont(literal_column("ARRAY[0.5, 0.9]")).within_group(days)


def _median_p90_p99(days: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.percentile_cont(literal_column("ARRAY[0.5, 0.9, 0.99]")).within_group(days)


def _norwegian_midnight(day: ColumnElement[Any]) -> ColumnElement[Any]:
    """The start of a Norwegian calendar day, as a moment."""
    return func.timezone(_NORWAY, cast(day, DateTime()))


def _norwegian_date(moment: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(func.timezone(_NORWAY, moment), Date)


async def decided_figures(
    session: AsyncSession,
    *,
    start: dt.datetime,
    end: dt.datetime,
    group_by: GroupBy | Month,
    scope: Scope,
) -> Sequence[RowMapping]:
    """Appeals the Statsforvalter decided in [start, end): per group (and once more for all of
    them, with `is_total`), the count, the share decided within 90 days of the receipt, the
    outcomes, and each stage's count and [median, 90th percentile] in days."""
    key = (
        _month_of(Appeal.decided_at.expression, moment=True)
        if isinstance(group_by, Month)
        else _group_key(group_by)
    )
    # The appeal's milestones are kept as its history grows (migration 0008): one row each.
    milestones = (
        select(
            key.label("key"),
            Appeal.statsforvalter_outcome.label("outcome"),
            Appeal.decided_at,
            Appeal.received_on,
            Appeal.registered_at,
            Appeal.last_forwarded_at.label("forwarded_at"),
            Appeal.statsforvalter_received_at.label("sf_received_at"),
            Appeal.statsforvalter_review_started_at.label("review_started_at"),
            Appeal.documentation_wait_seconds.label("documentation_seconds"),
        )
        .where(Appeal.decided_at >= start, Appeal.decided_at < end, _scope_clause(scope))
        .cte("milestones")
    )
    m = milestones.c
    documentation_days = m.documentation_seconds / _DAY_SECONDS
    # Each decided appeal's stages in days, computed once for all the aggregates below.
    stages = select(
        m.key,
        m.outcome,
        m.sf_received_at.is_not(None).label("with_receipt"),
        (
            cast(func.timezone(_NORWAY, m.decided_at), Date)
            - cast(func.timezone(_NORWAY, m.sf_received_at), Date)
            <= literal_column("90")
        ).label("within_90_days"),
        _days(m.forwarded_at, m.registered_at).label("nav_preparation"),
        _days(m.sf_received_at, m.forwarded_at).label("transfer"),
        _days(m.review_started_at, m.sf_received_at).label("waiting_at_statsforvalter"),
        (
            _days(m.decided_at, m.review_started_at)
            - func.coalesce(documentation_days, literal_column("0.0"))
        ).label("statsforvalter_work"),
        documentation_days.label("waiting_for_documentation"),
        _days(m.decided_at, m.registered_at).label("total"),
        _days(m.decided_at, _norwegian_midnight(m.received_on)).label("whole_wait"),
        _days(m.decided_at, m.sf_received_at).label("official_measure"),
    ).cte("stages")
    st = stages.c
    columns: list[ColumnElement[Any]] = [
        func.grouping(st.key).label("is_total"),
        st.key,
        func.count().label("appeals"),
        func.count().filter(st.within_90_days).label("within_90_days"),
        func.count().filter(st.with_receipt).label("with_receipt"),
    ]
    for outcome in StatsforvalterOutcome:
        columns.append(func.count().filter(st.outcome == outcome).label(f"outcome_{outcome}"))
    for name in STAGES:
        columns += [
            func.count(st[name]).label(f"{name}_count"),
            _median_and_p90(st[name]).label(f"{name}_percentiles"),
        ]
    for name in WAITS:
        columns += [
            func.count(st[name]).label(f"{name}_count"),
            _median_p90_p99(st[name]).label(f"{name}_percentiles"),
            func.avg(st[name]).label(f"{name}_mean"),
        ]
    # Means add up where medians do not: the days of each stage summed over the appeals, to
    # divide the summed whole wait into the parts each stage took.
    columns.append(func.sum(st.whole_wait).label("whole_wait_sum"))
    for name in SHARED_STAGES:
        columns.append(func.sum(st[name]).label(f"{name}_sum"))
    query = select(*columns).group_by(_grouping_sets(st.key))
    # Sorting every decided appeal's stages for the percentiles: in memory, not in temporary
    # files, for this transaction only (bench/statistics.py).
    await session.execute(text(f"SET LOCAL work_mem = '{_WORK_MEM}'"))
    return (await session.execute(query)).mappings().all()


async def received_figures(
    session: AsyncSession,
    *,
    start: dt.date,
    end: dt.date,
    group_by: GroupBy | Month,
    scope: Scope,
) -> Sequence[RowMapping]:
    """Appeals received (received_on) from start to end inclusive: per group (and once more
    with the key NULL for all of them), the count, how many came digitally, and NAV's
    outcomes so far."""
    key = (
        _month_of(Appeal.received_on.expression, moment=False)
        if isinstance(group_by, Month)
        else _group_key(group_by)
    ).label("key")
    columns: list[ColumnElement[Any]] = [
        func.grouping(key).label("is_total"),
        key,
        func.count().label("appeals"),
        func.count().filter(Appeal.channel == Channel.digital).label("digital"),
        func.count().filter(Appeal.nav_outcome.is_(None)).label("nav_outcome_pending"),
    ]
    for outcome in NavOutcome:
        columns.append(
            func.count().filter(Appeal.nav_outcome == outcome).label(f"nav_outcome_{outcome}")
        )
    query = (
        select(*columns)
        .where(Appeal.received_on >= start, Appeal.received_on <= end, _scope_clause(scope))
        .group_by(_grouping_sets(key))
    )
    return (await session.execute(query)).mappings().all()


async def open_figures(
    session: AsyncSession, *, now: dt.datetime, group_by: GroupBy, scope: Scope
) -> Sequence[RowMapping]:
    """The appeals open at `now`: per group (and all together), how many in each status, their
    age since NAV's receipt ([median, 90th percentile] and the oldest, in days), how many wait
    at the Statsforvalter, and how many of those for more than 90 days since its receipt."""
    at = literal(now, DateTime(timezone=True))
    key = _group_key(group_by).label("key")
    age = _days(at, _norwegian_midnight(Appeal.received_on.expression))
    at_statsforvalter = Appeal.status.in_(_AT_STATSFORVALTER)
    waited = _norwegian_date(at) - _norwegian_date(Appeal.statsforvalter_received_at.expression)
    columns: list[ColumnElement[Any]] = [
        func.grouping(key).label("is_total"),
        key,
        func.count().label("appeals"),
        _median_and_p90(age).label("age_percentiles"),
        func.max(age).label("oldest_days"),
        func.count().filter(at_statsforvalter).label("at_statsforvalter"),
        func.count().filter(at_statsforvalter, waited > literal_column("90")).label("past_90_days"),
    ]
    for status in OPEN_STATUSES:
        columns.append(func.count().filter(Appeal.status == status).label(f"status_{status}"))
    query = (
        select(*columns)
        .where(Appeal.status.in_(OPEN_STATUSES), _scope_clause(scope))
        .group_by(_grouping_sets(key))
    )
    return (await session.execute(query)).mappings().all()


async def queue_figures(
    session: AsyncSession, *, now: dt.datetime, since: dt.datetime, scope: Scope
) -> Sequence[RowMapping]:
    """Per Statsforvalter office: appeals it received and decided in [since, now), the appeals
    waiting at it now, and their mean time since its receipt, in days."""
    at = literal(now, DateTime(timezone=True))
    start = literal(since, DateTime(timezone=True))
    waiting = Appeal.status.in_(_AT_STATSFORVALTER)
    received = (Appeal.statsforvalter_received_at >= start) & (
        Appeal.statsforvalter_received_at < at
    )
    decided = (Appeal.decided_at >= start) & (Appeal.decided_at < at)
    query = (
        select(
            Appeal.statsforvalter_office_id.label("office"),
            func.count().filter(received).label("arrivals"),
            func.count().filter(decided).label("decisions"),
            func.count().filter(waiting).label("queue"),
            func.avg(_days(at, Appeal.statsforvalter_received_at.expression))
            .filter(waiting)
            .label("mean_wait_days"),
        )
        .where(
            Appeal.statsforvalter_received_at.is_not(None),
            or_(received, decided, waiting),
            _scope_clause(scope),
        )
        .group_by(Appeal.statsforvalter_office_id)
        .order_by(Appeal.statsforvalter_office_id)
    )
    return (await session.execute(query)).mappings().all()
