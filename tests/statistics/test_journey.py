"""Processing times of an appeal taken through its whole journey over HTTP, with the clock
moved between the steps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx

from klageapi.core.clock import FixedClock
from tests.conftest import SF_ROGALAND_ORG
from tests.journey import (
    acknowledge,
    forward,
    ready_to_forward,
    request_documentation,
    start_statsforvalter_review,
    upload,
)

DAY = dt.timedelta(days=1)


async def test_a_journey_over_http_shows_up_in_the_statsforvalters_figures(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], clock: FixedClock
) -> None:
    appeal, _ = await ready_to_forward(client, auth)  # registered now
    appeal_id = appeal["id"]
    clock.advance(3 * DAY)
    package = await forward(client, auth, appeal_id)
    clock.advance(1 * DAY)
    await acknowledge(client, auth, package["id"])
    clock.advance(2 * DAY)
    await start_statsforvalter_review(client, auth, appeal_id)
    clock.advance(1 * DAY)
    request = await request_documentation(client, auth, appeal_id)
    clock.advance(4 * DAY)
    answer = await upload(client, auth, appeal_id, category="documentation_response")
    fulfilled = await client.post(
        f"/v1/documentation-requests/{request['id']}/fulfilment",
        json={"document_ids": [answer["id"]]},
        headers=auth(),
    )
    assert fulfilled.status_code == 201, fulfilled.text
    await acknowledge(client, auth, fulfilled.json()["id"])  # the supplementary package
    clock.advance(3 * DAY)
    letter = await upload(
        client, auth, appeal_id, category="statsforvalter_decision", org=SF_ROGALAND_ORG
    )
    current = await client.get(f"/v1/appeals/{appeal_id}", headers=auth(org=SF_ROGALAND_ORG))
    decided = await client.post(
        f"/v1/appeals/{appeal_id}/decision",
        json={
            "outcome": "new_decision",
            "decided_on": clock.today().isoformat(),
            "document_id": letter["id"],
        },
        headers={**auth(org=SF_ROGALAND_ORG), "If-Match": current.headers["etag"]},
    )
    assert decided.status_code == 200, decided.text

    response = await client.get(
        "/v1/statistics/processing-times",
        params={"from": "2026-10-01", "to": "2026-12-31"},
        headers=auth(org=SF_ROGALAND_ORG),
    )

    assert response.status_code == 200, response.text
    [group] = response.json()["groups"]
    assert group["key"] == "sf-rogaland"
    assert group["received"]["appeals"] == 1
    assert group["received"]["nav_outcomes"]["upheld"] == 1
    decided_figures = group["decided"]
    assert decided_figures["appeals"] == 1
    assert decided_figures["outcomes"]["new_decision"] == 1
    assert decided_figures["within_90_days_share"] == 1.0
    assert {name: s["median_days"] for name, s in decided_figures["stages"].items()} == {
        "nav_preparation": 3.0,
        "transfer": 1.0,
        "waiting_at_statsforvalter": 2.0,
        "statsforvalter_work": 4.0,
        "waiting_for_documentation": 4.0,
        "total": 14.0,
    }


async def test_an_appeal_waiting_at_the_statsforvalter_is_in_its_open_backlog_and_queue(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], clock: FixedClock
) -> None:
    appeal, _ = await ready_to_forward(client, auth)  # received_on 2026-10-15
    package = await forward(client, auth, appeal["id"])
    await acknowledge(client, auth, package["id"])  # received by Rogaland now
    clock.advance(95 * DAY)  # 95 days later, still not decided

    response = await client.get(
        "/v1/statistics/processing-times",
        params={"from": "2026-10-01", "to": "2027-02-28"},
        headers=auth(org=SF_ROGALAND_ORG),
    )

    assert response.status_code == 200, response.text
    figures = response.json()
    (rogaland,) = [g for g in figures["groups"] if g["key"] == "sf-rogaland"]
    backlog = rogaland["open"]
    assert backlog["appeals"] >= 1
    assert backlog["by_status"]["received_by_statsforvalter"] >= 1
    assert backlog["at_statsforvalter"] >= 1
    assert backlog["past_90_days_share"] == 1.0  # every one waiting there is past 90 days
    assert backlog["age"]["oldest_days"] >= 95
    (queue,) = [q for q in figures["queue_health"] if q["statsforvalter_office"] == "sf-rogaland"]
    assert queue["queue_size"] == backlog["at_statsforvalter"]
    assert queue["decisions_per_week"] == 0
    assert queue["load"] is None  # no decisions in the window: no capacity to divide by
    assert queue["pressure"] > 1  # a mean wait of 13.6 weeks against 90 days (12.9 weeks)
    assert queue["target_mean_wait_weeks"] == round(90 / 7 / 4, 2)
