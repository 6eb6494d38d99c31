"""The appeal body's checklist at forwarding: the documents by what the decision was about, the
facts the forwarding forms ask for, and urgent packages first in the feed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.clock import FixedClock
from klageapi.models import Appeal, CasePackage, Event
from tests.conftest import SF_ROGALAND_ORG
from tests.factories import appeal_body
from tests.journey import (
    REQUIRED,
    AuthHeaders,
    Json,
    events_of,
    forward,
    ready_to_forward,
    record_nav_outcome,
    register,
    start_nav_review,
    upload,
)

FACTS = {
    "urgent": True,
    "urgent_reason": "eviction",
    "deferred_enforcement_requested": True,
    "case_presentation_sent_on": "2026-10-20",
    "comment_deadline_on": "2026-10-30",
    "other_appeal_pending": False,
    "children_affected": True,
    "children_needs_assessed": True,
}


async def _counts(session: AsyncSession) -> tuple[int | None, ...]:
    return tuple(
        [await session.scalar(select(func.count()).select_from(m)) for m in (CasePackage, Event)]
    )


async def _with_outcome(client: httpx.AsyncClient, auth: AuthHeaders, **overrides: Any) -> Json:
    appeal = await register(client, auth, **overrides)
    await start_nav_review(client, auth, appeal["id"])
    return appeal


async def test_a_refund_claim_needs_the_refund_checklist_s_documents(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    decision = {
        "reference": "VEDTAK-REFUSJON-1",
        "decided_on": "2026-10-01",
        "notified_on": "2026-10-02",
        "legal_basis": "refund_claim",
    }
    appeal = await _with_outcome(client, auth, decision=decision)
    for category in ("appeal", "decision", "forwarding_letter"):
        await upload(client, auth, appeal["id"], category=category)
    await record_nav_outcome(client, auth, appeal["id"])
    before = await _counts(session)

    refused = await client.post(f"/v1/appeals/{appeal['id']}/packages", headers=auth())

    assert (refused.status_code, refused.json()["code"]) == (422, "required_documents_missing")
    assert refused.json()["missing_categories"] == ["advance_notice", "settlement_list"]
    assert await _counts(session) == before
    for category in ("advance_notice", "settlement_list"):
        await upload(client, auth, appeal["id"], category=category)
    package = await forward(client, auth, appeal["id"])
    assert package["manifest"]["appeal"]["decision"]["legal_basis"] == "refund_claim"


async def test_an_appeal_on_economic_assistance_needs_the_application(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await _with_outcome(client, auth)
    for category in REQUIRED:
        if category != "application":
            await upload(client, auth, appeal["id"], category=category)
    await record_nav_outcome(client, auth, appeal["id"])

    refused = await client.post(f"/v1/appeals/{appeal['id']}/packages", headers=auth())

    assert refused.status_code == 422, refused.text
    assert refused.json()["missing_categories"] == ["application"]
    read = await client.get(f"/v1/appeals/{appeal['id']}", headers=auth())
    assert read.json()["decision"]["legal_basis"] == "economic_assistance"


async def test_a_legal_basis_outside_the_set_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    before = await session.scalar(select(func.count()).select_from(Appeal))
    decision = {
        "reference": "V-1",
        "decided_on": "2026-10-01",
        "notified_on": "2026-10-02",
        "legal_basis": "housing_benefit",
    }
    response = await client.post("/v1/appeals", json=appeal_body(decision=decision), headers=auth())

    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["decision.legal_basis"]
    assert await session.scalar(select(func.count()).select_from(Appeal)) == before


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        ({"urgent": True}, "urgent_reason"),
        ({"urgent": False, "urgent_reason": "eviction"}, "urgent_reason"),
        ({"urgent": True, "urgent_reason": "flood"}, "urgent_reason"),
        (
            {"case_presentation_sent_on": "2026-10-20", "comment_deadline_on": "2026-10-19"},
            "comment_deadline_on",
        ),
    ],
)
async def test_forwarding_facts_that_do_not_hold_together_are_refused(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    facts: dict[str, Any],
    field: str,
) -> None:
    appeal, _ = await ready_to_forward(client, auth)
    before = await _counts(session)

    response = await client.post(f"/v1/appeals/{appeal['id']}/packages", json=facts, headers=auth())

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert await _counts(session) == before


async def test_the_forwarding_form_s_facts_are_in_the_manifest_and_the_urgency_in_the_event(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _ = await ready_to_forward(client, auth)

    response = await client.post(f"/v1/appeals/{appeal['id']}/packages", json=FACTS, headers=auth())

    assert response.status_code == 201, response.text
    package = response.json()
    read = await client.get(f"/v1/packages/{package['id']}", headers=auth(org=SF_ROGALAND_ORG))
    assert read.json()["manifest"]["forwarding"] == FACTS
    assert (read.json()["urgent"], read.json()["urgent_reason"]) == (True, "eviction")
    (forwarded_event,) = [
        e for e in await events_of(session, appeal["id"]) if e.type == "package.forwarded"
    ]
    assert forwarded_event.data["urgent"] is True


async def test_urgent_packages_come_first_in_the_feed_and_pages_follow_that_order(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    ids = []
    for urgent in (False, True, False, True):
        clock.advance(dt.timedelta(minutes=1))  # each forwarded later than the one before
        appeal, _ = await ready_to_forward(client, auth)
        body = {"urgent": True, "urgent_reason": "electricity_arrears"} if urgent else {}
        response = await client.post(
            f"/v1/appeals/{appeal['id']}/packages", json=body, headers=auth()
        )
        assert response.status_code == 201, response.text
        ids.append((urgent, response.json()["id"]))
    expected = [i for urgent, i in ids if urgent] + [i for urgent, i in ids if not urgent]

    whole = await client.get(
        "/v1/packages", params={"status": "awaiting_receipt"}, headers=auth(org=SF_ROGALAND_ORG)
    )
    mine = [p for p in whole.json()["items"] if p["id"] in expected]
    assert [p["id"] for p in mine] == expected
    assert [p["urgent"] for p in mine] == [True, True, False, False]

    paged: list[str] = []
    cursor = None
    while True:
        params = {"status": "awaiting_receipt", "limit": "1"}
        if cursor is not None:
            params["cursor"] = cursor
        page = await client.get("/v1/packages", params=params, headers=auth(org=SF_ROGALAND_ORG))
        assert page.status_code == 200, page.text
        paged += [p["id"] for p in page.json()["items"] if p["id"] in expected]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert paged == expected
