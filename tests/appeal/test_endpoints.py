"""POST and GET /v1/appeals over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import Appeal, AppealHistory, AuditEntry
from tests.conftest import NAV_OSLO_ORG, SF_ROGALAND_ORG
from tests.factories import D_NUMBER, appeal_body, count, make_appeal

AuthHeaders = Callable[..., dict[str, str]]


async def test_register_appeal_returns_it_routed_with_deadline(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post("/v1/appeals", json=appeal_body(), headers=auth())

    assert response.status_code == 201, response.text
    appeal = response.json()
    assert appeal["status"] == "received"
    assert appeal["nav_status"] == "MOTTATT"
    assert appeal["statsforvalter_office_id"] == "sf-rogaland"
    assert appeal["appeal_deadline_on"] == "2026-10-23"
    assert appeal["late"] is False
    assert response.headers["location"] == f"/v1/appeals/{appeal['id']}"
    assert response.headers["etag"] == '"1"'
    history = (await session.scalars(select(AppealHistory))).all()
    assert [(row.from_status, row.to_status) for row in history] == [(None, "received")]


async def test_appeal_received_after_the_deadline_is_accepted_and_flagged_late(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.post(
        "/v1/appeals", json=appeal_body(received_on="2026-10-26"), headers=auth()
    )

    assert response.status_code == 201
    assert response.json()["late"] is True


async def test_deadline_on_a_holiday_moves_to_the_next_working_day(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    # Notified 2026-04-26; three weeks later is Sunday 17 May (also Constitution Day).
    decision = {"reference": "V-1", "decided_on": "2026-04-24", "notified_on": "2026-04-26"}
    response = await client.post(
        "/v1/appeals",
        json=appeal_body(decision=decision, received_on="2026-05-18"),
        headers=auth(),
    )

    assert response.json()["appeal_deadline_on"] == "2026-05-18"
    assert response.json()["late"] is False


async def test_d_number_is_accepted(client: httpx.AsyncClient, auth: AuthHeaders) -> None:
    response = await client.post(
        "/v1/appeals", json=appeal_body(national_id=D_NUMBER), headers=auth()
    )

    assert response.status_code == 201


async def test_national_id_with_wrong_check_digits_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post(
        "/v1/appeals", json=appeal_body(national_id="15076500566"), headers=auth()
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert [error["field"] for error in problem["errors"]] == ["national_id"]
    assert "15076500566" not in response.text
    assert await count(session, Appeal) == 0


async def test_get_appeal_returns_it_with_etag_and_audits_the_read(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)

    response = await client.get(f"/v1/appeals/{appeal.id}", headers=auth(scope="klageapi:read"))

    assert response.status_code == 200
    assert response.json()["id"] == str(appeal.id)
    assert response.headers["etag"] == '"1"'
    entries = (await session.scalars(select(AuditEntry))).all()
    assert [(e.action, e.appeal_id, e.actor_organisation) for e in entries] == [
        ("appeal.read", appeal.id, "0192:977777771")
    ]


async def test_another_nav_offices_appeal_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)

    response = await client.get(f"/v1/appeals/{appeal.id}", headers=auth(org=NAV_OSLO_ORG))

    assert response.status_code == 404
    assert response.json()["code"] == "appeal_not_found"
    assert await count(session, AuditEntry) == 0


async def test_statsforvalter_does_not_see_an_appeal_before_it_is_forwarded(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)

    response = await client.get(f"/v1/appeals/{appeal.id}", headers=auth(org=SF_ROGALAND_ORG))

    assert response.status_code == 404


async def test_a_retry_without_nav_s_links_matches_and_one_with_them_conflicts(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    body = appeal_body()
    first = await client.post("/v1/appeals", json=body, headers=auth())
    again = await client.post("/v1/appeals", json=body, headers=auth())
    conflicting = await client.post(
        "/v1/appeals", json={**body, "digisos_case_id": "abc"}, headers=auth()
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert conflicting.status_code == 409, conflicting.text
