"""Validators for Norwegian identifiers, shared by every schema that carries them, and the one
check of dates against today."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field
from stdnum.no import fodselsnummer, orgnr

from klageapi.core.clock import NORWAY, Clock
from klageapi.core.errors import FieldError, ValidationFailed

__all__ = [
    "DATE_IN_FUTURE",
    "DATE_IN_PAST",
    "DateTime",
    "MunicipalityNumber",
    "NationalId",
    "OrganisationNumber",
    "Text",
    "UnitNumber",
    "check_dates_against_today",
    "validate_national_id",
]

DATE_IN_FUTURE = "date_in_future"
DATE_IN_PAST = "date_in_past"


def check_dates_against_today(
    clock: Clock,
    *,
    not_future: Mapping[str, dt.date] | None = None,
    not_past: Mapping[str, dt.date] | None = None,
    as_of: dt.datetime | None = None,
) -> None:
    """Refuse with one ValidationFailed naming every field (by its path in the body) whose date
    lies after today (`not_future`) or before the step's day (`not_past`). Today is the
    Norwegian date, and itself accepted; the step's day is `as_of`'s (a step reported late,
    dated by its `occurred_at`), else today."""
    today = clock.today()
    step_day = today if as_of is None else as_of.astimezone(NORWAY).date()
    errors = [
        FieldError(field, f"{day} is in the future (today is {today})", DATE_IN_FUTURE)
        for field, day in (not_future or {}).items()
        if day > today
    ]
    errors += [
        FieldError(field, f"{day} is before the day of the step ({step_day})", DATE_IN_PAST)
        for field, day in (not_past or {}).items()
        if day < step_day
    ]
    if errors:
        raise ValidationFailed(errors)


def validate_national_id(value: str) -> str:
    """The national id, or ValueError naming what is wrong with it."""
    # python-stdnum checks both check digits and the birth date; d-numbers (day + 40) included.
    try:
        return str(fodselsnummer.validate(value))
    except Exception as error:  # stdnum raises several ValidationError subclasses
        raise ValueError("not a valid fødselsnummer or d-nummer (check digits)") from error


def _organisation_number(value: str) -> str:
    try:
        return str(orgnr.validate(value))
    except Exception as error:
        raise ValueError("not a valid organisation number (check digit)") from error


NationalId = Annotated[
    str,
    Field(min_length=11, max_length=11, pattern=r"^[0-9]{11}$", examples=["15076500565"]),
    AfterValidator(validate_national_id),
]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused as invalid input, not left to fail as a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""Free text from a client: any Unicode except NUL."""

OrganisationNumber = Annotated[
    str,
    Field(min_length=9, max_length=9, pattern=r"^[0-9]{9}$", examples=["977777771"]),
    AfterValidator(_organisation_number),
]
MunicipalityNumber = Annotated[str, Field(pattern=r"^[0-9]{4}$", examples=["1103"])]
UnitNumber = Annotated[str, Field(pattern=r"^[0-9]{4}$", examples=["1103"])]

# A day inside either end of Python's calendar: a time in this range can be shown in any time
# zone (Oslo's, the database's UTC) and moved by a day without leaving the calendar.
_FIRST_DATE_TIME = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
_LAST_DATE_TIME = dt.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=dt.UTC)


def _within_the_calendar(value: dt.datetime) -> dt.datetime:
    # RFC 3339 allows 0001-01-01T00:00:00+14:00, which is in year 0 in UTC: converting it (for
    # the database, for Oslo's date) raised OverflowError, a 500. Comparing does not convert.
    if not _FIRST_DATE_TIME <= value <= _LAST_DATE_TIME:
        raise ValueError("must lie between 0001-01-02 and 9999-12-30 in UTC")
    return value


DateTime = Annotated[AwareDatetime, AfterValidator(_within_the_calendar)]
"""A date-time from a client: with its UTC offset, and far enough inside the calendar to be
converted to any time zone. Every body and query parameter that takes a date-time uses it."""
