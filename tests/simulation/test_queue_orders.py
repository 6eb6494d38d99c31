"""A small year played under each queue order through the real API, each on a database of its
own: the statistics match the ground truth under every order, each simulated office took up
its cases in the order it asked the list of appeals for, the queueing invariant holds, and
the comparison is written as the report reads it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from klageapi.api.app import create_app
from klageapi.core.clock import FixedClock
from klageapi.core.config import Settings
from klageapi.core.dev_issuer import DevIssuer
from klageapi.core.queue_order import AppealOrder
from klageapi.simulation.comparison import (
    comparison_document,
    figures_of,
    invariant_problems,
    write_comparison,
)
from klageapi.simulation.runner import ADMIN_ORGANISATION, Outcome, play_with
from klageapi.simulation.scenario import COUNTIES, PlannedAppeal
from tests.conftest import NOW, DatabaseTemplate

# A small year (60 appeals took 33 s of a run): under seed 4, queues of up to 79 days form, one
# case is urgent and 23 are decided under each order.
APPEALS = 36
SEED = 4
# Two offices for the whole country: queues of some length from a small year.
OFFICES = ("sf-rogaland", "sf-vestland")
POLICIES = (AppealOrder.forwarded, AppealOrder.citizen_wait, AppealOrder.urgent_then_citizen_wait)


async def _year(
    policy: AppealOrder,
    database_template: DatabaseTemplate,
    settings: Settings,
    http_client: httpx.AsyncClient,
) -> Outcome:
    async with database_template.copy(settings, prefix="queue") as engine:
        app = create_app(settings, engine=engine, clock=FixedClock(NOW), http_client=http_client)
        transport = httpx.ASGITransport(app=app)
        issuer = DevIssuer(settings.data_dir)
        admin = {
            "Authorization": "Bearer "
            + issuer.organisation_token(ADMIN_ORGANISATION, "klageapi:admin")
        }
        async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as c:
            for n, county in enumerate(sorted(COUNTIES)):
                routed = await c.put(
                    f"/v1/offices/routing/{county}",
                    json={"statsforvalter_office_id": OFFICES[n % 2]},
                    headers=admin,
                )
                assert routed.status_code in (200, 201), routed.text
            return await play_with(
                c,
                issuer,
                appeals=APPEALS,
                seed=SEED,
                concurrency=6,
                now=NOW,
                policy=policy,
            )


def _first_in_order(plans: list[PlannedAppeal], policy: AppealOrder) -> list[str]:
    """Each case taken up that was not first in `policy` among those waiting then."""

    def key(plan: PlannedAppeal) -> tuple[object, ...]:
        receipt = plan.receipt_at
        if policy is AppealOrder.forwarded:
            return (receipt,)
        if policy is AppealOrder.citizen_wait:
            return (plan.received_at.date(), receipt)
        return (not plan.urgent, plan.received_at.date(), receipt)

    wrong = []
    for plan in plans:
        if plan.review_at is None:
            continue
        waiting = [
            other
            for other in plans
            if other.statsforvalter_office_id == plan.statsforvalter_office_id
            and other.receipt_at is not None
            and other.receipt_at <= plan.review_at
            and (other.review_at is None or other.review_at > plan.review_at)
        ]
        if any(key(other) < key(plan) for other in waiting):
            wrong.append(f"{plan.index} at {plan.review_at}")
    return wrong


async def test_the_same_year_under_each_order_matches_its_truth_and_keeps_the_invariant(
    database_template: DatabaseTemplate,
    settings: Settings,
    http_client: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    outcomes = [
        await _year(policy, database_template, settings, http_client) for policy in POLICIES
    ]

    for outcome in outcomes:
        assert outcome.differences == [], outcome.policy
        assert outcome.policy is not None
        assert _first_in_order(outcome.plans, outcome.policy) == []
    # The same year: the same appeals reached the same offices at the same moments.
    arrivals = [
        sorted((p.index, p.statsforvalter_office_id, p.receipt_at) for p in o.plans)
        for o in outcomes
    ]
    assert arrivals[0] == arrivals[1] == arrivals[2]
    # Queues formed (the order can matter), and some cases are urgent.
    first = outcomes[0].plans
    assert any(p.urgent for p in first if p.receipt_at)
    waits = [p.review_at - p.receipt_at for p in first if p.review_at and p.receipt_at]
    assert max(waits).days >= 14
    rows = [figures_of(outcome) for outcome in outcomes]
    assert invariant_problems(rows) == []
    assert all(row.decided > 15 for row in rows)

    path = tmp_path / "comparison.json"
    write_comparison(path, comparison_document(seed=SEED, appeals=APPEALS, rows=rows))
    written = json.loads(path.read_text())
    assert set(written) == {"seed", "appeals", "policies"}
    assert (written["seed"], written["appeals"]) == (SEED, APPEALS)
    assert [p["policy"] for p in written["policies"]] == [p.value for p in POLICIES]
    for entry, outcome in zip(written["policies"], outcomes, strict=True):
        assert set(entry) == {
            "policy",
            "official_within_90_share",
            "whole_wait_days",
            "open_past_90_at_year_end",
        }
        assert set(entry["whole_wait_days"]) == {"p50", "p90", "p99", "max", "mean"}
        total = outcome.reported["statsforvalter_office"]["total"]
        assert entry["whole_wait_days"]["p90"] == total["decided"]["whole_wait"]["p90_days"]
        assert entry["official_within_90_share"] == total["decided"]["within_90_days_share"]
        assert isinstance(entry["open_past_90_at_year_end"], int)
        assert entry["whole_wait_days"]["max"] >= entry["whole_wait_days"]["p99"]


def test_the_invariant_fails_when_an_office_idles_with_cases_waiting() -> None:
    """A simulation that lets cases wait longer under one order is caught."""
    from klageapi.simulation.comparison import PolicyFigures

    def row(policy: str, officer: float, waited: float) -> PolicyFigures:
        return PolicyFigures(policy, 0.9, {}, 0, 100, officer, waited)

    assert invariant_problems([row("a", 30.0, 60.0), row("b", 30.0, 60.3)]) == []
    assert len(invariant_problems([row("a", 30.0, 60.0), row("b", 31.0, 60.3)])) == 1
    assert len(invariant_problems([row("a", 30.0, 60.0), row("b", 30.0, 61.0)])) == 1
