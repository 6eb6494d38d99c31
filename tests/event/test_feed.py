"""The event feed: visibility, filters, cursors, and no event missed when commits come late.
The feed serves only events of finished transactions, so these tests run on a committed
database (`race_track`), not inside the rolled-back test transaction."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import service as appeals
from klageapi.appeal.lifecycle import Action
from klageapi.appeal.schemas import AppealCreate, StepCreate
from klageapi.core.auth import Organisation
from klageapi.core.clock import FixedClock
from tests import journey
from tests.conftest import NAV_OSLO_ORG, NAV_STAVANGER_ORG, NOW, SF_ROGALAND_ORG, CommittedApp
from tests.factories import NATIONAL_ID, appeal_body
from tests.journey import AuthHeaders

Json = dict[str, Any]


async def _all_events(
    client: httpx.AsyncClient, headers: dict[str, str], *, cursor: str | None = None, **params: Any
) -> tuple[list[Json], str]:
    """Every event the feed has for the caller now, paging to the end; and the last cursor."""
    items: list[Json] = []
    while True:
        query = {**params, **({"after": cursor} if cursor else {})}
        response = await client.get("/v1/events", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if cursor == page["next_cursor"] or not page["items"]:
            return items, page["next_cursor"]
        cursor = page["next_cursor"]


async def test_an_appeal_s_steps_come_out_in_order_without_personal_data(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    client = race_track.client
    appeal = await journey.register(client, auth)
    await journey.start_nav_review(client, auth, appeal["id"])

    events, _ = await _all_events(client, auth())

    assert [(e["type"], e["status"]) for e in events] == [
        ("appeal.received", "received"),
        ("appeal.status_changed", "under_nav_review"),
    ]
    assert {e["appeal_id"] for e in events} == {appeal["id"]}
    assert events[0]["nav_office"] == "1103"
    assert events[0]["statsforvalter_office"] == "sf-rogaland"
    assert NATIONAL_ID not in json.dumps(events)


async def test_paging_with_small_pages_gives_each_event_once(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    client = race_track.client
    for _ in range(3):
        appeal = await journey.register(client, auth)
        await journey.start_nav_review(client, auth, appeal["id"])
    everything, _ = await _all_events(client, auth(), limit=1000)

    paged, _ = await _all_events(client, auth(), limit=2)

    assert len(everything) == 6
    assert [e["id"] for e in paged] == [e["id"] for e in everything]


async def test_a_consumer_at_the_end_polls_with_its_cursor_and_gets_only_what_is_new(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    client = race_track.client
    await journey.register(client, auth)
    seen, cursor = await _all_events(client, auth())
    empty = await client.get("/v1/events", params={"after": cursor}, headers=auth())
    appeal = await journey.register(client, auth)

    new, _ = await _all_events(client, auth(), cursor=cursor)

    assert len(seen) == 1
    assert empty.json()["items"] == []
    assert empty.json()["next_cursor"]
    assert [(e["type"], e["appeal_id"]) for e in new] == [("appeal.received", appeal["id"])]


async def test_an_event_of_a_transaction_that_commits_late_is_not_missed(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    """Transaction A begins and writes first, B begins later and commits first; a consumer
    reading in between must still get A's event after A commits, and each event once."""
    client = race_track.client
    await journey.register(client, auth)
    _, cursor = await _all_events(client, auth())
    nav = Organisation(organisation_number=NAV_STAVANGER_ORG, scopes=frozenset({"klageapi:write"}))
    async with AsyncSession(race_track.engine, expire_on_commit=False) as early:
        async with early.begin():
            late_appeal, _ = await appeals.register(
                early,
                AppealCreate.model_validate(appeal_body()),
                organisation=nav,
                clock=FixedClock(NOW),
            )
            await early.flush()
            committed = await journey.register(client, auth)

            while_open, cursor = await _all_events(client, auth(), cursor=cursor)
        after_commit, _ = await _all_events(client, auth(), cursor=cursor)

    assert while_open == []
    assert sorted(e["appeal_id"] for e in after_commit) == sorted(
        [str(late_appeal.id), committed["id"]]
    )
    assert len({e["id"] for e in after_commit}) == 2


async def test_a_rolled_back_step_emits_nothing(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    client = race_track.client
    appeal = await journey.register(client, auth)
    _, cursor = await _all_events(client, auth())
    nav = Organisation(organisation_number=NAV_STAVANGER_ORG, scopes=frozenset({"klageapi:write"}))
    async with AsyncSession(race_track.engine) as session, session.begin():
        await appeals.take_step(
            session,
            uuid.UUID(appeal["id"]),
            StepCreate(),
            action=Action.start_nav_review,
            organisation=nav,
            clock=FixedClock(NOW),
            expected_versions=None,
        )
        await session.flush()
        await session.rollback()

    events, _ = await _all_events(client, auth(), cursor=cursor)
    current = await client.get(f"/v1/appeals/{appeal['id']}", headers=auth())

    assert events == []
    assert current.json()["status"] == "received"


async def test_a_statsforvalter_sees_an_appeal_s_events_from_its_forwarding_on(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    client = race_track.client
    await journey.register(client, auth)  # never forwarded: never seen by the Statsforvalter
    appeal, _, _ = await journey.forwarded(client, auth)
    nav_events, _ = await _all_events(client, auth())

    sf_events, _ = await _all_events(client, auth(org=SF_ROGALAND_ORG, scope="klageapi:read"))

    assert len(nav_events) > len(sf_events)
    assert {e["appeal_id"] for e in sf_events} == {appeal["id"]}
    assert sf_events[0]["type"] == "package.forwarded"


async def test_another_nav_office_sees_none_of_it(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    await journey.register(race_track.client, auth)

    events, _ = await _all_events(race_track.client, auth(org=NAV_OSLO_ORG))

    assert events == []


async def test_the_type_filter_keeps_only_the_types_asked_for(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    client = race_track.client
    appeal = await journey.register(client, auth)
    await journey.start_nav_review(client, auth, appeal["id"])

    events, _ = await _all_events(client, auth(), type="appeal.status_changed")

    assert [e["type"] for e in events] == ["appeal.status_changed"]


async def test_a_tampered_cursor_is_refused(race_track: CommittedApp, auth: AuthHeaders) -> None:
    await journey.register(race_track.client, auth)
    _, cursor = await _all_events(race_track.client, auth())
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")

    response = await race_track.client.get("/v1/events", params={"after": tampered}, headers=auth())

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


async def test_bad_query_parameters_are_refused(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    for params in ({"limit": 1001}, {"limit": 0}, {"type": "appeal.exploded"}):
        response = await race_track.client.get("/v1/events", params=params, headers=auth())
        assert response.status_code == 422, params
        assert response.json()["code"] == "validation_failed"


async def test_the_feed_needs_a_token(race_track: CommittedApp) -> None:
    response = await race_track.client.get("/v1/events")

    assert response.status_code == 401
