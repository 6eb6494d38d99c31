"""The pull feed's orders over HTTP: each sorts as it says, and pages by cursor follow it."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from klageapi.core.clock import FixedClock
from tests.conftest import SF_ROGALAND_ORG
from tests.journey import REQUIRED, AuthHeaders, Json, record_nav_outcome, register, upload

# (received by NAV on, urgent), forwarded in this order, a minute apart.
APPEALS = [("2026-10-20", False), ("2026-10-05", False), ("2026-10-12", True), ("2026-10-08", True)]


async def _forwarded(client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock) -> list[str]:
    ids = []
    for received_on, urgent in APPEALS:
        clock.advance(dt.timedelta(minutes=1))
        appeal = await register(client, auth, received_on=received_on)
        response = await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())
        assert response.status_code == 200, response.text
        for category in REQUIRED:
            await upload(client, auth, appeal["id"], category=category)
        await record_nav_outcome(client, auth, appeal["id"])
        body = {"urgent": True, "urgent_reason": "eviction"} if urgent else {}
        package = await client.post(
            f"/v1/appeals/{appeal['id']}/packages", json=body, headers=auth()
        )
        assert package.status_code == 201, package.text
        ids.append(package.json()["id"])
    return ids


async def _pages(client: httpx.AsyncClient, auth: AuthHeaders, order: str) -> list[Json]:
    """The whole feed in `order`, a package a page."""
    found: list[Json] = []
    cursor = None
    while True:
        params = {"order": order, "limit": "1", **({"cursor": cursor} if cursor else {})}
        page = await client.get("/v1/packages", params=params, headers=auth(org=SF_ROGALAND_ORG))
        assert page.status_code == 200, page.text
        found += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("urgent_first", [2, 3, 0, 1]),  # urgent by forwarding, then the rest by forwarding
        ("forwarded", [0, 1, 2, 3]),
        ("citizen_wait", [1, 3, 2, 0]),  # by NAV's receipt: 5, 8, 12, 20 October
        ("urgent_then_citizen_wait", [3, 2, 1, 0]),
    ],
)
async def test_each_order_sorts_as_it_says_and_pages_follow_it(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    clock: FixedClock,
    order: str,
    expected: list[int],
) -> None:
    ids = await _forwarded(client, auth, clock)

    paged = [item["id"] for item in await _pages(client, auth, order) if item["id"] in ids]

    assert paged == [ids[n] for n in expected]


async def test_a_cursor_of_another_order_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    await _forwarded(client, auth, clock)
    first = await client.get(
        "/v1/packages",
        params={"order": "forwarded", "limit": "1"},
        headers=auth(org=SF_ROGALAND_ORG),
    )
    cursor = first.json()["next_cursor"]

    response = await client.get(
        "/v1/packages",
        params={"order": "citizen_wait", "cursor": cursor},
        headers=auth(org=SF_ROGALAND_ORG),
    )

    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")
