"""The appeal deadline (klagefrist, fvl §§ 29-30): three weeks, moved off weekends and holidays."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays

__all__ = ["APPEAL_PERIOD", "appeal_deadline", "is_working_day"]

APPEAL_PERIOD = dt.timedelta(weeks=3)


@lru_cache(maxsize=64)
def _norwegian_holidays(year: int) -> frozenset[dt.date]:
    # include_sundays=False: the holidays package otherwise lists every Sunday as a holiday.
    return frozenset(holidays.country_holidays("NO", years=year, include_sundays=False))


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday, and not a Norwegian public holiday."""
    return day.weekday() < 5 and day not in _norwegian_holidays(day.year)


def appeal_deadline(notified_on: dt.date) -> dt.date:
    """The last day to appeal: three weeks after notification, or the next working day after."""
    deadline = notified_on + APPEAL_PERIOD
    while not is_working_day(deadline):
        deadline += dt.timedelta(days=1)
    return deadline
