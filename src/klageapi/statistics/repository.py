"""SQL for processing times: each appeal's milestones read from its history, then counts,
medians and 90th percentiles per group, all in PostgreSQL."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    and_,
    cast,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal.repository import Offices
from klageapi.models import (
    Appeal,
    AppealHistory,
    AppealStatus,
    Channel,
    NavOutcome,
    StatsforvalterOutcome,
)

__all__ = [
    "STAGES",
    "GroupBy",
    "Scope",
    "decided_figures",
    "received_figures",
]

S = AppealStatus
H = AppealHistory

STAGES = (
    "nav_preparation",
    "transfer",
    "waiting_at_statsforvalter",
    "statsforvalter_work",
    "waiting_for_documentation",
    "total",
)
_NORWAY = "Europe/Oslo"
_DAY_SECONDS = 86400.0


class GroupBy(enum.StrEnum):
    statsforvalter_office = "statsforvalter_office"
    nav_office = "nav_office"
    county = "county"


@dataclass(frozen=True)
class Scope:
    """Which appeals the figures cover: the caller's offices (None: every appeal, for an
    administrator) and an optional channel."""

    offices: Offices | None
    channel: Channel | None


def _group_key(group_by: GroupBy) -> ColumnElement[str]:
    if group_by is GroupBy.statsforvalter_office:
        return Appeal.statsforvalter_office_id.expression
    if group_by is GroupBy.nav_office:
        return Appeal.nav_office_unit_number.expression
    # Literal arguments: a bound parameter in SELECT and GROUP BY would not be the same
    # expression to PostgreSQL.
    return func.left(Appeal.municipality_number, literal_column("2"))


def _scope_clause(scope: Scope) -> ColumnElement[bool]:
    """The appeals of the NAV offices acted for, and the appeals forwarded to the
    Statsforvalter offices acted for; everything for an administrator."""
    clauses: list[ColumnElement[bool]] = []
    if scope.offices is None:
        clauses.append(true())
    else:
        if scope.offices.nav:
            clauses.append(Appeal.nav_office_unit_number.in_(sorted(scope.offices.nav)))
        if scope.offices.statsforvalter:
            clauses.append(
                Appeal.statsforvalter_office_id.in_(sorted(scope.offices.statsforvalter))
                & Appeal.forwarded_at.is_not(None)
            )
    visible = or_(*clauses) if clauses else false()
    if scope.channel is not None:
        return and_(visible, Appeal.channel == scope.channel)
    return visible


def _status_change(to: AppealStatus, *, from_: AppealStatus | None = None) -> ColumnElement[bool]:
    """History rows entering `to` (from `from_`, if given); not steps that kept the status."""
    entering = (H.to_status == to) & (H.from_status != to)
    return entering & (H.from_status == from_) if from_ is not None else entering


def _days(later: ColumnElement[Any], earlier: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(func.extract("epoch", later - earlier), Float) / _DAY_SECONDS


def _epoch(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(func.extract("epoch", column), Float)


def _grouping_sets(key: ColumnElement[str]) -> ColumnElement[Any]:
    # One row per group and one for all groups together (percentiles do not add up).
    return func.grouping_sets(tuple_(key), tuple_())


async def decided_figures(
    session: AsyncSession,
    *,
    start: dt.datetime,
    end: dt.datetime,
    group_by: GroupBy,
    scope: Scope,
) -> Sequence[RowMapping]:
    """Appeals the Statsforvalter decided in [start, end): per group (and once more with the
    key NULL for all of them), the count, the share decided within 90 days of the receipt,
    the outcomes, and count, median and 90th percentile of every stage, in days."""
    decided = (
        select(H.appeal_id, H.occurred_at.label("decided_at"))
        .where(_status_change(S.decided), H.occurred_at >= start, H.occurred_at < end)
        .cte("decided")
    )
    documentation_seconds = func.sum(_epoch(H.occurred_at.expression)).filter(
        _status_change(S.under_statsforvalter_review, from_=S.awaiting_documentation)
    ) - func.sum(_epoch(H.occurred_at.expression)).filter(_status_change(S.awaiting_documentation))
    milestones = (
        select(
            _group_key(group_by).label("key"),
            Appeal.statsforvalter_outcome.label("outcome"),
            decided.c.decided_at,
            func.min(H.occurred_at).filter(H.from_status.is_(None)).label("registered_at"),
            # NAV's preparation lasts until the last forwarding: a package sent back as
            # incomplete is prepared again. A re-route (not ours) is no new forwarding.
            func.max(H.occurred_at).filter(_status_change(S.forwarded)).label("forwarded_at"),
            func.min(H.occurred_at)
            .filter(_status_change(S.received_by_statsforvalter))
            .label("sf_received_at"),
            func.min(H.occurred_at)
            .filter(
                _status_change(S.under_statsforvalter_review, from_=S.received_by_statsforvalter)
            )
            .label("review_started_at"),
            documentation_seconds.label("documentation_seconds"),
        )
        .select_from(decided)
        .join(Appeal, Appeal.id == decided.c.appeal_id)
        .join(H, H.appeal_id == decided.c.appeal_id)
        .where(_scope_clause(scope))
        .group_by(Appeal.id, decided.c.decided_at)
        .cte("milestones")
    )
    m = milestones.c
    documentation_days = m.documentation_seconds / _DAY_SECONDS
    stages: dict[str, ColumnElement[Any]] = {
        "nav_preparation": _days(m.forwarded_at, m.registered_at),
        "transfer": _days(m.sf_received_at, m.forwarded_at),
        "waiting_at_statsforvalter": _days(m.review_started_at, m.sf_received_at),
        "statsforvalter_work": _days(m.decided_at, m.review_started_at)
        - func.coalesce(documentation_days, 0.0),
        "waiting_for_documentation": documentation_days,
        "total": _days(m.decided_at, m.registered_at),
    }
    columns: list[ColumnElement[Any]] = [
        func.grouping(m.key).label("is_total"),
        m.key,
        func.count().label("appeals"),
        func.count()
        .filter(
            cast(func.timezone(_NORWAY, m.decided_at), Date)
            - cast(func.timezone(_NORWAY, m.sf_received_at), Date)
            <= 90
        )
        .label("within_90_days"),
        func.count(m.sf_received_at).label("with_receipt"),
    ]
    for outcome in StatsforvalterOutcome:
        columns.append(func.count().filter(m.outcome == outcome).label(f"outcome_{outcome}"))
    for name, days in stages.items():
        columns += [
            func.count(days).label(f"{name}_count"),
            func.percentile_cont(0.5).within_group(days).label(f"{name}_median"),
            func.percentile_cont(0.9).within_group(days).label(f"{name}_p90"),
        ]
    query = select(*columns).group_by(_grouping_sets(m.key))
    return (await session.execute(query)).mappings().all()


async def received_figures(
    session: AsyncSession,
    *,
    start: dt.date,
    end: dt.date,
    group_by: GroupBy,
    scope: Scope,
) -> Sequence[RowMapping]:
    """Appeals received (received_on) from start to end inclusive: per group (and once more
    with the key NULL for all of them), the count, how many came digitally, and NAV's
    outcomes so far."""
    key = _group_key(group_by).label("key")
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
