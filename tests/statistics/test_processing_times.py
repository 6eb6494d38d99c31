"""GET /v1/statistics/processing-times: stage times, shares, outcomes and who sees what, on
appeals with known histories."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import (
    Appeal,
    AppealStatus,
    AuditEntry,
    Channel,
    NavOutcome,
    StatsforvalterOutcome,
)
from tests.conftest import NAV_OSLO_ORG, NAV_STAVANGER_ORG, SF_ROGALAND_ORG
from tests.factories import add_steps, count, make_appeal
from tests.journey import SF_OSLO_ORG

S = AppealStatus
DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
URL = "/v1/statistics/processing-times"
YEAR = {"from": "2026-01-01", "to": "2026-12-31"}
Auth = Callable[..., dict[str, str]]
OSLO = {
    "nav_office_unit_number": "0301",
    "municipality_number": "0301",
    "statsforvalter_office_id": "sf-oslo-akershus-ostfold-buskerud",
}


async def decided_appeal(
    session: AsyncSession,
    *,
    at: dt.datetime = T0,
    nav: float = 10,
    transfer: float = 2,
    waiting: float = 5,
    work: float = 16,
    documentation: Sequence[float] = (),
    outcome: StatsforvalterOutcome = StatsforvalterOutcome.upheld,
    **overrides: Any,
) -> Appeal:
    """An appeal registered at `at` that went through every stage, each lasting the days
    given; each documentation wait comes after a day of work."""
    appeal = await make_appeal(
        session,
        registered_at=at,
        nav_outcome=NavOutcome.upheld,
        statsforvalter_outcome=outcome,
        **overrides,
    )
    t = at + nav * DAY
    steps = [(S.under_nav_review, at + nav / 2 * DAY), (S.forwarded, t)]
    t += transfer * DAY
    steps.append((S.received_by_statsforvalter, t))
    t += waiting * DAY
    steps.append((S.under_statsforvalter_review, t))
    for days in documentation:
        t += DAY
        steps.append((S.awaiting_documentation, t))
        t += days * DAY
        steps.append((S.under_statsforvalter_review, t))
    t += (work - len(documentation)) * DAY
    steps.append((S.decided, t))
    return await add_steps(session, appeal, steps)


async def figures(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> dict[str, Any]:
    response = await client.get(URL, params={**YEAR, **params}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stage(count: int, median: float | None, p90: float | None) -> dict[str, Any]:
    return {"count": count, "median_days": median, "p90_days": p90}


def admin(auth: Auth) -> dict[str, str]:
    return auth(scope="klageapi:admin")


async def test_each_stage_of_one_appeal_is_measured_from_its_history(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    await decided_appeal(
        session, nav=10, transfer=2, waiting=5, work=16, documentation=(4, 3), received_on=T0.date()
    )

    body = await figures(client, admin(auth))

    assert [group["key"] for group in body["groups"]] == ["sf-rogaland"]
    decided = body["groups"][0]["decided"]
    assert decided["stages"] == {
        "nav_preparation": stage(1, 10.0, 10.0),
        "transfer": stage(1, 2.0, 2.0),
        "waiting_at_statsforvalter": stage(1, 5.0, 5.0),
        "statsforvalter_work": stage(1, 16.0, 16.0),
        "waiting_for_documentation": stage(1, 7.0, 7.0),
        "total": stage(1, 40.0, 40.0),
    }
    assert decided["appeals"] == 1
    assert decided["within_90_days_share"] == 1.0
    assert body["total"]["decided"] == decided
    assert body["period"] == {"from": "2026-01-01", "to": "2026-12-31"}


async def test_the_whole_wait_divides_into_stage_shares_that_add_up_with_its_mean(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    # Registered at 09:00 Oslo time on the day NAV received them: 0.375 days before
    # registration belong to NAV's part. Whole waits 40.375 and 63.375 days.
    await decided_appeal(
        session, nav=10, transfer=2, waiting=5, work=16, documentation=(4, 3), received_on=T0.date()
    )
    await decided_appeal(session, nav=2, transfer=1, waiting=50, work=10, received_on=T0.date())

    decided = (await figures(client, admin(auth)))["total"]["decided"]

    whole = 40.375 + 63.375
    # Summed days over the summed whole wait, not the mean of each appeal's shares.
    assert decided["stage_shares"] == pytest.approx(
        {
            "nav": (12 + 0.75) / whole,
            "transfer": 3 / whole,
            "waiting_at_statsforvalter": 55 / whole,
            "statsforvalter_work": 26 / whole,
            "waiting_for_documentation": 7 / whole,
        },
        abs=0.0001,
    )
    assert sum(decided["stage_shares"].values()) == pytest.approx(1, abs=0.0001)
    assert decided["whole_wait"]["mean_days"] == pytest.approx(whole / 2, abs=0.01)
    assert decided["whole_wait"]["count"] == 2
    assert decided["official_measure"]["mean_days"] == pytest.approx((28 + 60) / 2, abs=0.01)


async def test_without_decided_appeals_there_are_no_shares_and_no_mean(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    decided = (await figures(client, admin(auth)))["total"]["decided"]

    assert decided["stage_shares"] is None
    assert decided["whole_wait"]["mean_days"] is None


async def test_medians_and_90th_percentiles_interpolate_between_appeals(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    for work in (30, 10, 50, 20, 40):
        await decided_appeal(session, nav=1, transfer=1, waiting=1, work=work)

    stages = (await figures(client, admin(auth)))["total"]["decided"]["stages"]

    assert stages["statsforvalter_work"] == stage(5, 30.0, 46.0)
    assert stages["total"] == stage(5, 33.0, 49.0)
    assert stages["nav_preparation"] == stage(5, 1.0, 1.0)
    # No appeal waited for documentation: no figures rather than zeros.
    assert stages["waiting_for_documentation"] == stage(0, None, None)


async def test_nav_preparation_lasts_until_the_last_forwarding_and_a_reroute_is_transfer(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    sent_back = await make_appeal(session, registered_at=T0, statsforvalter_outcome="upheld")
    await add_steps(
        session,
        sent_back,
        [
            (S.under_nav_review, T0 + 1 * DAY),
            (S.forwarded, T0 + 5 * DAY),
            (S.under_nav_review, T0 + 7 * DAY),  # rejected as incomplete
            (S.forwarded, T0 + 12 * DAY),
            (S.received_by_statsforvalter, T0 + 13 * DAY),
            (S.under_statsforvalter_review, T0 + 14 * DAY),
            (S.decided, T0 + 20 * DAY),
        ],
    )
    rerouted = await make_appeal(session, registered_at=T0, statsforvalter_outcome="upheld")
    await add_steps(
        session,
        rerouted,
        [
            (S.under_nav_review, T0 + 1 * DAY),
            (S.forwarded, T0 + 2 * DAY),
            (S.forwarded, T0 + 5 * DAY),  # not ours: re-routed, no new forwarding
            (S.received_by_statsforvalter, T0 + 8 * DAY),
            (S.under_statsforvalter_review, T0 + 9 * DAY),
            (S.decided, T0 + 20 * DAY),
        ],
    )

    stages = (await figures(client, admin(auth)))["total"]["decided"]["stages"]

    assert stages["nav_preparation"] == stage(2, 7.0, 11.0)  # 2 and 12 days
    assert stages["transfer"] == stage(2, 3.5, 5.5)  # 6 and 1 days
    assert stages["total"] == stage(2, 20.0, 20.0)


async def test_within_90_days_counts_norwegian_calendar_days_from_the_receipt(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    receipt = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    for decided_at in (
        receipt + 90 * DAY + dt.timedelta(hours=10),  # 5 April, 22:00 in Oslo: day 90
        receipt + 90 * DAY + dt.timedelta(hours=12, minutes=30),  # 6 April, 00:30: day 91
    ):
        appeal = await make_appeal(session, registered_at=receipt - 3 * DAY)
        await add_steps(
            session,
            appeal,
            [
                (S.under_nav_review, receipt - 2 * DAY),
                (S.forwarded, receipt - DAY),
                (S.received_by_statsforvalter, receipt),
                (S.under_statsforvalter_review, receipt + DAY),
                (S.decided, decided_at),
            ],
        )

    decided = (await figures(client, admin(auth)))["total"]["decided"]

    assert decided["appeals"] == 2
    assert decided["within_90_days_share"] == 0.5


async def test_decisions_count_in_the_norwegian_period_they_happened_and_receipts_by_received_on(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    # Decided 30 June, 23:30 in Oslo (21:30 UTC): in the first half-year.
    inside = await make_appeal(
        session,
        registered_at=T0,
        received_on=dt.date(2025, 12, 20),
        statsforvalter_outcome="upheld",
    )
    last_minute = dt.datetime(2026, 6, 30, 21, 30, tzinfo=dt.UTC)
    # Decided 1 July, 00:30 in Oslo (30 June, 22:30 UTC): outside.
    outside = await make_appeal(
        session,
        registered_at=T0,
        received_on=dt.date(2026, 2, 1),
        statsforvalter_outcome="annulled",
    )
    too_late = dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC)
    for appeal, decided_at in ((inside, last_minute), (outside, too_late)):
        await add_steps(
            session,
            appeal,
            [
                (S.under_nav_review, T0 + DAY),
                (S.forwarded, T0 + 2 * DAY),
                (S.received_by_statsforvalter, T0 + 3 * DAY),
                (S.under_statsforvalter_review, T0 + 4 * DAY),
                (S.decided, decided_at),
            ],
        )
    await make_appeal(session, received_on=dt.date(2026, 6, 30), channel=Channel.paper)

    total = (await figures(client, admin(auth), to="2026-06-30"))["total"]

    assert total["decided"]["appeals"] == 1
    assert total["decided"]["outcomes"] == {
        "upheld": 1,
        "new_decision": 0,
        "annulled": 0,
        "dismissed": 0,
    }
    # Received in the period: the one decided outside it and the one still with NAV.
    assert total["received"]["appeals"] == 2
    assert total["received"]["digital_share"] == 0.5


async def test_groups_by_county_with_outcomes_digital_share_and_a_channel_filter(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    await decided_appeal(session, work=10, received_on=T0.date())
    await decided_appeal(
        session,
        work=20,
        received_on=T0.date(),
        channel=Channel.paper,
        outcome=StatsforvalterOutcome.new_decision,
    )
    await decided_appeal(session, work=30, received_on=T0.date(), **OSLO)
    await make_appeal(session, received_on=T0.date(), nav_outcome=NavOutcome.full_reversal)

    body = await figures(client, admin(auth), group_by="county")

    assert [group["key"] for group in body["groups"]] == ["03", "11"]
    oslo, rogaland = body["groups"]
    assert oslo["received"] == {
        "appeals": 1,
        "digital_share": 1.0,
        "nav_outcomes": {
            "full_reversal": 0,
            "partial_reversal": 0,
            "upheld": 1,
            "dismissed": 0,
            "pending": 0,
        },
    }
    assert rogaland["received"]["appeals"] == 3
    assert rogaland["received"]["digital_share"] == 0.6667
    assert rogaland["received"]["nav_outcomes"]["full_reversal"] == 1
    assert rogaland["decided"]["outcomes"]["new_decision"] == 1
    assert rogaland["decided"]["stages"]["statsforvalter_work"] == stage(2, 15.0, 19.0)
    assert body["total"]["decided"]["stages"]["statsforvalter_work"] == stage(3, 20.0, 28.0)

    paper = await figures(client, admin(auth), group_by="county", channel="paper")

    assert [group["key"] for group in paper["groups"]] == ["11"]
    assert paper["total"]["decided"]["stages"]["statsforvalter_work"] == stage(1, 20.0, 20.0)
    assert paper["total"]["received"]["digital_share"] == 0.0
    assert paper["channel"] == "paper"


async def test_each_caller_sees_the_figures_of_the_appeals_it_may_see(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    await decided_appeal(session, work=10, received_on=T0.date())
    await decided_appeal(session, work=20, received_on=T0.date(), **OSLO)
    await make_appeal(session, received_on=T0.date())  # with NAV Stavanger, not forwarded

    def received_by_key(body: dict[str, Any]) -> dict[str, int]:
        return {group["key"]: group["received"]["appeals"] for group in body["groups"]}

    everyone = await figures(client, admin(auth), group_by="nav_office")
    nav_stavanger = await figures(client, auth(org=NAV_STAVANGER_ORG), group_by="nav_office")
    nav_oslo = await figures(client, auth(org=NAV_OSLO_ORG), group_by="nav_office")
    sf_rogaland = await figures(client, auth(org=SF_ROGALAND_ORG), group_by="nav_office")
    sf_oslo = await figures(client, auth(org=SF_OSLO_ORG), group_by="nav_office")
    nobody = await figures(client, auth(org="999999999"), group_by="nav_office")

    assert received_by_key(everyone) == {"0301": 1, "1103": 2}
    assert received_by_key(nav_stavanger) == {"1103": 2}
    assert received_by_key(nav_oslo) == {"0301": 1}
    # The Statsforvalter sees only what was forwarded to it.
    assert received_by_key(sf_rogaland) == {"1103": 1}
    assert sf_rogaland["total"]["decided"]["stages"]["statsforvalter_work"] == stage(1, 10.0, 10.0)
    assert received_by_key(sf_oslo) == {"0301": 1}
    assert sf_oslo["total"]["decided"]["stages"]["statsforvalter_work"] == stage(1, 20.0, 20.0)
    assert nobody["groups"] == []
    assert nobody["total"]["decided"]["appeals"] == 0
    assert nobody["total"]["received"]["digital_share"] is None


async def test_a_token_without_read_or_admin_scope_is_refused(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    response = await client.get(URL, params=YEAR, headers=auth(scope="klageapi:write"))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


async def _refused(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth, params: dict[str, str]
) -> dict[str, Any]:
    audit_rows = await count(session, AuditEntry)
    response = await client.get(URL, params=params, headers=admin(auth))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await count(session, AuditEntry) == audit_rows
    problem: dict[str, Any] = response.json()
    return problem


async def test_a_reversed_period_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    problem = await _refused(client, session, auth, {"from": "2026-06-01", "to": "2026-05-31"})

    assert problem["code"] == "period_reversed"
    assert [error["field"] for error in problem["errors"]] == ["to"]


async def test_a_period_over_five_years_is_refused_and_five_years_are_not(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    problem = await _refused(client, session, auth, {"from": "2021-01-01", "to": "2026-01-01"})

    assert problem["code"] == "period_too_long"
    assert "2025-12-31" in problem["errors"][0]["message"]
    response = await client.get(
        URL, params={"from": "2021-01-01", "to": "2025-12-31"}, headers=admin(auth)
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("period", "field"),
    [
        ({"from": "0001-01-01", "to": "0001-01-01"}, "from"),
        ({"from": "9999-12-31", "to": "9999-12-31"}, "from"),
        ({"from": "2026-01-01", "to": "9999-12-31"}, "to"),
        ({"from": "1899-12-31", "to": "1900-01-01"}, "from"),
    ],
)
async def test_a_date_outside_the_years_covered_is_refused_not_a_500(
    client: httpx.AsyncClient,
    session: AsyncSession,
    auth: Auth,
    period: dict[str, str],
    field: str,
) -> None:
    # Found by the fuzzer (tests/fuzz): the year 1 or 9999 overflowed a datetime (500).
    problem = await _refused(client, session, auth, period)

    assert problem["code"] == "validation_failed"
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [(field, "out_of_range")]


async def test_an_unknown_grouping_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    problem = await _refused(client, session, auth, {**YEAR, "group_by": "municipality"})

    assert problem["code"] == "validation_failed"
    assert [error["field"] for error in problem["errors"]] == ["group_by"]
