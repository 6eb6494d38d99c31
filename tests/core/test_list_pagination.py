"""The lists that used to come whole are keyset-paginated like every other list: `limit`,
`cursor`, and `next_cursor` in the body (null on the last page), in a stable order, a cursor
from another list refused."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import DocumentationRequest, DocumentationRequestStatus, WebhookSubscription
from tests.conftest import SF_ROGALAND_ORG
from tests.journey import AuthHeaders, register, upload

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


async def _walk(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[list[str]]:
    """Every page of a list at two items a page: the ids of each."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10, "the cursor does not advance"


async def _refuses_another_lists_cursor(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], other_url: str
) -> None:
    other = await client.get(other_url, params={"limit": 1}, headers=headers)
    foreign = other.json()["next_cursor"]
    assert foreign is not None

    response = await client.get(url, params={"cursor": foreign}, headers=headers)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def _in_order(rows: list[tuple[dt.datetime, uuid.UUID]]) -> list[str]:
    return [str(row_id) for _, row_id in sorted(rows)]


async def test_an_appeals_documents_come_in_pages(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)
    uploaded = [
        await upload(client, auth, appeal["id"], category=category)
        for category in ("appeal", "decision", "forwarding_letter", "application", "journal_note")
    ]
    url = f"/v1/appeals/{appeal['id']}/documents"

    pages = await _walk(client, url, auth())

    assert [len(page) for page in pages] == [2, 2, 1]
    by_id = {document["id"]: document for document in uploaded}
    assert _flat(pages) == _in_order(
        [(dt.datetime.fromisoformat(by_id[i]["uploaded_at"]), uuid.UUID(i)) for i in by_id]
    )
    await register(client, auth, external_reference="SAK-2")  # a second appeal for the cursor
    await _refuses_another_lists_cursor(client, url, auth(), "/v1/appeals")


async def test_an_appeals_documentation_requests_come_in_pages(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)
    appeal_id = uuid.UUID(appeal["id"])
    # Two at the same moment: the id breaks the tie.
    times = [T0, T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=3)]
    requests = [
        DocumentationRequest(
            id=uuid.uuid4(),
            appeal_id=appeal_id,
            description="Kontoutskrifter",
            categories=["supporting_document"],
            due_on=dt.date(2026, 12, 1),
            status=DocumentationRequestStatus.open,
            requested_at=at,
            requested_by_organisation=f"0192:{SF_ROGALAND_ORG}",
        )
        for at in times
    ]
    session.add_all(requests)
    await session.flush()
    url = f"/v1/appeals/{appeal['id']}/documentation-requests"

    pages = await _walk(client, url, auth())

    assert [len(page) for page in pages] == [2, 2]
    assert _flat(pages) == _in_order([(r.requested_at, r.id) for r in requests])
    await register(client, auth, external_reference="SAK-2")  # a second appeal for the cursor
    await _refuses_another_lists_cursor(client, url, auth(), "/v1/appeals")


async def test_the_webhook_subscriptions_come_in_pages(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    owner = auth()
    mine = [_subscription("977777771", T0 + dt.timedelta(minutes=i % 2)) for i in range(3)]
    others = [_subscription("974444444", T0)]
    session.add_all([*mine, *others])
    await session.flush()
    url = "/v1/webhook-subscriptions"

    pages = await _walk(client, url, owner)

    assert [len(page) for page in pages] == [2, 1]
    assert _flat(pages) == _in_order([(s.created_at, s.id) for s in mine])
    await register(client, auth)
    await register(client, auth, external_reference="SAK-2")
    await _refuses_another_lists_cursor(client, url, owner, "/v1/appeals")


def _subscription(organisation_number: str, created_at: dt.datetime) -> WebhookSubscription:
    return WebhookSubscription(
        id=uuid.uuid4(),
        organisation_number=organisation_number,
        url="https://saksbehandling.example.no/klageapi",
        event_types=["appeal.received"],
        secret="whsec_" + "A" * 32,
        created_at=created_at,
    )


_flat: Callable[[list[list[str]]], list[str]] = lambda pages: [i for page in pages for i in page]  # noqa: E731
