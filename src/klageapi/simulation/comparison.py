"""The same year under each queue order, side by side, and the queueing invariant that checks
the simulation itself.

Each office is a work-conserving single server: it takes up a case whenever it can and one
waits, at a pace that does not depend on which case it takes (`scenario.Capacity`). With the
same arrivals, the moments it takes up a case are then the same under every order, and so is
the number waiting at every moment: the time the appeals spend waiting for a case officer adds
up to the same total under every order (Little's law), which only moves waiting between people
(Kingman). The citizens' whole wait, counted from NAV's receipt to the decision or, for those
still open, to the year's end, differs only by the work cut off at the year's end of the cases
taken up in its last weeks: a stated tolerance covers that.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from klageapi.core.clock import NORWAY
from klageapi.simulation.runner import Outcome
from klageapi.simulation.scenario import PlannedAppeal

__all__ = [
    "COMPARISON_FILE",
    "WAIT_TOLERANCE_SECONDS",
    "WHOLE_WAIT_TOLERANCE",
    "PolicyFigures",
    "comparison_document",
    "figures_of",
    "invariant_problems",
    "write_comparison",
]

COMPARISON_FILE = "simulation-comparison.json"
"""The comparison's default file name in the data folder; `klageapi report --comparison FILE`
reads it."""
WAIT_TOLERANCE_SECONDS = 60.0
"""The mean wait for a case officer: the same under every order, to rounding."""
WHOLE_WAIT_TOLERANCE = 0.01
"""The mean whole wait to the decision or the year's end: the same within 1 %."""
_DAY = 86400.0
_ENDED = ("decided", "withdrawn")


@dataclass(frozen=True)
class PolicyFigures:
    policy: str
    official_within_90_share: float | None
    """Decided in the year within 90 days of the Statsforvalter's receipt (the official
    measure), as the statistics endpoint reports it."""
    whole_wait_days: dict[str, float | None]
    """The citizen's whole wait, NAV's receipt to the decision, of the appeals decided in the
    year: p50, p90, p99 and mean as the endpoint reports them, max from the plans."""
    open_past_90_at_year_end: int
    """Open at a Statsforvalter at the year's end, more than 90 days after its receipt."""
    decided: int
    mean_wait_for_officer_days: float
    """Every appeal that reached a Statsforvalter: its receipt to the review's start, or to
    the year's end if still waiting (the invariant, exact)."""
    mean_waited_to_year_end_days: float
    """Every appeal that reached a Statsforvalter: NAV's receipt to its decision or
    withdrawal, or to the year's end if open (the invariant, within the tolerance)."""


def _reached(plans: list[PlannedAppeal]) -> list[PlannedAppeal]:
    return [plan for plan in plans if plan.receipt_at is not None]


def figures_of(outcome: Outcome) -> PolicyFigures:
    total = outcome.reported["statsforvalter_office"]["total"]
    decided, whole, still = total["decided"], total["decided"]["whole_wait"], total["open"]
    end = outcome.now
    reached = _reached(outcome.plans)
    officer = [
        ((plan.review_at or end) - _at(plan.receipt_at)).total_seconds() / _DAY for plan in reached
    ]
    waited = [
        (
            (plan.statuses[-1][1] if plan.statuses[-1][0] in _ENDED else end) - plan.received_at
        ).total_seconds()
        / _DAY
        for plan in reached
    ]
    past = still["past_90_days_share"]
    return PolicyFigures(
        policy=outcome.policy.value if outcome.policy is not None else "planned",
        official_within_90_share=decided["within_90_days_share"],
        whole_wait_days={
            "p50": whole["median_days"],
            "p90": whole["p90_days"],
            "p99": whole["p99_days"],
            "max": _longest(outcome),
            "mean": whole["mean_days"],
        },
        open_past_90_at_year_end=round(past * still["at_statsforvalter"]) if past else 0,
        decided=decided["appeals"],
        mean_wait_for_officer_days=sum(officer) / len(officer) if officer else 0.0,
        mean_waited_to_year_end_days=sum(waited) / len(waited) if waited else 0.0,
    )


def _at(moment: dt.datetime | None) -> dt.datetime:
    assert moment is not None
    return moment


def _longest(outcome: Outcome) -> float | None:
    """The longest whole wait of an appeal decided in the statistics' period (the endpoint's
    definition: from the start of NAV's receipt day, Norwegian time)."""
    period = outcome.reported["statsforvalter_office"]["period"]
    start, end = dt.date.fromisoformat(period["from"]), dt.date.fromisoformat(period["to"])
    longest = None
    for plan in outcome.plans:
        status, at = plan.statuses[-1]
        if status != "decided" or not start <= at.astimezone(NORWAY).date() <= end:
            continue
        began = dt.datetime.combine(plan.received_at.date(), dt.time(), tzinfo=NORWAY)
        days = round((at - began).total_seconds() / _DAY, 2)
        longest = days if longest is None else max(longest, days)
    return longest


def invariant_problems(rows: list[PolicyFigures]) -> list[str]:
    """Where the queueing invariant fails between the orders (none when it holds)."""
    if len(rows) < 2:
        return []
    problems = []
    officer = [row.mean_wait_for_officer_days for row in rows]
    if (max(officer) - min(officer)) * _DAY > WAIT_TOLERANCE_SECONDS:
        problems.append(
            "the mean wait for a case officer differs between the orders: "
            + ", ".join(f"{row.policy} {row.mean_wait_for_officer_days:.4f}" for row in rows)
        )
    waited = [row.mean_waited_to_year_end_days for row in rows]
    if max(waited) - min(waited) > WHOLE_WAIT_TOLERANCE * min(waited):
        problems.append(
            "the mean whole wait differs between the orders by more than"
            f" {WHOLE_WAIT_TOLERANCE:.0%}: "
            + ", ".join(f"{row.policy} {row.mean_waited_to_year_end_days:.3f}" for row in rows)
        )
    return problems


def comparison_document(*, seed: int, appeals: int, rows: list[PolicyFigures]) -> dict[str, Any]:
    """The comparison as `klageapi report` reads it."""
    return {
        "seed": seed,
        "appeals": appeals,
        "policies": [
            {
                "policy": row.policy,
                "official_within_90_share": row.official_within_90_share,
                "whole_wait_days": row.whole_wait_days,
                "open_past_90_at_year_end": row.open_past_90_at_year_end,
            }
            for row in rows
        ],
    }


def write_comparison(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
