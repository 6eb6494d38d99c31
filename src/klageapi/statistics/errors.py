"""Refusals of the statistics endpoint.

ValidationFailed (422)
├── PeriodOutOfRange    a date outside the years the figures can cover (code validation_failed)
├── PeriodReversed      `to` before `from`
└── PeriodTooLong       a period of more than five years
"""

from __future__ import annotations

import datetime as dt

from klageapi.core.errors import FieldError, ValidationFailed

__all__ = ["PeriodOutOfRange", "PeriodReversed", "PeriodTooLong"]


class PeriodOutOfRange(ValidationFailed):
    def __init__(self, *, field: str, first: dt.date, last: dt.date) -> None:
        super().__init__(
            [
                FieldError(
                    field,
                    f"must be from {first.isoformat()} to {last.isoformat()}",
                    "out_of_range",
                )
            ]
        )


class PeriodReversed(ValidationFailed):
    code = "period_reversed"

    def __init__(self, *, start: dt.date, end: dt.date) -> None:
        super().__init__(
            [FieldError("to", f"must not be before from ({start.isoformat()})", "period_reversed")]
        )
        self.extra.update({"from": start.isoformat(), "to": end.isoformat()})


class PeriodTooLong(ValidationFailed):
    code = "period_too_long"

    def __init__(self, *, start: dt.date, years: int, latest: dt.date) -> None:
        super().__init__(
            [
                FieldError(
                    "to",
                    f"a period covers at most {years} years: from {start.isoformat()}"
                    f" to {latest.isoformat()} at the latest",
                    "period_too_long",
                )
            ]
        )
