"""What is waiting right now, for an operator's alerts: events not yet delivered and how old
the oldest is, webhook deliveries failing, subscriptions failing or disabled, packages awaiting
receipt and overdue, documentation requests overdue. Read at each scrape of `/metrics` in one
statement, on a connection of its own that is closed again at once (never one of the pool's:
a scrape must answer while every request's connection is taken)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import ScalarSelect, and_, func, select, tuple_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from klageapi.appeal.lifecycle import CLOSED
from klageapi.case_package.service import overdue_threshold
from klageapi.core.clock import Clock
from klageapi.core.logging import get_logger
from klageapi.models import (
    Appeal,
    CasePackage,
    DeliveryStatus,
    DocumentationRequest,
    DocumentationRequestStatus,
    Event,
    FanoutCursor,
    PackageStatus,
    WebhookDelivery,
    WebhookSubscription,
)

__all__ = ["Backlog", "families", "read", "scrape"]

_log = get_logger(__name__)


@dataclass(frozen=True)
class Backlog:
    events_awaiting_fan_out: int
    oldest_awaiting_fan_out_at: dt.datetime | None
    deliveries_pending: int
    oldest_pending_delivery_event_at: dt.datetime | None
    deliveries_failing: int
    subscriptions_healthy: int
    subscriptions_failing: int
    subscriptions_disabled: int
    packages_awaiting_receipt: int
    packages_overdue: int
    documentation_requests_open: int
    documentation_requests_overdue: int


def _count(*conditions: object) -> ScalarSelect[int]:
    return select(func.count()).where(*conditions).scalar_subquery()  # type: ignore[arg-type]


def _statement(*, overdue_before: dt.datetime, today: dt.date) -> object:
    # Past the fan-out cursor: not yet turned into deliveries (the dispatcher's queue).
    past_cursor = tuple_(Event.transaction_id, Event.id) > tuple_(
        select(FanoutCursor.transaction_id).where(FanoutCursor.id == 1).scalar_subquery(),
        select(FanoutCursor.event_id).where(FanoutCursor.id == 1).scalar_subquery(),
    )
    pending = WebhookDelivery.status == DeliveryStatus.pending
    appeal_open = Appeal.status.not_in(sorted(CLOSED))
    awaiting = and_(
        CasePackage.status == PackageStatus.awaiting_receipt,
        CasePackage.appeal_id == Appeal.id,
        appeal_open,
    )
    open_request = and_(
        DocumentationRequest.status == DocumentationRequestStatus.open,
        DocumentationRequest.appeal_id == Appeal.id,
        appeal_open,
    )
    return select(
        _count(past_cursor).label("events_awaiting_fan_out"),
        select(func.min(Event.recorded_at)).where(past_cursor).scalar_subquery(),
        _count(pending).label("deliveries_pending"),
        select(func.min(Event.recorded_at))
        .join(WebhookDelivery, WebhookDelivery.event_id == Event.id)
        .where(pending)
        .scalar_subquery(),
        _count(pending, WebhookDelivery.attempt_count > 0),
        _count(WebhookSubscription.enabled, WebhookSubscription.failing_since.is_(None)),
        _count(WebhookSubscription.enabled, WebhookSubscription.failing_since.is_not(None)),
        _count(WebhookSubscription.enabled.is_(False)),
        select(func.count()).select_from(CasePackage).join(Appeal, awaiting).scalar_subquery(),
        select(func.count())
        .select_from(CasePackage)
        .join(Appeal, awaiting)
        .where(CasePackage.frozen_at < overdue_before)
        .scalar_subquery(),
        select(func.count())
        .select_from(DocumentationRequest)
        .join(Appeal, open_request)
        .scalar_subquery(),
        select(func.count())
        .select_from(DocumentationRequest)
        .join(Appeal, open_request)
        .where(DocumentationRequest.due_on < today)
        .scalar_subquery(),
    )


async def read(engine: AsyncEngine, *, clock: Clock, working_days: int) -> Backlog:
    """The figures now, in one statement."""
    statement = _statement(
        overdue_before=overdue_threshold(clock, working_days), today=clock.today()
    )
    async with engine.connect() as connection:
        row = (await connection.execute(statement)).one()  # type: ignore[call-overload]
    return Backlog(*row)


def _age(now: dt.datetime, since: dt.datetime | None) -> float:
    return 0.0 if since is None else max((now - since).total_seconds(), 0.0)


def families(backlog: Backlog, *, now: dt.datetime) -> list[Metric]:
    """The figures as Prometheus gauges."""
    events = GaugeMetricFamily(
        "klageapi_events_undelivered",
        "Events not yet delivered: not yet turned into webhook deliveries (fan_out), or"
        " deliveries not yet accepted by their receiver (delivery)",
        labels=["stage"],
    )
    events.add_metric(["fan_out"], backlog.events_awaiting_fan_out)
    events.add_metric(["delivery"], backlog.deliveries_pending)
    oldest = GaugeMetricFamily(
        "klageapi_events_undelivered_oldest_age_seconds",
        "Age of the oldest event not yet delivered (since it was recorded), 0 when none waits",
        labels=["stage"],
    )
    oldest.add_metric(["fan_out"], _age(now, backlog.oldest_awaiting_fan_out_at))
    oldest.add_metric(["delivery"], _age(now, backlog.oldest_pending_delivery_event_at))
    subscriptions = GaugeMetricFamily(
        "klageapi_webhook_subscriptions",
        "Webhook subscriptions by state: healthy, failing (enabled, every attempt failing since"
        " failing_since) or disabled",
        labels=["state"],
    )
    subscriptions.add_metric(["healthy"], backlog.subscriptions_healthy)
    subscriptions.add_metric(["failing"], backlog.subscriptions_failing)
    subscriptions.add_metric(["disabled"], backlog.subscriptions_disabled)
    return [
        events,
        oldest,
        GaugeMetricFamily(
            "klageapi_webhook_deliveries_failing",
            "Deliveries not yet delivered whose last attempt failed (waiting for a retry)",
            value=backlog.deliveries_failing,
        ),
        subscriptions,
        GaugeMetricFamily(
            "klageapi_packages_awaiting_receipt",
            "Packages in a Statsforvalter office's feed awaiting its receipt",
            value=backlog.packages_awaiting_receipt,
        ),
        GaugeMetricFamily(
            "klageapi_packages_overdue",
            "Packages awaiting receipt longer than KLAGEAPI_PACKAGE_RECEIPT_OVERDUE_WORKING_DAYS",
            value=backlog.packages_overdue,
        ),
        GaugeMetricFamily(
            "klageapi_documentation_requests_open",
            "Documentation requests NAV has not answered",
            value=backlog.documentation_requests_open,
        ),
        GaugeMetricFamily(
            "klageapi_documentation_requests_overdue",
            "Documentation requests open past their due date",
            value=backlog.documentation_requests_overdue,
        ),
    ]


async def scrape(engine: AsyncEngine, *, clock: Clock, working_days: int) -> list[Metric]:
    """The gauges for one scrape, and `klageapi_database_figures_up` saying whether they
    could be read (a scrape answers without them when the database does not)."""
    try:
        backlog = await read(engine, clock=clock, working_days=working_days)
    except (SQLAlchemyError, OSError, TimeoutError) as error:
        _log.warning("backlog_figures_unavailable", error=type(error).__name__)
        return [_up(0)]
    return [_up(1), *families(backlog, now=clock.now())]


def _up(value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "klageapi_database_figures_up",
        "1 when this scrape read the backlog figures from the database, 0 when it could not",
        value=value,
    )
