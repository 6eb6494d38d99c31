"""The retention job, with a fixed clock, on both blob stores: a finished appeal past the period
loses its documents (rows and bytes) and its personal data, keeps what the statistics and the
event feed read, and is audited and announced; a blob another appeal still has stays."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from klageapi.core.clock import FixedClock
from klageapi.models import AuditEntry, CasePackage, DocumentationRequest, Event
from klageapi.retention.service import ERASED_EVENT, Erased
from tests.factories import NATIONAL_ID
from tests.journey import (
    AuthHeaders,
    Json,
    acknowledge,
    forwarded,
    pdf,
    register,
    sha256,
    upload,
)
from tests.retention.conftest import (
    DAYS,
    Backend,
    appeal_row,
    document_count,
    erase,
    withdraw,
)

SF = "922222223"


async def _statistics(client: httpx.AsyncClient, auth: AuthHeaders) -> Json:
    response = await client.get(
        "/v1/statistics/processing-times",
        params={"from": "2026-01-01", "to": "2026-12-31", "group_by": "nav_office"},
        headers=auth(scope="klageapi:admin"),
    )
    assert response.status_code == 200, response.text
    body: Json = response.json()
    # The populations of the period; the open backlog is counted at the request's moment.
    return {
        group["key"]: {"received": group["received"], "decided": group["decided"]}
        for group in [*body["groups"], body["total"]]
    }


async def test_a_finished_appeal_past_the_period_is_erased_and_a_shared_blob_stays(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    backend: Backend,
) -> None:
    # Appeal A: forwarded, received by the Statsforvalter, then withdrawn; one of its
    # documents has the same bytes as a document of appeal B, which stays open.
    shared = pdf(6000)
    appeal, documents, package = await forwarded(client, auth)
    own = [document["sha256"] for document in documents]
    await upload(client, auth, appeal["id"], category="supporting_document", data=shared)
    await acknowledge(client, auth, package["id"])
    other = await register(client, auth)
    await upload(client, auth, other["id"], category="appeal", data=shared)
    await withdraw(client, auth, appeal["id"])
    statistics = await _statistics(client, auth)

    clock.advance(dt.timedelta(days=DAYS - 1))
    assert await erase(sessions, backend.store, clock) == Erased()
    assert (await appeal_row(session, appeal["id"])).national_id == NATIONAL_ID

    clock.advance(dt.timedelta(days=1))
    erased = await erase(sessions, backend.store, clock)

    assert erased == Erased(appeals=1, documents=len(documents) + 1, blobs=len(own))
    row = await appeal_row(session, appeal["id"])
    assert (row.national_id, row.grounds, row.nav_reasoning) == (None, "", None)
    assert row.personal_data_erased_at == clock.now()
    assert await document_count(session, appeal["id"]) == 0
    assert not any(backend.holds(digest) for digest in own)
    assert backend.holds(sha256(shared))  # appeal B still has it
    manifest = (
        await session.scalars(
            select(CasePackage.manifest).where(CasePackage.id == uuid.UUID(package["id"]))
        )
    ).one()
    assert NATIONAL_ID not in str(manifest)
    assert manifest["documents"] == []
    # What the statistics read is all there; the reads still answer, without the person.
    assert await _statistics(client, auth) == statistics
    read = await client.get(f"/v1/appeals/{appeal['id']}", headers=auth())
    assert read.status_code == 200, read.text
    assert (read.json()["status"], read.json()["national_id"]) == ("withdrawn", None)
    listed = await client.get(f"/v1/appeals/{appeal['id']}/documents", headers=auth())
    assert listed.json()["items"] == []
    manifest_read = await client.get(f"/v1/packages/{package['id']}", headers=auth())
    assert manifest_read.status_code == 200, manifest_read.text
    bundle = await client.get(f"/v1/packages/{package['id']}/bundle", headers=auth(org=SF))
    assert (bundle.status_code, bundle.json()["code"]) == (410, "package_erased")
    # Announced without personal data, and audited as the system's.
    events = (
        await session.scalars(
            select(Event).where(
                Event.appeal_id == uuid.UUID(appeal["id"]), Event.type == ERASED_EVENT
            )
        )
    ).all()
    assert [(event.status, event.data) for event in events] == [
        ("withdrawn", {"retention_days": DAYS, "documents": len(documents) + 1})
    ]
    audit = (
        await session.scalars(
            select(AuditEntry).where(
                AuditEntry.appeal_id == uuid.UUID(appeal["id"]), AuditEntry.action == ERASED_EVENT
            )
        )
    ).all()
    assert [(entry.actor_kind, entry.actor_organisation) for entry in audit] == [("system", None)]
    # Appeal B is untouched, and erasing again finds nothing.
    assert (await appeal_row(session, other["id"])).national_id == NATIONAL_ID
    assert await document_count(session, other["id"]) == 1
    assert await erase(sessions, backend.store, clock) == Erased()

    # Once B is finished and its period has passed, the shared blob goes too.
    await withdraw(client, auth, other["id"])
    clock.advance(dt.timedelta(days=DAYS))
    assert await erase(sessions, backend.store, clock) == Erased(appeals=1, documents=1, blobs=1)
    assert not backend.holds(sha256(shared))


async def test_an_open_appeal_and_its_documentation_request_are_never_erased(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    backend: Backend,
) -> None:
    appeal, _, package = await forwarded(client, auth)
    await acknowledge(client, auth, package["id"])
    response = await client.post(
        f"/v1/appeals/{appeal['id']}/statsforvalter-review", headers=auth(org="922222223")
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        f"/v1/appeals/{appeal['id']}/documentation-requests",
        json={"description": "Send husleiekontrakten.", "due_on": "2026-11-20"},
        headers=auth(org="922222223"),
    )
    assert response.status_code == 201, response.text

    clock.advance(dt.timedelta(days=10 * DAYS))

    assert await erase(sessions, backend.store, clock) == Erased()
    assert (await appeal_row(session, appeal["id"])).national_id == NATIONAL_ID
    descriptions = (
        await session.scalars(
            select(DocumentationRequest.description).where(
                DocumentationRequest.appeal_id == uuid.UUID(appeal["id"])
            )
        )
    ).all()
    assert descriptions == ["Send husleiekontrakten."]
