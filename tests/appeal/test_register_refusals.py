"""POST /v1/appeals: the refusals of `appeal.service.register`, and idempotent retries, including
two registrations racing each other in committed transactions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from klageapi.models import Appeal, AppealHistory, AuditEntry, NavOffice
from tests.conftest import NAV_OSLO_ORG, NAV_STAVANGER_ORG, CommittedApp
from tests.factories import NATIONAL_ID, OTHER_NATIONAL_ID, appeal_body, count

AuthHeaders = Callable[..., dict[str, str]]


def assert_problem(response: httpx.Response, *, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"urn:klageapi:problem:{code}"
    assert problem["instance"] == "/v1/appeals"
    assert problem["request_id"] == response.headers["x-request-id"]
    return problem


async def assert_nothing_stored(session: AsyncSession) -> None:
    assert await count(session, Appeal) == 0
    assert await count(session, AppealHistory) == 0
    assert await count(session, AuditEntry) == 0


async def audit_actions(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# The NAV office


async def test_office_of_another_organisation_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    # NAV Oslo's organisation does not act for NAV Stavanger (1103).
    response = await client.post("/v1/appeals", json=appeal_body(), headers=auth(org=NAV_OSLO_ORG))

    problem = assert_problem(response, status=404, code="nav_office_not_found")
    assert problem["unit_number"] == "1103"
    await assert_nothing_stored(session)


async def test_office_that_does_not_exist_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post(
        "/v1/appeals", json=appeal_body(nav_office_unit_number="9999"), headers=auth()
    )

    problem = assert_problem(response, status=404, code="nav_office_not_found")
    assert problem["unit_number"] == "9999"
    await assert_nothing_stored(session)


async def test_another_organisations_office_reads_like_one_that_does_not_exist(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    existing = await client.post(
        "/v1/appeals",
        json=appeal_body(nav_office_unit_number="1103"),
        headers=auth(org=NAV_OSLO_ORG),
    )
    missing = await client.post(
        "/v1/appeals",
        json=appeal_body(nav_office_unit_number="9999"),
        headers=auth(org=NAV_OSLO_ORG),
    )

    def shape(response: httpx.Response) -> dict[str, Any]:
        problem: dict[str, Any] = response.json()
        return {
            key: value.replace("1103", "<unit>").replace("9999", "<unit>")
            if isinstance(value, str)
            else value
            for key, value in problem.items()
            if key != "request_id"
        }

    assert (existing.status_code, shape(existing)) == (missing.status_code, shape(missing))


# The municipality


async def test_municipality_the_office_does_not_serve_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    # 0301 (Oslo) is a real, routable municipality, but NAV Stavanger does not serve it.
    response = await client.post(
        "/v1/appeals", json=appeal_body(municipality_number="0301"), headers=auth()
    )

    problem = assert_problem(response, status=422, code="municipality_not_served")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("municipality_number", "municipality_not_served")
    ]
    await assert_nothing_stored(session)


async def test_municipality_in_an_unknown_county_is_not_served_by_the_office(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post(
        "/v1/appeals", json=appeal_body(municipality_number="9901"), headers=auth()
    )

    assert_problem(response, status=422, code="municipality_not_served")
    await assert_nothing_stored(session)


async def test_served_municipality_in_a_county_without_a_route_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    # An office whose registry entry names a municipality in county 99, which nothing routes.
    session.add(
        NavOffice(
            unit_number="1199",
            name="NAV Grenseland (test)",
            organisation_number=NAV_STAVANGER_ORG,
            municipality_numbers=["1103", "9901"],
        )
    )
    await session.flush()

    response = await client.post(
        "/v1/appeals",
        json=appeal_body(nav_office_unit_number="1199", municipality_number="9901"),
        headers=auth(),
    )

    problem = assert_problem(response, status=422, code="unknown_county")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("municipality_number", "unknown_county")
    ]
    await assert_nothing_stored(session)


# Idempotency


async def test_same_reference_and_content_again_returns_the_same_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    body = appeal_body()
    first = await client.post("/v1/appeals", json=body, headers=auth())

    again = await client.post("/v1/appeals", json=body, headers=auth())

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.headers["location"] == f"/v1/appeals/{first.json()['id']}"
    assert again.headers["etag"] == '"1"'
    assert await count(session, Appeal) == 1
    assert await count(session, AppealHistory) == 1
    assert await audit_actions(session) == ["appeal.register", "appeal.register_repeated"]


async def test_retry_with_the_fields_in_another_order_is_the_same_content(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    body = appeal_body()
    first = await client.post("/v1/appeals", json=body, headers=auth())
    reordered = {key: body[key] for key in reversed(body)}
    reordered["decision"] = {key: body["decision"][key] for key in reversed(body["decision"])}

    again = await client.post(
        "/v1/appeals",
        content=json.dumps(reordered, indent=2).encode(),
        headers={**auth(), "content-type": "application/json"},
    )

    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert await count(session, Appeal) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"grounds": "Andre grunner."},
        {"national_id": OTHER_NATIONAL_ID},
        {"received_on": "2026-10-16"},
        {"channel": "paper"},
        {"decision": {"reference": "V-2", "decided_on": "2026-10-01", "notified_on": "2026-10-02"}},
    ],
    ids=["grounds", "national_id", "received_on", "channel", "decision"],
)
async def test_same_reference_with_different_content_is_a_conflict(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, change: dict[str, Any]
) -> None:
    body = appeal_body()
    first = await client.post("/v1/appeals", json=body, headers=auth())

    response = await client.post("/v1/appeals", json={**body, **change}, headers=auth())

    problem = assert_problem(response, status=409, code="external_reference_conflict")
    assert problem["existing_appeal_id"] == first.json()["id"]
    assert NATIONAL_ID not in response.text
    assert OTHER_NATIONAL_ID not in response.text
    stored = (await session.scalars(select(Appeal))).one()
    assert (stored.grounds, stored.national_id, stored.version) == (
        body["grounds"],
        NATIONAL_ID,
        1,
    )
    assert await count(session, AppealHistory) == 1
    assert await audit_actions(session) == ["appeal.register"]


async def test_same_reference_at_another_office_is_another_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    stavanger = await client.post(
        "/v1/appeals", json=appeal_body(external_reference="SAK-1"), headers=auth()
    )

    oslo = await client.post(
        "/v1/appeals",
        json=appeal_body(
            external_reference="SAK-1", nav_office_unit_number="0301", municipality_number="0301"
        ),
        headers=auth(org=NAV_OSLO_ORG),
    )

    assert (stavanger.status_code, oslo.status_code) == (201, 201), oslo.text
    assert stavanger.json()["id"] != oslo.json()["id"]
    assert oslo.json()["statsforvalter_office_id"] == "sf-oslo-akershus-ostfold-buskerud"
    assert await count(session, Appeal) == 2


# Races, in committed transactions on a database of their own


async def _waiting_for_locks(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(waiting or 0)


async def _register_at_once(
    track: CommittedApp, bodies: list[dict[str, Any]], headers: dict[str, str]
) -> list[httpx.Response]:
    """Send the registrations together, and hold every one of them just before its INSERT until
    all have looked for an existing appeal and found none: the race, every time."""
    async with track.engine.connect() as locker:
        # SHARE mode lets the registrations read the table but not insert into it.
        await locker.execute(text("LOCK TABLE appeal IN SHARE MODE"))
        requests = asyncio.gather(
            *(track.client.post("/v1/appeals", json=body, headers=headers) for body in bodies)
        )
        try:
            for _ in range(1000):
                if await _waiting_for_locks(track.engine) == len(bodies):
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("the registrations never all reached their INSERT")
        finally:
            await locker.rollback()
        async with asyncio.timeout(20):
            return await requests


async def _stored(engine: AsyncEngine) -> tuple[list[Appeal], int, list[str]]:
    async with AsyncSession(engine) as session:
        appeals = list(await session.scalars(select(Appeal)))
        history = int(await session.scalar(select(func.count()).select_from(AppealHistory)) or 0)
        actions = sorted(await session.scalars(select(AuditEntry.action)))
    return appeals, history, actions


async def test_two_identical_registrations_at_once_store_one_appeal(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    body = appeal_body()

    responses = await _register_at_once(race_track, [body, body], auth())

    assert sorted(r.status_code for r in responses) == [200, 201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    appeals, history, actions = await _stored(race_track.engine)
    assert [str(appeal.id) for appeal in appeals] == [responses[0].json()["id"]]
    assert history == 1
    assert actions == ["appeal.register", "appeal.register_repeated"]


async def test_two_different_registrations_of_one_reference_at_once_store_one_appeal(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    body = appeal_body()
    other = {**body, "grounds": "Andre grunner."}

    responses = await _register_at_once(race_track, [body, other], auth())

    by_status = {r.status_code: r for r in responses}
    assert sorted(by_status) == [201, 409], [r.text for r in responses]
    winner = by_status[201].json()
    assert_problem(by_status[409], status=409, code="external_reference_conflict")
    assert by_status[409].json()["existing_appeal_id"] == winner["id"]
    appeals, history, actions = await _stored(race_track.engine)
    assert [(str(a.id), a.grounds) for a in appeals] == [(winner["id"], winner["grounds"])]
    assert history == 1
    assert actions == ["appeal.register"]


async def test_many_identical_registrations_at_once_all_answer_the_same_appeal(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    body = appeal_body()

    responses = await asyncio.gather(
        *(race_track.client.post("/v1/appeals", json=body, headers=auth()) for _ in range(8))
    )

    assert sorted(r.status_code for r in responses) == [200] * 7 + [201], [
        r.text for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    appeals, history, _ = await _stored(race_track.engine)
    assert (len(appeals), history) == (1, 1)
