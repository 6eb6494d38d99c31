"""The synthetic year: where appeals come from and what happens to each, drawn from a seed.

Nothing here talks to the service. Each appeal gets a plan of steps with the business time at
which each happened; the driver replays the plans over HTTP, and the ground truth is computed
from the same plans. Durations are drawn so that the national picture matches the public
figures: 60 to 70 days' wait on average from NAV's receipt to the decision, for 3 to 8 days of
work, with Statsforvalter offices that differ in how long cases wait for them.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from typing import Any

from stdnum.no import fodselsnummer, orgnr

from klageapi.core.clock import NORWAY

__all__ = [
    "COUNTIES",
    "Capacity",
    "NavOfficePlan",
    "PlannedAppeal",
    "Registry",
    "Step",
    "TailStep",
    "capacities",
    "place",
    "plan_year",
]

# County number: (name, population in thousands, 1 January 2024; Statistics Norway).
COUNTIES: dict[str, tuple[str, int]] = {
    "03": ("Oslo", 717),
    "31": ("Østfold", 311),
    "32": ("Akershus", 725),
    "33": ("Buskerud", 267),
    "34": ("Innlandet", 375),
    "39": ("Vestfold", 256),
    "40": ("Telemark", 176),
    "42": ("Agder", 320),
    "11": ("Rogaland", 499),
    "46": ("Vestland", 651),
    "15": ("Møre og Romsdal", 270),
    "50": ("Trøndelag", 480),
    "18": ("Nordland", 243),
    "55": ("Troms", 170),
    "56": ("Finnmark", 75),
}

_NAV_OUTCOMES = (
    ("upheld", 0.72),
    ("partial_reversal", 0.12),
    ("full_reversal", 0.13),
    ("dismissed", 0.03),
)
_DECISIONS = (("upheld", 0.70), ("new_decision", 0.12), ("annulled", 0.13), ("dismissed", 0.05))
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class NavOfficePlan:
    unit_number: str
    name: str
    organisation_number: str
    municipality_number: str
    county: str


@dataclass(frozen=True)
class Registry:
    """The offices the simulation puts into the registry (one NAV office per county) and the
    organisation number it gives each Statsforvalter office."""

    nav_offices: list[NavOfficePlan]
    statsforvalter_organisations: dict[str, str]


@dataclass
class Step:
    """One request of an appeal's plan. `at` is when it happened (business time)."""

    kind: str
    at: dt.datetime
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TailStep:
    """A step of the Statsforvalter's review, `offset` after the review started."""

    kind: str
    offset: dt.timedelta
    status: str | None
    values: dict[str, Any]


@dataclass
class PlannedAppeal:
    index: int
    office: NavOfficePlan
    statsforvalter_office_id: str
    channel: str
    national_id: str
    received_at: dt.datetime
    decision_decided_on: dt.date
    steps: list[Step] = field(default_factory=list)
    # (status, when) as the plan changes it: what the statistics should find.
    statuses: list[tuple[str, dt.datetime]] = field(default_factory=list)
    nav_outcome: str | None = None
    decision: str | None = None
    urgent: bool = False
    """Marked urgent by NAV when forwarded."""
    planned_wait: dt.timedelta = dt.timedelta(0)
    """How long it waits for the Statsforvalter's review when there is no simulated queue."""
    tail: list[TailStep] = field(default_factory=list)
    """The review's steps after its start, at their offsets from it."""
    planned_decision: str | None = None
    review_at: dt.datetime | None = None
    """When the Statsforvalter started its review (once placed)."""

    @property
    def receipt_at(self) -> dt.datetime | None:
        """The receipt that puts it in its Statsforvalter's queue."""
        return next((step.at for step in self.steps if step.kind == "receipt"), None)


def _organisation_number(serial: int) -> str:
    """A valid (mod 11) organisation number from the simulation's own 91xxxxxxx range."""
    while True:
        body = f"91{serial:06d}"
        for digit in "0123456789":
            if orgnr.is_valid(body + digit):
                return body + digit
        serial += 1000  # no check digit exists for this body: take another


def registry(statsforvalter_offices: dict[str, str]) -> Registry:
    """`statsforvalter_offices` maps county to the office it routes to (the routing table)."""
    nav = [
        NavOfficePlan(
            unit_number=f"{county}98",
            name=f"NAV {name} (simulert)",
            organisation_number=_organisation_number(100 + index),
            municipality_number=f"{county}98",
            county=county,
        )
        for index, (county, (name, _)) in enumerate(sorted(COUNTIES.items()))
    ]
    organisations = {
        office: _organisation_number(500 + index)
        for index, office in enumerate(sorted(set(statsforvalter_offices.values())))
    }
    return Registry(nav_offices=nav, statsforvalter_organisations=organisations)


def _national_ids(rng: random.Random, count: int) -> list[str]:
    found: set[str] = set()
    while len(found) < count:
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(18_000))
        individual = rng.randrange(500)
        base = f"{born:%d%m%y}{individual:03d}"
        first = fodselsnummer.calc_check_digit1(base)
        candidate = base + first + fodselsnummer.calc_check_digit2(base + first)
        if fodselsnummer.is_valid(candidate):  # some bases have no valid check digits
            found.add(candidate)
    return sorted(found)


def _choose(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([name for name, _ in weighted], [w for _, w in weighted])[0]


def _days(rng: random.Random, mean: float, spread: float = 0.5) -> dt.timedelta:
    """A right-skewed duration around `mean` days (lognormal), at least an hour."""
    sigma = spread
    mu = math.log(mean) - sigma**2 / 2
    return max(dt.timedelta(days=rng.lognormvariate(mu, sigma)), dt.timedelta(hours=1))


def plan_year(
    *,
    seed: int,
    appeals: int,
    now: dt.datetime,
    routing: dict[str, str],
    queued: bool = False,
) -> tuple[Registry, list[PlannedAppeal]]:
    """The registry and `appeals` plans, received over the year before `now` and cut at `now`
    (steps after it have not happened yet). Each Statsforvalter starts its review after the
    wait drawn for it; `queued`: when a simulated office takes it from its queue (the review
    and what follows are placed then, see `place`)."""
    rng = random.Random(seed)
    offices = registry(routing)
    # Offices differ in how long a case waits for a case officer: a factor per office.
    queue = {office: rng.uniform(0.6, 1.6) for office in sorted(set(routing.values()))}
    nav_pace = {office.unit_number: rng.uniform(0.7, 1.3) for office in offices.nav_offices}
    weights = [COUNTIES[o.county][1] for o in offices.nav_offices]
    ids = _national_ids(rng, appeals)
    others = sorted(set(routing.values()))
    # Urgency from a stream of its own: the rest of the year stays as the seed drew it before.
    urgency = random.Random(seed * 7919 + 29)
    plans = []
    for index in range(appeals):
        office = rng.choices(offices.nav_offices, weights)[0]
        received_at = (
            now - dt.timedelta(days=365) + dt.timedelta(seconds=rng.uniform(0, 335 * 86400))
        )
        received_at = received_at.replace(microsecond=0)
        notified = received_at.date() - dt.timedelta(days=rng.randint(3, 20))
        plan = PlannedAppeal(
            index=index,
            office=office,
            statsforvalter_office_id=routing[office.county],
            channel="digital" if rng.random() < 0.7 else "paper",
            national_id=ids[index],
            received_at=received_at,
            decision_decided_on=notified - dt.timedelta(days=rng.randint(1, 3)),
            urgent=urgency.random() < 0.08,
        )
        _plan_steps(plan, rng, queue=queue, nav_pace=nav_pace[office.unit_number], others=others)
        if queued or plan.receipt_at is None:
            _cut(plan, now)
        else:
            place(plan, plan.receipt_at + plan.planned_wait, now=now)
        plans.append(plan)
    return offices, plans


def _plan_steps(
    plan: PlannedAppeal,
    rng: random.Random,
    *,
    queue: dict[str, float],
    nav_pace: float,
    others: list[str],
) -> None:
    at = plan.received_at
    steps, statuses = plan.steps, plan.statuses

    def step(kind: str, after: dt.timedelta, status: str | None = None, **values: Any) -> None:
        nonlocal at
        at = at + after
        steps.append(Step(kind, at, values))
        if status is not None:
            statuses.append((status, at))

    step("register", dt.timedelta(0), "received")
    for category in ("appeal", "decision", "application"):
        step("upload", dt.timedelta(minutes=5), category=category)
    step("nav_review", _days(rng, 4 * nav_pace), "under_nav_review")
    withdraw_at = rng.random() < 0.03
    if withdraw_at and rng.random() < 0.5:
        step("withdraw", _days(rng, 5), "withdrawn")
        return
    outcome = _choose(rng, _NAV_OUTCOMES)
    plan.nav_outcome = outcome
    step("nav_outcome", _days(rng, 12 * nav_pace), outcome=outcome)
    if outcome in ("full_reversal", "dismissed"):
        statuses.append(("closed_by_nav", at))
        return
    step("upload", dt.timedelta(minutes=30), category="forwarding_letter")
    step("forward", dt.timedelta(hours=2), "forwarded")
    office = plan.statsforvalter_office_id
    rejection = rng.random()
    if rejection < 0.02:  # incomplete: back to NAV, which forwards a new package
        step("reject_incomplete", _days(rng, 3), "under_nav_review")
        step("upload", _days(rng, 4), category="supporting_document")
        step("forward", dt.timedelta(hours=1), "forwarded")
    elif rejection < 0.03:  # not ours: re-routed to another office
        other = rng.choice([o for o in others if o != office])
        step("reject_not_ours", _days(rng, 2), None, to=other, **{"from": office})
        plan.statsforvalter_office_id = office = other
    step("receipt", _days(rng, 2.5), "received_by_statsforvalter")
    # What follows waits for a case officer: drawn now (the same under every queue order),
    # placed when the review starts (`place`).
    plan.planned_wait = _days(rng, 36 * queue[office], 0.6)
    offset = dt.timedelta(0)
    tail = plan.tail

    def later(kind: str, after: dt.timedelta, status: str | None = None, **values: Any) -> None:
        nonlocal offset
        offset += after
        tail.append(TailStep(kind, offset, status, values))

    if withdraw_at:
        later("withdraw", _days(rng, 5), "withdrawn")
        return
    if rng.random() < 0.4:
        later("preliminary_reply", dt.timedelta(hours=3), None, expect_days=rng.randint(20, 60))
    work = dt.timedelta(days=rng.uniform(3, 8))
    if rng.random() < 0.15:
        first = work * rng.uniform(0.2, 0.6)
        later("request_documentation", first, "awaiting_documentation")
        later("upload", _days(rng, 8), category="documentation_response")
        later("fulfil", dt.timedelta(hours=1), "under_statsforvalter_review")
        later("receipt_supplementary", dt.timedelta(hours=4))
        work -= first
    plan.planned_decision = _choose(rng, _DECISIONS)
    later("upload_decision", work - dt.timedelta(hours=1), category="statsforvalter_decision")
    later("decide", dt.timedelta(hours=1), "decided", outcome=plan.planned_decision)


def place(plan: PlannedAppeal, start: dt.datetime, *, now: dt.datetime) -> None:
    """The Statsforvalter starts its review of `plan` at `start`: the review and the steps
    after it, at their offsets from it, cut at `now`."""
    plan.review_at = start
    plan.steps.append(Step("review", start, {}))
    plan.statuses.append(("under_statsforvalter_review", start))
    for later in plan.tail:
        plan.steps.append(Step(later.kind, start + later.offset, later.values))
        if later.status is not None:
            plan.statuses.append((later.status, start + later.offset))
    _cut(plan, now)


def _cut(plan: PlannedAppeal, now: dt.datetime) -> None:
    """What lies after `now` has not happened: neither has its outcome."""
    plan.steps = [step for step in plan.steps if step.at <= now]
    plan.statuses = [(status, at) for status, at in plan.statuses if at <= now]
    kinds = {step.kind for step in plan.steps}
    if "nav_outcome" not in kinds:
        plan.nav_outcome = None
    plan.decision = plan.planned_decision if "decide" in kinds else None


@dataclass(frozen=True)
class Capacity:
    """A simulated Statsforvalter office's pace with the year's appeals: from `opens_at` (until
    then its case officers finish last year's) it takes up a new case every `every`, the next
    one its queue order puts first, whenever one is waiting. The same pace under every order:
    a work-conserving single server with the same service times."""

    opens_at: dt.datetime
    every: dt.timedelta
    load: float
    """Arrivals over capacity (outside the summer): above 1 the queue grows."""

    def next_after(self, start: dt.datetime) -> dt.datetime:
        """When the office can take up its next case, having taken one up at `start`: half
        the pace in the summer holidays (July to mid-August)."""
        day = start.astimezone(NORWAY).date()
        summer = dt.date(day.year, 7, 1) <= day < dt.date(day.year, 8, 15)
        return start + self.every * (2 if summer else 1)


def capacities(plans: list[PlannedAppeal], *, seed: int) -> dict[str, Capacity]:
    """Each office's pace, drawn from the seed apart from the plans (so they stay the same):
    how long last year's backlog holds it, and a load around 1, so that queues form and a
    case waits for a case officer about as long as the offices' published figures say."""
    rng = random.Random(seed * 7919 + 17)
    arrivals: dict[str, list[dt.datetime]] = {}
    for plan in plans:
        if plan.receipt_at is not None:
            arrivals.setdefault(plan.statsforvalter_office_id, []).append(plan.receipt_at)
    found = {}
    for office in sorted(arrivals):
        times = sorted(arrivals[office])
        backlog = dt.timedelta(days=36 * rng.uniform(0.6, 1.6))
        load = rng.uniform(0.9, 1.12)
        span = max(times[-1] - times[0], _DAY)
        found[office] = Capacity(times[0] + backlog, span * load / len(times), load)
    return found
