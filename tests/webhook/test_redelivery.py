"""The delivery log, redelivery and replay, against real PostgreSQL and a real receiver."""

from __future__ import annotations

import json
from typing import Any

from tests import journey
from tests.conftest import CommittedApp
from tests.journey import AuthHeaders
from tests.webhook.conftest import Answer, Receiver, make_dispatcher
from tests.webhook.test_dispatcher import subscribe

Json = dict[str, Any]


async def _deliveries(track: CommittedApp, auth: AuthHeaders, sid: str, **params: Any) -> Json:
    response = await track.client.get(
        f"/v1/webhook-subscriptions/{sid}/deliveries", params=params, headers=auth()
    )
    assert response.status_code == 200, response.text
    page: Json = response.json()
    return page


async def test_the_log_filters_by_status_and_type_and_pages(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    subscription = await subscribe(race_track, auth, receiver)
    receiver.answers = [Answer(status=500)] * 4  # the first delivery fails for good
    for _ in range(2):
        appeal = await journey.register(race_track.client, auth)
        await journey.start_nav_review(race_track.client, auth, appeal["id"])
    await make_dispatcher(race_track).drain()
    sid = subscription["id"]

    failed = await _deliveries(race_track, auth, sid, status="failed")
    changes = await _deliveries(race_track, auth, sid, event_type="appeal.status_changed")
    first = await _deliveries(race_track, auth, sid, limit=3)
    rest = await _deliveries(race_track, auth, sid, limit=3, cursor=first["next_cursor"])

    assert [(d["event_type"], d["attempt_count"]) for d in failed["items"]] == [
        ("appeal.received", 4)
    ]
    assert failed["items"][0]["attempts"][0]["response_excerpt"] == ""
    assert {d["event_type"] for d in changes["items"]} == {"appeal.status_changed"}
    assert len(changes["items"]) == 2
    assert len(first["items"]) == 3 and len(rest["items"]) == 1
    assert rest["next_cursor"] is None


async def test_a_failed_delivery_is_sent_again_on_request(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    subscription = await subscribe(race_track, auth, receiver)
    receiver.answers = [Answer(status=500)] * 4
    await journey.register(race_track.client, auth)
    await make_dispatcher(race_track).drain()
    (failed,) = (await _deliveries(race_track, auth, subscription["id"]))["items"]

    response = await race_track.client.post(
        f"/v1/webhook-subscriptions/{subscription['id']}/deliveries/{failed['id']}/redelivery",
        headers=auth(),
    )
    await make_dispatcher(race_track).drain()

    assert response.status_code == 202, response.text
    assert response.json()["reason"] == "redelivery"
    assert response.json()["event_id"] == failed["event_id"]
    last = receiver.events()[-1]
    assert last.headers["webhook-id"] == failed["event_id"]
    log = (await _deliveries(race_track, auth, subscription["id"]))["items"]
    assert [(d["reason"], d["status"]) for d in log] == [
        ("redelivery", "delivered"),
        ("event", "failed"),
    ]


async def test_a_replay_queues_every_matching_event_of_the_window_in_feed_order(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    for _ in range(2):
        appeal = await journey.register(race_track.client, auth)
        await journey.start_nav_review(race_track.client, auth, appeal["id"])
    await make_dispatcher(race_track).drain()  # the events are past before the subscription
    subscription = await subscribe(race_track, auth, receiver, event_types=["appeal.received"])
    await make_dispatcher(race_track).drain()
    assert receiver.events() == []

    response = await race_track.client.post(
        f"/v1/webhook-subscriptions/{subscription['id']}/replay",
        json={"since": "2026-10-25T00:00:00Z"},
        headers=auth(),
    )
    await make_dispatcher(race_track).drain()

    assert response.status_code == 202, response.text
    assert response.json() == {"queued": 2}
    arrived = [json.loads(r.body) for r in receiver.events()]
    assert [m["type"] for m in arrived] == ["appeal.received"] * 2
    feed = await race_track.client.get(
        "/v1/events", params={"type": "appeal.received"}, headers=auth()
    )
    assert [m["data"]["id"] for m in arrived] == [e["id"] for e in feed.json()["items"]]
