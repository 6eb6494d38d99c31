"""The worker's overdue announcements: one event per overdue package or documentation request,
never a second one."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.case_package.overdue import announce_overdue
from klageapi.core.clock import FixedClock
from tests import journey
from tests.conftest import NOW
from tests.journey import AuthHeaders


async def test_a_package_left_awaiting_receipt_is_announced_once(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await journey.forwarded(client, auth)
    soon = FixedClock(NOW + dt.timedelta(days=1))
    later = FixedClock(NOW + dt.timedelta(days=7))

    assert await announce_overdue(session, clock=soon, working_days=2) == 0
    assert await announce_overdue(session, clock=later, working_days=2) == 1
    assert await announce_overdue(session, clock=later, working_days=2) == 0

    events = [e for e in await journey.events_of(session, appeal["id"]) if "overdue" in e.type]
    assert [(e.type, e.data["package_id"], e.statsforvalter_visible) for e in events] == [
        ("package.overdue", package["id"], True)
    ]


async def test_a_received_package_is_not_overdue(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    _, _, package = await journey.forwarded(client, auth)
    await journey.acknowledge(client, auth, package["id"])

    count = await announce_overdue(
        session, clock=FixedClock(NOW + dt.timedelta(days=30)), working_days=2
    )

    assert count == 0


async def test_a_documentation_request_past_its_due_date_is_announced_once(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, _ = await journey.under_statsforvalter_review(client, auth)
    request = await journey.request_documentation(client, auth, appeal["id"], due_on="2026-11-16")
    on_due_date = FixedClock(dt.datetime(2026, 11, 16, 12, tzinfo=dt.UTC))
    day_after = FixedClock(dt.datetime(2026, 11, 17, 12, tzinfo=dt.UTC))

    assert await announce_overdue(session, clock=on_due_date, working_days=60) == 0
    assert await announce_overdue(session, clock=day_after, working_days=60) == 1
    assert await announce_overdue(session, clock=day_after, working_days=60) == 0

    events = [e for e in await journey.events_of(session, appeal["id"]) if "overdue" in e.type]
    assert [(e.type, e.data["documentation_request_id"]) for e in events] == [
        ("documentation.overdue", request["id"])
    ]


async def test_nothing_is_announced_for_a_withdrawn_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, _ = await journey.forwarded(client, auth)
    withdrawn = await client.post(f"/v1/appeals/{appeal['id']}/withdrawal", headers=auth())
    assert withdrawn.status_code == 200, withdrawn.text

    count = await announce_overdue(
        session, clock=FixedClock(NOW + dt.timedelta(days=30)), working_days=2
    )

    assert count == 0
