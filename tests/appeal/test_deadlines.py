"""The appeal deadline for a notification date, over HTTP: for NAV's decision letters."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import AuditEntry
from tests.journey import AuthHeaders


@pytest.mark.parametrize(
    ("notified_on", "three_weeks_on", "deadline"),
    [
        ("2026-10-02", "2026-10-23", "2026-10-23"),  # a Friday stays
        ("2026-11-07", "2026-11-28", "2026-11-30"),  # a Saturday moves to Monday
        # Maundy Thursday, then Good Friday, the weekend and Easter Monday: to Tuesday.
        ("2027-03-04", "2027-03-25", "2027-03-30"),
    ],
)
async def test_the_deadline_moves_past_weekends_and_holidays(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    notified_on: str,
    three_weeks_on: str,
    deadline: str,
) -> None:
    response = await client.get(
        "/v1/appeal-deadlines", params={"notified_on": notified_on}, headers=auth()
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "notified_on": notified_on,
        "three_weeks_on": three_weeks_on,
        "appeal_deadline_on": deadline,
    }


@pytest.mark.parametrize("notified_on", ["1999-12-31", "2027-11-04", "not-a-date"])
async def test_a_date_outside_the_range_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, notified_on: str
) -> None:
    before = await session.scalar(select(func.count()).select_from(AuditEntry))

    response = await client.get(
        "/v1/appeal-deadlines", params={"notified_on": notified_on}, headers=auth()
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["notified_on"]
    assert await session.scalar(select(func.count()).select_from(AuditEntry)) == before
