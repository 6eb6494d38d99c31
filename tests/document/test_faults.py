"""A document store that goes away: uploads and downloads meanwhile get 503
storage_unavailable with Retry-After within seconds (never a 500), nothing is kept of a refused
upload, and the same app serves again once the store is back.

The store is a SeaweedFS of the test's own, killed and started again on the same ports and
data: the run's is shared by every test."""

from __future__ import annotations

import time
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.document.seaweedfs import SeaweedFSProcess
from klageapi.models import Document, Event
from tests.journey import AuthHeaders, content_digest, pdf, register, sha256, upload


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "storage_unavailable"


async def _count(session: AsyncSession, model: type[Document] | type[Event]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_while_the_store_is_away_uploads_and_downloads_get_503_and_it_recovers(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    auth: AuthHeaders,
    own_seaweedfs: SeaweedFSProcess,
) -> None:
    prefix = f"faults-{uuid.uuid4().hex}"
    app.state.blob_store = own_seaweedfs.store.blob_store(prefix=prefix)
    appeal = await register(client, auth)
    kept = pdf(50_000)
    document = await upload(client, auth, appeal["id"], category="appeal", data=kept)
    documents, events = await _count(session, Document), await _count(session, Event)
    refused = pdf(70_000)

    own_seaweedfs.kill()
    began = time.monotonic()
    sent = await client.post(
        f"/v1/appeals/{appeal['id']}/documents",
        params={"category": "decision", "title": "Vedtak", "file_name": "vedtak.pdf"},
        content=refused,
        headers={
            **auth(),
            "Content-Type": "application/pdf",
            "Content-Digest": content_digest(refused),
        },
    )
    read = await client.get(f"/v1/documents/{document['id']}/content", headers=auth())
    elapsed = time.monotonic() - began

    _assert_unavailable(sent)
    _assert_unavailable(read)
    assert elapsed < 15, f"the 503s took {elapsed:.1f} s"
    assert (await _count(session, Document), await _count(session, Event)) == (documents, events)

    own_seaweedfs.start()
    again = await upload(client, auth, appeal["id"], category="decision", data=refused)
    assert again["sha256"] == sha256(refused)
    read = await client.get(f"/v1/documents/{document['id']}/content", headers=auth())
    assert (read.status_code, read.content) == (200, kept)
    assert sorted(own_seaweedfs.store.keys(prefix=prefix)) == sorted(
        f"sha256/{sha256(data)}" for data in (kept, refused)
    )
