"""GET /v1/audit-log for administrators."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import NAV_OSLO_ORG
from tests.factories import NATIONAL_ID, make_appeal

AuthHeaders = Callable[..., dict[str, str]]


async def _read(client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: object) -> None:
    response = await client.get(f"/v1/appeals/{appeal_id}", headers=auth(scope="klageapi:read"))
    assert response.status_code == 200


async def test_reads_of_an_appeal_are_listed_with_who_and_why(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)
    await _read(client, auth, appeal.id)

    response = await client.get(
        "/v1/audit-log", params={"appeal_id": str(appeal.id)}, headers=auth(scope="klageapi:admin")
    )

    assert response.status_code == 200
    [entry] = response.json()["items"]
    assert entry["action"] == "appeal.read"
    assert entry["actor_organisation"] == "0192:977777771"
    assert entry["actor_kind"] == "organisation"
    assert entry["purpose"] == "case processing"
    assert entry["request_id"]


async def test_filters_narrow_the_log(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    first = await make_appeal(session)
    second = await make_appeal(session)
    await _read(client, auth, first.id)
    await _read(client, auth, second.id)
    admin = auth(scope="klageapi:admin")

    by_appeal = await client.get(
        "/v1/audit-log", params={"appeal_id": str(second.id)}, headers=admin
    )
    by_other_org = await client.get(
        "/v1/audit-log", params={"actor_organisation": f"0192:{NAV_OSLO_ORG}"}, headers=admin
    )
    by_action = await client.get(
        "/v1/audit-log", params={"action": "appeal.register"}, headers=admin
    )

    assert [e["appeal_id"] for e in by_appeal.json()["items"]] == [str(second.id)]
    assert by_other_org.json()["items"] == []
    assert by_action.json()["items"] == []


async def test_pages_walk_the_whole_log_in_order(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)
    for _ in range(5):
        await _read(client, auth, appeal.id)
    admin = auth(scope="klageapi:admin")

    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/audit-log", params=params, headers=admin)).json()
        seen += [entry["id"] for entry in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == 5
    assert seen == sorted(seen)


async def test_a_cursor_from_another_list_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    admin = auth(scope="klageapi:admin")
    offices = (await client.get("/v1/offices/nav", params={"limit": 1}, headers=admin)).json()

    response = await client.get(
        "/v1/audit-log", params={"cursor": offices["next_cursor"]}, headers=admin
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


async def test_only_administrators_read_the_log(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.get("/v1/audit-log", headers=auth(scope="klageapi:read"))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


async def test_a_request_id_carrying_a_national_id_is_audited_and_echoed_without_it(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    # A case system may send its own case number, with the citizen's id in it, as X-Request-ID.
    appeal = await make_appeal(session)
    read = await client.get(
        f"/v1/appeals/{appeal.id}", headers={**auth(), "X-Request-ID": f"SAK-{NATIONAL_ID}"}
    )

    response = await client.get(
        "/v1/audit-log", params={"appeal_id": str(appeal.id)}, headers=auth(scope="klageapi:admin")
    )

    assert read.status_code == 200
    assert read.headers["x-request-id"] == "SAK-[redacted]"
    [entry] = response.json()["items"]
    assert entry["request_id"] == "SAK-[redacted]"
    assert NATIONAL_ID not in response.text
