"""The ground truth: the processing-time figures the statistics endpoint should report for the
simulated year, computed from the plans with the endpoint's definitions, and the comparison."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from klageapi.core.clock import NORWAY
from klageapi.simulation.scenario import PlannedAppeal

__all__ = ["GROUPINGS", "Difference", "compare", "figures"]

GROUPINGS = ("statsforvalter_office", "nav_office", "county")
STAGES = (
    "nav_preparation",
    "transfer",
    "waiting_at_statsforvalter",
    "statsforvalter_work",
    "waiting_for_documentation",
    "total",
)
_NAV_OUTCOMES = ("full_reversal", "partial_reversal", "upheld", "dismissed")
_OPEN = (
    "received",
    "under_nav_review",
    "forwarded",
    "received_by_statsforvalter",
    "under_statsforvalter_review",
    "awaiting_documentation",
)
_AT_STATSFORVALTER = _OPEN[3:]
_SHARED_STAGES = (
    "transfer",
    "waiting_at_statsforvalter",
    "statsforvalter_work",
    "waiting_for_documentation",
)
_DECISIONS = ("upheld", "new_decision", "annulled", "dismissed")
# The endpoint rounds days to two decimals and shares to four.
_TOLERANCE = 0.0051
_DAY = 86400.0


def _day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(NORWAY).date()


def _key(plan: PlannedAppeal, group_by: str) -> str:
    if group_by == "statsforvalter_office":
        return plan.statsforvalter_office_id
    if group_by == "nav_office":
        return plan.office.unit_number
    return plan.office.county


def _first(statuses: list[tuple[str, dt.datetime]], status: str, after: int) -> int | None:
    return next((i for i in range(after, len(statuses)) if statuses[i][0] == status), None)


def _stages(plan: PlannedAppeal) -> dict[str, float | None]:
    """Each stage's days for a decided appeal (None for a stage it did not have)."""
    statuses = plan.statuses
    times = dict.fromkeys(STAGES)
    forwarded = max(i for i, (s, _) in enumerate(statuses) if s == "forwarded")
    received = _first(statuses, "received_by_statsforvalter", forwarded)
    assert received is not None
    review = _first(statuses, "under_statsforvalter_review", received)
    assert review is not None
    decided_at = statuses[-1][1]
    waiting = 0.0
    waited = False
    for index, (status, at) in enumerate(statuses):
        if status == "awaiting_documentation":
            waited = True
            waiting += (statuses[index + 1][1] - at).total_seconds() / _DAY
    times["nav_preparation"] = (statuses[forwarded][1] - plan.received_at).total_seconds() / _DAY
    times["transfer"] = (statuses[received][1] - statuses[forwarded][1]).total_seconds() / _DAY
    times["waiting_at_statsforvalter"] = (
        statuses[review][1] - statuses[received][1]
    ).total_seconds() / _DAY
    times["statsforvalter_work"] = (
        decided_at - statuses[review][1]
    ).total_seconds() / _DAY - waiting
    times["waiting_for_documentation"] = waiting if waited else None
    times["total"] = (decided_at - plan.received_at).total_seconds() / _DAY
    return times


def _percentile(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _received_midnight(plan: PlannedAppeal) -> dt.datetime:
    """NAV's receipt as the statistics count it: the start of `received_on`, a Norwegian day."""
    return dt.datetime.combine(plan.received_at.date(), dt.time(), tzinfo=NORWAY)


def _first_receipt(plan: PlannedAppeal) -> dt.datetime | None:
    return next((at for s, at in plan.statuses if s == "received_by_statsforvalter"), None)


def _waits(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "median_days": _percentile(values, 0.5),
        "p90_days": _percentile(values, 0.9),
        "p99_days": _percentile(values, 0.99),
        "mean_days": sum(values) / len(values) if values else None,
    }


def _shares(stage_values: dict[str, list[float]], whole: list[float]) -> dict[str, Any] | None:
    """Each stage's summed days over the summed whole waits; NAV's part is the rest."""
    if not sum(whole):
        return None
    shares = {stage: sum(stage_values[stage]) / sum(whole) for stage in _SHARED_STAGES}
    return {"nav": 1 - sum(shares.values()), **shares}


def _open(plans: list[PlannedAppeal], as_of: dt.datetime) -> dict[str, Any]:
    """The appeals still open at the end of the year, as counted at `as_of`."""
    still = [p for p in plans if p.statuses[-1][0] in _OPEN]
    ages = [(as_of - _received_midnight(p)).total_seconds() / _DAY for p in still]
    waiting = [p for p in still if p.statuses[-1][0] in _AT_STATSFORVALTER]
    past = 0
    for plan in waiting:
        receipt = _first_receipt(plan)
        assert receipt is not None
        past += (_day(as_of) - _day(receipt)).days > 90
    return {
        "appeals": len(still),
        "by_status": {s: sum(p.statuses[-1][0] == s for p in still) for s in _OPEN},
        "age": {
            "count": len(still),
            "median_days": _percentile(ages, 0.5),
            "p90_days": _percentile(ages, 0.9),
            "oldest_days": max(ages, default=None),
        },
        "at_statsforvalter": len(waiting),
        "past_90_days_share": past / len(waiting) if waiting else None,
    }


def _group(
    plans: list[PlannedAppeal], start: dt.date, end: dt.date, as_of: dt.datetime
) -> dict[str, Any]:
    received = [p for p in plans if start <= p.received_at.date() <= end]
    decided = [
        p
        for p in plans
        if p.statuses[-1][0] == "decided" and start <= _day(p.statuses[-1][1]) <= end
    ]
    nav_outcomes = dict.fromkeys((*_NAV_OUTCOMES, "pending"), 0)
    for plan in received:
        nav_outcomes[plan.nav_outcome or "pending"] += 1
    stage_values: dict[str, list[float]] = {stage: [] for stage in STAGES}
    whole: list[float] = []
    official: list[float] = []
    within = 0
    for plan in decided:
        decided_at = plan.statuses[-1][1]
        whole.append((decided_at - _received_midnight(plan)).total_seconds() / _DAY)
        first = _first_receipt(plan)
        if first is not None:
            official.append((decided_at - first).total_seconds() / _DAY)
        for stage, days in _stages(plan).items():
            if days is not None:
                stage_values[stage].append(days)
        receipt = next(at for s, at in reversed(plan.statuses) if s == "received_by_statsforvalter")
        within += (_day(plan.statuses[-1][1]) - _day(receipt)).days <= 90
    outcomes = dict.fromkeys(_DECISIONS, 0)
    for plan in decided:
        assert plan.decision is not None
        outcomes[plan.decision] += 1
    return {
        "received": {
            "appeals": len(received),
            "digital_share": (
                sum(p.channel == "digital" for p in received) / len(received) if received else None
            ),
            "nav_outcomes": nav_outcomes,
        },
        "decided": {
            "appeals": len(decided),
            "within_90_days_share": within / len(decided) if decided else None,
            "outcomes": outcomes,
            "stages": {
                stage: {
                    "count": len(values),
                    "median_days": _percentile(values, 0.5),
                    "p90_days": _percentile(values, 0.9),
                }
                for stage, values in stage_values.items()
            },
            "whole_wait": _waits(whole),
            "official_measure": _waits(official),
            "stage_shares": _shares(stage_values, whole),
        },
        "open": _open(plans, as_of),
    }


def figures(
    plans: list[PlannedAppeal],
    *,
    group_by: str,
    start: dt.date,
    end: dt.date,
    as_of: dt.datetime,
) -> dict[str | None, dict[str, Any]]:
    """Per group key (and None for all together), the figures as the endpoint reports them;
    the open appeals as counted at `as_of`."""
    groups: dict[str, list[PlannedAppeal]] = {}
    for plan in plans:
        groups.setdefault(_key(plan, group_by), []).append(plan)
    found: dict[str | None, dict[str, Any]] = {
        key: _group(members, start, end, as_of) for key, members in groups.items()
    }
    found[None] = _group(plans, start, end, as_of)
    return found


@dataclass(frozen=True)
class Difference:
    group_by: str
    key: str | None
    figure: str
    expected: object
    reported: object


def _flatten(node: Any, path: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _flatten(value, f"{path}.{name}" if path else name)
    else:
        yield path, node


def _same(expected: object, reported: object) -> bool:
    if isinstance(expected, float) or isinstance(reported, float):
        if expected is None or reported is None:
            return expected is reported
        return abs(float(expected) - float(reported)) <= _TOLERANCE  # type: ignore[arg-type]
    return expected == reported


def compare(
    expected: dict[str | None, dict[str, Any]],
    reported: dict[str, Any],
    *,
    group_by: str,
    keep: Callable[[str | None], bool] = lambda _: True,
) -> list[Difference]:
    """Every figure of every group that differs between the truth and the endpoint's answer."""
    answered = {group["key"]: group for group in reported["groups"]}
    answered[None] = reported["total"]
    differences = []
    for key in sorted(set(expected) | set(answered), key=lambda k: (k is not None, k or "")):
        if not keep(key):
            continue
        truth = dict(_flatten({k: v for k, v in expected.get(key, {}).items()}))
        report = dict(_flatten({k: v for k, v in answered.get(key, {}).items() if k != "key"}))
        for figure in sorted(set(truth) | set(report)):
            if not _same(truth.get(figure), report.get(figure)):
                differences.append(
                    Difference(group_by, key, figure, truth.get(figure), report.get(figure))
                )
    return differences
