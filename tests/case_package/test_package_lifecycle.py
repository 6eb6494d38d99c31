"""A package's life as its sender and receiver see it: times on the steps' own clock, every
package that enters a feed announced as package.forwarded, packages of a withdrawn appeal
withdrawn, and the first download told to NAV.

Nothing stuck in a feed: a package awaiting receipt whose appeal moves where it can no longer be
received (sent back to NAV as incomplete, withdrawn, closed) leaves the feed as withdrawn,
announced; one whose appeal is re-routed follows the appeal to the office it is for. What makes
these reachable: the citizen comments on the case presentation while NAV's first package waits,
so a supplementary package waits beside it when the Statsforvalter rejects the first one."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.event.schemas import event_read
from klageapi.models import CasePackage, Event
from tests.conftest import NOW, SF_ROGALAND_ORG, CommittedApp, TokenFactory
from tests.factories import NATIONAL_ID
from tests.journey import (
    REQUIRED,
    SF_OSLO_ORG,
    AuthHeaders,
    Json,
    acknowledge,
    events_of,
    forwarded,
    ready_to_forward,
    register,
    request_documentation,
    under_statsforvalter_review,
    upload,
)

OSLO = "sf-oslo-akershus-ostfold-buskerud"
INCOMPLETE = {"reason": "incomplete", "description": "Vedtaket mangler side 2."}
NOT_OURS = {"reason": "not_ours", "statsforvalter_office_id": OSLO}
CASE_PRESENTATION = {"case_presentation_sent_on": "2026-10-30", "comment_deadline_on": "2026-11-13"}


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


async def _answered(client: httpx.AsyncClient, auth: AuthHeaders) -> tuple[Json, Json, Json]:
    """An appeal under the Statsforvalter's review, its first package, and NAV's answer to its
    documentation request: a supplementary package awaiting receipt."""
    appeal, _, package = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    document = await upload(client, auth, appeal["id"], category="documentation_response")
    path = f"/v1/documentation-requests/{request['id']}/fulfilment"
    return appeal, package, await _post(client, path, auth(), document_ids=[document["id"]])


async def test_a_supplementary_package_is_announced_as_forwarded(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, supplementary = await _answered(client, auth)

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

    await _refused_as_withdrawn(client, auth, session, package["id"])


async def _refused_as_withdrawn(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, package_id: str
) -> None:
    """A receipt and a rejection of the package are 409 package_withdrawn, changing nothing."""
    events_before = await session.scalar(select(func.count()).select_from(Event))
    row_before = await _package_row(session, package_id)

    receipt = await client.post(
        f"/v1/packages/{package_id}/receipt",
        json={"statsforvalter_case_number": "2026/1"},
        headers=auth(org=SF_ROGALAND_ORG),
    )
    rejection = await client.post(
        f"/v1/packages/{package_id}/rejection",
        json={"reason": "incomplete", "description": "Mangler vedtaket."},
        headers=auth(org=SF_ROGALAND_ORG),
    )

    for response in (receipt, rejection):
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "package_withdrawn"
    assert await session.scalar(select(func.count()).select_from(Event)) == events_before
    assert await _package_row(session, package_id) == row_before


async def _package_row(session: AsyncSession, package_id: str) -> tuple[Any, ...]:
    row = (
        await session.execute(
            select(
                CasePackage.status,
                CasePackage.statsforvalter_office_id,
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


async def _forwarded_with_citizen_comment(
    client: httpx.AsyncClient, auth: AuthHeaders, make_token: TokenFactory
) -> tuple[Json, Json, Json]:
    """An appeal forwarded to sf-rogaland whose citizen has commented on the case presentation:
    the appeal, NAV's package and the citizen's, both awaiting receipt."""
    appeal, _ = await ready_to_forward(client, auth)
    initial = await _post(
        client, f"/v1/appeals/{appeal['id']}/packages", auth(), **CASE_PRESENTATION
    )
    token = make_token(org=None, scope=None, pid=NATIONAL_ID, acr="idporten-loa-high")
    done = await _post(
        client,
        f"/v1/me/appeals/{appeal['id']}/comments",
        {"Authorization": f"Bearer {token}"},
        text="Jeg er uenig i NAVs vurdering.",
    )
    feed = await client.get("/v1/packages", headers=auth(org=SF_ROGALAND_ORG))
    (supplementary,) = [
        p
        for p in feed.json()["items"]
        if p["appeal_id"] == appeal["id"] and p["kind"] == "supplementary"
    ]
    assert supplementary["status"] == "awaiting_receipt"
    return appeal, initial, {**supplementary, "document_id": done["document"]["id"]}


async def _reject(
    client: httpx.AsyncClient, auth: AuthHeaders, package_id: str, **body: Any
) -> Json:
    """Rogaland rejects the package."""
    path = f"/v1/packages/{package_id}/rejection"
    return await _post(client, path, auth(org=SF_ROGALAND_ORG), **body)


async def _waiting_ids(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get(
        "/v1/packages", params={"status": "awaiting_receipt"}, headers=headers
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _package_events(session: AsyncSession, appeal_id: str) -> list[tuple[str, str, str]]:
    """(type, package id, office) of the appeal's package events."""
    return [
        (e["type"], e["data"]["package_id"], e["statsforvalter_office"])
        for e in await _events(session, appeal_id)
        if e["type"].startswith("package.")
    ]


async def test_a_package_waiting_when_the_first_is_rejected_as_incomplete_is_withdrawn(
    client: httpx.AsyncClient, auth: AuthHeaders, make_token: TokenFactory, session: AsyncSession
) -> None:
    appeal, initial, supplementary = await _forwarded_with_citizen_comment(client, auth, make_token)

    await _reject(client, auth, initial["id"], **INCOMPLETE)

    # The appeal is back with NAV: nobody is to receive the citizen's package, which leaves the
    # feed as withdrawn, announced; the package rejected stays rejected.
    read = (await client.get(f"/v1/packages/{supplementary['id']}", headers=auth())).json()
    assert read["status"] == "withdrawn"
    rejected = (await client.get(f"/v1/packages/{initial['id']}", headers=auth())).json()
    assert rejected["status"] == "rejected"
    assert await _waiting_ids(client, auth(org=SF_ROGALAND_ORG)) == []
    assert (await _package_events(session, appeal["id"]))[-2:] == [
        ("package.rejected", initial["id"], "sf-rogaland"),
        ("package.withdrawn", supplementary["id"], "sf-rogaland"),
    ]
    # Nothing of the citizen's is lost: NAV's next package carries the comment.
    again = await _post(client, f"/v1/appeals/{appeal['id']}/packages", auth())
    manifest = (await client.get(f"/v1/packages/{again['id']}", headers=auth())).json()["manifest"]
    assert supplementary["document_id"] in [d["id"] for d in manifest["documents"]]


async def test_a_receipt_for_a_package_withdrawn_with_an_incomplete_one_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, make_token: TokenFactory, session: AsyncSession
) -> None:
    _, initial, supplementary = await _forwarded_with_citizen_comment(client, auth, make_token)
    await _reject(client, auth, initial["id"], **INCOMPLETE)

    await _refused_as_withdrawn(client, auth, session, supplementary["id"])


async def test_a_package_waiting_when_the_first_is_rerouted_follows_it(
    client: httpx.AsyncClient, auth: AuthHeaders, make_token: TokenFactory, session: AsyncSession
) -> None:
    appeal, initial, supplementary = await _forwarded_with_citizen_comment(client, auth, make_token)

    await _reject(client, auth, initial["id"], **NOT_OURS)

    # Both leave the office that rejected the appeal and wait at the office it is for, each
    # announced as the first is: rejected to the one, forwarded (re-routed) to the other.
    assert await _waiting_ids(client, auth(org=SF_ROGALAND_ORG)) == []
    assert sorted(await _waiting_ids(client, auth(org=SF_OSLO_ORG))) == sorted(
        [initial["id"], supplementary["id"]]
    )
    assert (await _package_events(session, appeal["id"]))[-4:] == [
        ("package.rejected", initial["id"], "sf-rogaland"),
        ("package.forwarded", initial["id"], OSLO),
        ("package.rejected", supplementary["id"], "sf-rogaland"),
        ("package.forwarded", supplementary["id"], OSLO),
    ]
    # The office it is for receives both, NAV's first.
    await acknowledge(client, auth, initial["id"], org=SF_OSLO_ORG)
    received = await acknowledge(client, auth, supplementary["id"], org=SF_OSLO_ORG)
    assert (received["status"], received["statsforvalter_office_id"]) == ("received", OSLO)


async def test_a_refused_rejection_settles_nothing(
    client: httpx.AsyncClient, auth: AuthHeaders, make_token: TokenFactory, session: AsyncSession
) -> None:
    _, initial, supplementary = await _forwarded_with_citizen_comment(client, auth, make_token)
    events_before = await session.scalar(select(func.count()).select_from(Event))
    rows_before = [await _package_row(session, p["id"]) for p in (initial, supplementary)]

    # The package is settled before the step, which then refuses a time in the future.
    responses = [
        await client.post(
            f"/v1/packages/{initial['id']}/rejection",
            json={**body, "occurred_at": "2030-01-01T12:00:00Z"},
            headers=auth(org=SF_ROGALAND_ORG),
        )
        for body in (INCOMPLETE, NOT_OURS)
    ]

    assert [(r.status_code, r.json()["code"]) for r in responses] == [
        (422, "validation_failed"),
        (422, "validation_failed"),
    ]
    assert await session.scalar(select(func.count()).select_from(Event)) == events_before
    assert [await _package_row(session, p["id"]) for p in (initial, supplementary)] == rows_before


async def test_nav_s_answer_waiting_when_the_appeal_is_withdrawn_is_withdrawn(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, fulfilled = await _answered(client, auth)

    await _post(client, f"/v1/appeals/{appeal['id']}/withdrawal", auth())

    read = (await client.get(f"/v1/packages/{fulfilled['id']}", headers=auth())).json()
    assert read["status"] == "withdrawn"
    assert (await _package_events(session, appeal["id"]))[-1] == (
        "package.withdrawn",
        fulfilled["id"],
        "sf-rogaland",
    )


async def _event_feed(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Json]:
    """Every event the caller's feed serves, paged to the end."""
    items: list[Json] = []
    cursor = None
    while True:
        params = {"after": cursor} if cursor else {}
        response = await client.get("/v1/events", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page["items"]:
            return items
        items.extend(page["items"])
        cursor = page["next_cursor"]


async def test_each_package_entering_a_feed_and_each_rejection_reach_their_readers(
    race_track: CommittedApp, auth: AuthHeaders, make_token: TokenFactory
) -> None:
    client = race_track.client
    # Sent back as incomplete with the citizen's comment waiting, and forwarded again.
    first, incomplete, comment = await _forwarded_with_citizen_comment(client, auth, make_token)
    await _reject(client, auth, incomplete["id"], **INCOMPLETE)
    again = await _post(client, f"/v1/appeals/{first['id']}/packages", auth())
    # NAV's answer to a documentation request.
    _, received, answered = await _answered(client, auth)
    # Re-routed with the citizen's comment waiting beside it.
    _, rerouted, followed = await _forwarded_with_citizen_comment(client, auth, make_token)
    await _reject(client, auth, rerouted["id"], **NOT_OURS)

    def seen(events: list[Json]) -> set[tuple[str, str, str | None]]:
        return {
            (e["type"], e["data"]["package_id"], e["data"].get("kind"))
            for e in events
            if e["type"] in ("package.forwarded", "package.rejected", "package.withdrawn")
        }

    nav = seen(await _event_feed(client, auth()))
    rogaland = seen(await _event_feed(client, auth(org=SF_ROGALAND_ORG)))
    oslo = seen(await _event_feed(client, auth(org=SF_OSLO_ORG)))

    entered_rogaland = {
        ("package.forwarded", incomplete["id"], "initial"),
        ("package.forwarded", comment["id"], "supplementary"),
        ("package.forwarded", again["id"], "initial"),
        ("package.forwarded", received["id"], "initial"),
        ("package.forwarded", answered["id"], "supplementary"),
        ("package.forwarded", rerouted["id"], "initial"),
        ("package.forwarded", followed["id"], "supplementary"),
    }
    entered_oslo = {
        ("package.forwarded", rerouted["id"], "rerouted"),
        ("package.forwarded", followed["id"], "rerouted"),
    }
    told_rogaland = {
        ("package.rejected", incomplete["id"], None),
        ("package.withdrawn", comment["id"], None),
        ("package.rejected", rerouted["id"], "rerouted"),
        ("package.rejected", followed["id"], "rerouted"),
    }
    assert rogaland == entered_rogaland | told_rogaland
    assert oslo == entered_oslo
    assert nav == entered_rogaland | entered_oslo | told_rogaland
