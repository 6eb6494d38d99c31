"""Time spent in each state, from an appeal's history: the raw material of the statistics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from klageapi.appeal.deadline import is_working_day
from klageapi.core.clock import NORWAY
from klageapi.models import AppealHistory, AppealStatus

__all__ = ["FINAL_STATES", "StateDuration", "time_in_states", "working_days_between"]

FINAL_STATES = frozenset({AppealStatus.closed_by_nav, AppealStatus.decided, AppealStatus.withdrawn})


@dataclass(frozen=True)
class StateDuration:
    status: AppealStatus
    entered_at: dt.datetime
    left_at: dt.datetime | None
    calendar_days: float
    working_days: int


def working_days_between(start: dt.datetime, end: dt.datetime) -> int:
    """Norwegian working days after `start`'s date, up to and including `end`'s date."""
    first = start.astimezone(NORWAY).date() + dt.timedelta(days=1)
    last = end.astimezone(NORWAY).date()
    days = (last - first).days + 1
    return sum(is_working_day(first + dt.timedelta(days=n)) for n in range(max(days, 0)))


def time_in_states(entries: Sequence[AppealHistory], *, now: dt.datetime) -> list[StateDuration]:
    """One span per status the appeal has been in, in order, the last one open until `now`.

    Steps that changed no status (a preliminary reply, NAV's outcome) do not end a span. The
    clock stops in a final state (closed by NAV, decided, withdrawn): its span is empty.
    """
    changes = [e for e in entries if e.from_status is None or e.from_status != e.to_status]
    spans = []
    for index, entry in enumerate(changes):
        following = changes[index + 1] if index + 1 < len(changes) else None
        left_at = following.occurred_at if following else None
        if left_at is not None:
            until = left_at
        elif entry.to_status in FINAL_STATES:
            until = entry.occurred_at
        else:
            until = max(now, entry.occurred_at)
        spans.append(
            StateDuration(
                status=entry.to_status,
                entered_at=entry.occurred_at,
                left_at=left_at,
                calendar_days=round((until - entry.occurred_at).total_seconds() / 86400, 2),
                working_days=working_days_between(entry.occurred_at, until),
            )
        )
    return spans
