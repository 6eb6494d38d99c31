"""The one clock: every 'now' and 'today' in klageapi comes from here, so tests can fix it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request

__all__ = ["NORWAY", "Clock", "ClockDep", "FixedClock", "SystemClock"]

NORWAY = ZoneInfo("Europe/Oslo")


class Clock:
    """Tells the time; dates are Norwegian calendar dates. `backdating_limit`, when set, is how
    far back a case system may date a step it reports late (production: 30 days)."""

    backdating_limit: dt.timedelta | None = None

    def now(self) -> dt.datetime:
        raise NotImplementedError

    def today(self) -> dt.date:
        return self.now().astimezone(NORWAY).date()


class SystemClock(Clock):
    def __init__(self, *, backdating_limit: dt.timedelta | None = None) -> None:
        self.backdating_limit = backdating_limit

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock(Clock):
    """A clock that stands still until moved; for tests."""

    def __init__(self, at: dt.datetime, *, backdating_limit: dt.timedelta | None = None) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware time")
        self._at = at
        self.backdating_limit = backdating_limit

    def now(self) -> dt.datetime:
        return self._at

    def advance(self, delta: dt.timedelta) -> None:
        self._at += delta


# async: FastAPI runs a plain function dependency in a worker thread, a hand-off per request.
async def _get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(_get_clock)]
