"""What the report rests on: the statistics endpoint's answers for the period in each grouping
and for each of its months, the offices' names, and a simulation's comparison of queue orders
when one is given. The service fills it in process, the command line over HTTP: the same
answers either way, so the page is the same."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "GROUPINGS",
    "Comparison",
    "ComparisonUnreadable",
    "PolicyFigures",
    "ReportData",
    "WholeWaitDays",
    "default_period",
    "months",
    "read_comparison",
]

GROUPINGS = ("statsforvalter_office", "nav_office", "county")
DEFAULT_DAYS = 365
"""Without dates the report covers the year to today."""


class WholeWaitDays(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    p50: float
    p90: float
    p99: float
    max: float
    mean: float


class PolicyFigures(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    policy: str = Field(min_length=1, max_length=200)
    official_within_90_share: float = Field(ge=0, le=1)
    whole_wait_days: WholeWaitDays
    open_past_90_at_year_end: int = Field(ge=0)


class Comparison(BaseModel):
    """A simulated year played under each queue order (`klageapi simulate --policy`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    seed: int
    appeals: int = Field(ge=0)
    policies: list[PolicyFigures] = Field(min_length=1)


class ComparisonUnreadable(ValueError):
    """The comparison file is missing, not JSON or not in the simulation's format."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


def read_comparison(path: Path) -> Comparison:
    try:
        return Comparison.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise ComparisonUnreadable(path, error.strerror or "cannot be read") from error
    except json.JSONDecodeError as error:
        raise ComparisonUnreadable(path, f"not JSON ({error.msg})") from error
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ComparisonUnreadable(path, f"{where}: {first['msg']}") from error


@dataclass(frozen=True)
class ReportData:
    start: dt.date
    end: dt.date
    views: dict[str, dict[str, Any]]
    """The statistics endpoint's answer for the period, by grouping."""
    months: list[tuple[dt.date, dict[str, Any]]]
    """Each month of the period (its first day) with the `received` and `decided` figures of
    the answer's `total` for that month."""
    names: dict[str, dict[str, str]] = field(default_factory=dict)
    """Office names by grouping and key."""
    comparison: Comparison | None = None


def default_period(
    start: dt.date | None, end: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    end = end or today
    return start or end - dt.timedelta(days=DEFAULT_DAYS), end


def months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The calendar months the period touches, each cut to the period."""
    found = []
    first = start
    while first <= end:
        following = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        found.append((first, min(end, following - dt.timedelta(days=1))))
        first = following
    return found
