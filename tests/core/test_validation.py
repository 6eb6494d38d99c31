"""The one check of dates against today: which field, which code, and that today is Oslo's; and
the date-times every body and query accepts."""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.api.app import openapi_document
from klageapi.core.clock import FixedClock
from klageapi.core.errors import ValidationFailed
from klageapi.core.validation import DATE_IN_FUTURE, DATE_IN_PAST, check_dates_against_today
from klageapi.models import Base
from tests.factories import appeal_body

AuthHeaders = Callable[..., dict[str, str]]

# 09:30 UTC on Monday 2 November 2026: the same date in Oslo.
CLOCK = FixedClock(dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC))
TODAY = dt.date(2026, 11, 2)
DAY = dt.timedelta(days=1)


def _refusal(**dates: dict[str, dt.date]) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        check_dates_against_today(CLOCK, **dates)
    assert caught.value.code == "validation_failed"
    return [(e["field"], e["type"], e["message"]) for e in caught.value.extra["errors"]]


def test_today_is_neither_in_the_future_nor_in_the_past() -> None:
    check_dates_against_today(CLOCK, not_future={"decided_on": TODAY}, not_past={"due_on": TODAY})


def test_a_date_after_today_is_refused_as_date_in_future() -> None:
    assert _refusal(not_future={"decided_on": TODAY + DAY}) == [
        ("decided_on", DATE_IN_FUTURE, "2026-11-03 is in the future (today is 2026-11-02)")
    ]


def test_a_date_before_today_is_refused_as_date_in_past() -> None:
    assert _refusal(not_past={"due_on": TODAY - DAY}) == [
        ("due_on", DATE_IN_PAST, "2026-11-01 is before the day of the step (2026-11-02)")
    ]


def test_a_step_reported_late_is_judged_on_its_own_day() -> None:
    step = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)

    check_dates_against_today(CLOCK, not_past={"due_on": dt.date(2026, 6, 15)}, as_of=step)
    with pytest.raises(ValidationFailed):
        check_dates_against_today(CLOCK, not_past={"due_on": dt.date(2026, 5, 31)}, as_of=step)


def test_every_offending_field_is_named_in_one_refusal() -> None:
    refused = _refusal(
        not_future={
            "decision.decided_on": TODAY + DAY,
            "decision.notified_on": TODAY,
            "received_on": TODAY + 2 * DAY,
        },
        not_past={"expected_decision_on": TODAY - DAY},
    )

    assert [(field, code) for field, code, _ in refused] == [
        ("decision.decided_on", DATE_IN_FUTURE),
        ("received_on", DATE_IN_FUTURE),
        ("expected_decision_on", DATE_IN_PAST),
    ]


def test_today_is_the_norwegian_date() -> None:
    # 23:30 UTC on 2 November is already 3 November in Oslo.
    late_evening = FixedClock(dt.datetime(2026, 11, 2, 23, 30, tzinfo=dt.UTC))

    check_dates_against_today(late_evening, not_future={"received_on": TODAY + DAY})
    with pytest.raises(ValidationFailed):
        check_dates_against_today(late_evening, not_past={"due_on": TODAY})


# --- Date-times at the ends of the calendar -----------------------------------------------------

_FIRST_SAFE = dt.datetime(1, 1, 2)  # naive UTC: a day from either end, every zone can show it
_LAST_SAFE = dt.datetime(9999, 12, 30, 23, 59, 59, 999999)


def _outside_the_calendar(value: dt.datetime) -> bool:
    try:
        utc = value.replace(tzinfo=None) - value.utcoffset()  # type: ignore[operator]
    except OverflowError:
        return True
    return not _FIRST_SAFE <= utc <= _LAST_SAFE


_OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
EXTREME_DATE_TIMES = st.builds(
    lambda naive, zone: naive.replace(tzinfo=zone),
    st.one_of(
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(1, 1, 2, 23, 59)),
        st.datetimes(min_value=dt.datetime(9999, 12, 30), max_value=dt.datetime.max),
    ),
    _OFFSETS,
).filter(_outside_the_calendar)
"""Valid RFC 3339 date-times whose UTC time is not at least a day inside years 1 to 9999:
year 1 at +14:00, year 9999 at -14:00, and their neighbours."""


def _is_date_time(schema: dict[str, Any]) -> bool:
    return schema.get("format") == "date-time" or any(
        _is_date_time(option) for option in schema.get("anyOf", [])
    )


def _date_time_inputs(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(method, path, "query" or "body", name) of every date-time the API accepts."""
    schemas = document["components"]["schemas"]
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and _is_date_time(parameter["schema"]):
                    found.append((method, path, "query", parameter["name"]))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                schema = schemas[body["schema"]["$ref"].rsplit("/", 1)[-1]]
                for name, field in schema.get("properties", {}).items():
                    if _is_date_time(field):
                        found.append((method, path, "body", name))
    return found


@functools.cache
def _inputs() -> list[tuple[str, str, str, str]]:
    return _date_time_inputs(openapi_document())


def test_the_api_accepts_date_times_in_bodies_and_queries() -> None:
    inputs = _inputs()

    # The property below covers what the contract declares; this keeps it from covering nothing.
    assert {where for _, _, where, _ in inputs} == {"query", "body"}
    assert len(inputs) >= 15


@hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(data=st.data())
async def test_a_date_time_outside_the_calendar_is_refused_naming_its_field(
    client: httpx.AsyncClient, session: AsyncSession, auth: AuthHeaders, data: st.DataObject
) -> None:
    method, path, where, name = data.draw(st.sampled_from(_inputs()), label="input")
    value = data.draw(EXTREME_DATE_TIMES, label="value").isoformat()
    url = re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), path)
    everything = "klageapi:read klageapi:write klageapi:admin"
    before = await _row_counts(session)

    response = await client.request(
        method,
        url,
        params={name: value} if where == "query" else None,
        json={name: value} if where == "body" else None,
        headers=auth(scope=everything),
    )

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert name in {error["field"] for error in response.json()["errors"]}
    assert await _row_counts(session) == before


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_an_appeal_registered_as_of_the_calendars_end_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, auth: AuthHeaders, value: str
) -> None:
    before = await _row_counts(session)

    response = await client.post("/v1/appeals", json=appeal_body(occurred_at=value), headers=auth())

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["occurred_at"]
    assert await _row_counts(session) == before


async def _row_counts(session: AsyncSession) -> dict[str, int]:
    return {
        table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
        for table in Base.metadata.sorted_tables
    }
