"""A package's life as its sender and receiver see it: times on the steps' own clock, every
package that enters a feed announced as package.forwarded, packages of a withdrawn appeal
withdrawn, and the first download told to NAV."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.event.schemas import event_read
from klageapi.models import CasePackage, Event
from tests.conftest import NOW, SF_ROGALAND_ORG
from tests.journey import (
    REQUIRED,
    AuthHeaders,
    Json,
    acknowledge,
    events_of,
    forwarded,
    register,
    request_documentation,
    under_statsforvalter_review,
    upload,
)

OSLO = "sf-oslo-akershus-ostfold-buskerud"


async def _events(session: AsyncSession, appeal_id: str) -> list[Json]:
    """The appeal's events as the feed serves them (the feed itself waits for this test's
    transaction to end: the tests of the feed commit)."""
    return [
        event_read(event).model_dump(mode="json") for event in await events_of(session, appeal_id)
    ]


def _of_package(events: list[Json], type_: str, package_id: str) -> list[Json]:
    return [e for e in events if e["type"] == type_ and e["data"].get("package_id") == package_id]


async def _post(client: httpx.AsyncClient, path: str, headers: dict[str, str], **body: Any) -> Json:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    answer: Json = response.json()
    return answer


async def test_a_package_keeps_the_times_its_steps_happened(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    # Reported late by the case system: forwarded on Wednesday 28 October, received on Sunday
    # 1 November; klageapi is told on Monday 2 November (NOW).
    appeal = await register(client, auth, occurred_at="2026-10-26T08:00:00Z")
    path = f"/v1/appeals/{appeal['id']}"
    await _post(client, f"{path}/nav-review", auth(), occurred_at="2026-10-27T08:00:00Z")
    for category in REQUIRED:
        await upload(client, auth, appeal["id"], category=category)
    await _post(
        client,
        f"{path}/nav-outcome",
        {**auth(), "If-Match": '"2"'},
        outcome="upheld",
        decided_on="2026-10-27",
        reasoning="Vedtaket står.",
        occurred_at="2026-10-27T12:00:00Z",
    )
    package = await _post(client, f"{path}/packages", auth(), occurred_at="2026-10-28T10:00:00Z")

    feed = await client.get(
        "/v1/packages", params={"status": "awaiting_receipt"}, headers=auth(org=SF_ROGALAND_ORG)
    )
    (waiting,) = [p for p in feed.json()["items"] if p["id"] == package["id"]]
    received = await _post(
        client,
        f"/v1/packages/{package['id']}/receipt",
        auth(org=SF_ROGALAND_ORG),
        statsforvalter_case_number="2026/77",
        occurred_at="2026-11-01T12:00:00Z",
    )

    assert (package["frozen_at"], package["recorded_at"]) == (
        "2026-10-28T10:00:00Z",
        NOW.isoformat().replace("+00:00", "Z"),
    )
    # Thursday, Friday and Monday have passed: more than the two working days of the target.
    assert (waiting["waited_working_days"], waiting["overdue"]) == (3, True)
    assert received["received_at"] == "2026-11-01T12:00:00Z"
    assert (received["waited_working_days"], received["overdue"]) == (2, False)
    assert received["frozen_at"] == package["frozen_at"]


async def test_a_rerouted_package_is_announced_to_both_offices_and_to_nav(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)

    await _post(
        client,
        f"/v1/packages/{package['id']}/rejection",
        auth(org=SF_ROGALAND_ORG),
        reason="not_ours",
        statsforvalter_office_id=OSLO,
    )

    # The office that rejected hears of its rejection, the office it is for gets the package,
    # and NAV (which sees every event of its office's appeal) both.
    events = await _events(session, appeal["id"])
    assert [
        (e["type"], e["statsforvalter_office"], e["data"].get("kind"))
        for e in events
        if e["type"].startswith("package.")
    ] == [
        ("package.forwarded", "sf-rogaland", "initial"),
        ("package.rejected", "sf-rogaland", "rerouted"),
        ("package.forwarded", OSLO, "rerouted"),
    ]


async def test_a_supplementary_package_is_announced_as_forwarded(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    document = await upload(client, auth, appeal["id"], category="documentation_response")

    response = await client.post(
        f"/v1/documentation-requests/{request['id']}/fulfilment",
        json={"document_ids": [document["id"]]},
        headers=auth(),
    )

    assert response.status_code == 201, response.text
    supplementary = response.json()
    events = await _events(session, appeal["id"])
    ((announced,),) = [_of_package(events, "package.forwarded", supplementary["id"])]
    assert (announced["statsforvalter_office"], announced["data"]["kind"]) == (
        "sf-rogaland",
        "supplementary",
    )


async def test_a_withdrawn_appeal_s_waiting_package_is_withdrawn_and_announced(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)

    await _post(client, f"/v1/appeals/{appeal['id']}/withdrawal", auth())

    read = await client.get(f"/v1/packages/{package['id']}", headers=auth())
    assert read.json()["status"] == "withdrawn"
    events = await _events(session, appeal["id"])
    ((withdrawn,),) = [_of_package(events, "package.withdrawn", package["id"])]
    assert (withdrawn["statsforvalter_office"], withdrawn["status"]) == ("sf-rogaland", "withdrawn")


async def test_a_receipt_or_rejection_of_a_withdrawn_package_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)
    await _post(client, f"/v1/appeals/{appeal['id']}/withdrawal", auth())
    events_before = await session.scalar(select(func.count()).select_from(Event))
    row_before = await _package_row(session, package["id"])

    receipt = await client.post(
        f"/v1/packages/{package['id']}/receipt",
        json={"statsforvalter_case_number": "2026/1"},
        headers=auth(org=SF_ROGALAND_ORG),
    )
    rejection = await client.post(
        f"/v1/packages/{package['id']}/rejection",
        json={"reason": "incomplete", "description": "Mangler vedtaket."},
        headers=auth(org=SF_ROGALAND_ORG),
    )

    for response in (receipt, rejection):
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "package_withdrawn"
    assert await session.scalar(select(func.count()).select_from(Event)) == events_before
    assert await _package_row(session, package["id"]) == row_before


async def _package_row(session: AsyncSession, package_id: str) -> tuple[Any, ...]:
    row = (
        await session.execute(
            select(
                CasePackage.status,
                CasePackage.received_at,
                CasePackage.statsforvalter_case_number,
                CasePackage.rejection_reason,
            ).where(CasePackage.id == package_id)
        )
    ).one()
    return tuple(row)


async def test_the_statsforvalter_s_first_download_is_kept_and_told_to_nav_once(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)
    bundle = f"/v1/packages/{package['id']}/bundle"

    own = await client.get(bundle, headers=auth())  # NAV's own download is not the receiver's
    assert own.status_code == 200
    assert (await client.get(f"/v1/packages/{package['id']}", headers=auth())).json()[
        "first_downloaded_at"
    ] is None
    for _ in range(2):
        response = await client.get(bundle, headers=auth(org=SF_ROGALAND_ORG))
        assert response.status_code == 200, response.text

    read = (await client.get(f"/v1/packages/{package['id']}", headers=auth())).json()
    assert (read["first_downloaded_at"], read["first_downloaded_by"]) == (
        NOW.isoformat().replace("+00:00", "Z"),
        f"0192:{SF_ROGALAND_ORG}",
    )
    events = await _events(session, appeal["id"])
    ((downloaded,),) = [_of_package(events, "package.downloaded", package["id"])]
    assert downloaded["statsforvalter_office"] == "sf-rogaland"


async def test_an_acknowledged_package_is_received_on_the_step_s_own_time(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    _, _, package = await forwarded(client, auth)

    received = await acknowledge(client, auth, package["id"])

    assert received["received_at"] == received["frozen_at"] == received["recorded_at"]
