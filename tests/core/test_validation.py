"""The one check of dates against today: which field, which code, and that today is Oslo's."""

from __future__ import annotations

import datetime as dt

import pytest

from klageapi.core.clock import FixedClock
from klageapi.core.errors import ValidationFailed
from klageapi.core.validation import DATE_IN_FUTURE, DATE_IN_PAST, check_dates_against_today

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
