"""An appeal's journey over HTTP, step by step, for the document and case package tests: each
step asserts it succeeded and returns the response body."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import Event
from tests.conftest import NAV_STAVANGER_ORG, SF_ROGALAND_ORG
from tests.factories import NATIONAL_ID, appeal_body

AuthHeaders = Callable[..., dict[str, str]]
Json = dict[str, Any]

SF_OSLO_ORG = "933333337"  # sf-oslo-akershus-ostfold-buskerud in the demo registry
# What forwarding an appeal on economic assistance (the default legal basis) requires.
REQUIRED = ("appeal", "decision", "forwarding_letter", "application")

PDF_MAGIC = b"%PDF-1.7\n"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def pdf(size: int = 4096) -> bytes:
    """A PDF-looking file with random, so never before stored, content."""
    return PDF_MAGIC + os.urandom(size - len(PDF_MAGIC))


def png(size: int = 4096) -> bytes:
    return PNG_MAGIC + os.urandom(size - len(PNG_MAGIC))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_digest(data: bytes) -> str:
    """An RFC 9530 Content-Digest header value for `data`."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def blob_files(root: Path) -> set[str]:
    """Every file a FilesystemBlobStore rooted at `root` holds, blobs and temporary files."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


async def events_of(session: AsyncSession, appeal_id: str | uuid.UUID) -> list[Event]:
    query = select(Event).where(Event.appeal_id == uuid.UUID(str(appeal_id))).order_by(Event.id)
    return list((await session.scalars(query)).all())


def carries_national_id(event: Event) -> bool:
    """Whether the event's payload names the citizen (its other columns are ids and codes)."""
    return NATIONAL_ID in json.dumps(event.data)


async def register(client: httpx.AsyncClient, auth: AuthHeaders, **overrides: Any) -> Json:
    response = await client.post("/v1/appeals", json=appeal_body(**overrides), headers=auth())
    assert response.status_code == 201, response.text
    appeal: Json = response.json()
    return appeal


async def send_document(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    appeal_id: str,
    *,
    category: str,
    data: bytes | None = None,
    media_type: str = "application/pdf",
    org: str = NAV_STAVANGER_ORG,
) -> httpx.Response:
    """One document sent over HTTP; the answer, whatever it is."""
    return await client.post(
        f"/v1/appeals/{appeal_id}/documents",
        params={"category": category, "title": f"{category} document", "file_name": "x.pdf"},
        content=pdf() if data is None else data,
        headers={**auth(org=org), "Content-Type": media_type},
    )


async def upload(
    client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str, **options: Any
) -> Json:
    """One document uploaded over HTTP (options as `send_document`'s); the created document."""
    response = await send_document(client, auth, appeal_id, **options)
    assert response.status_code == 201, response.text
    document: Json = response.json()
    return document


async def start_nav_review(client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str) -> Json:
    response = await client.post(f"/v1/appeals/{appeal_id}/nav-review", headers=auth())
    assert response.status_code == 200, response.text
    appeal: Json = response.json()
    return appeal


async def record_nav_outcome(
    client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str, *, outcome: str = "upheld"
) -> Json:
    current = await client.get(f"/v1/appeals/{appeal_id}", headers=auth())
    response = await client.post(
        f"/v1/appeals/{appeal_id}/nav-outcome",
        json={"outcome": outcome, "decided_on": "2026-11-02", "reasoning": "Vedtaket står."},
        headers={**auth(), "If-Match": current.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    appeal: Json = response.json()
    return appeal


async def ready_to_forward(client: httpx.AsyncClient, auth: AuthHeaders) -> tuple[Json, list[Json]]:
    """An appeal under NAV's review with its outcome (upheld) and the three required documents."""
    appeal = await register(client, auth)
    await start_nav_review(client, auth, appeal["id"])
    documents = [await upload(client, auth, appeal["id"], category=c) for c in REQUIRED]
    appeal = await record_nav_outcome(client, auth, appeal["id"])
    return appeal, documents


async def forward(client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str) -> Json:
    response = await client.post(f"/v1/appeals/{appeal_id}/packages", headers=auth())
    assert response.status_code == 201, response.text
    package: Json = response.json()
    return package


async def forwarded(client: httpx.AsyncClient, auth: AuthHeaders) -> tuple[Json, list[Json], Json]:
    """An appeal forwarded to sf-rogaland: the appeal (as before forwarding), its documents and
    its package."""
    appeal, documents = await ready_to_forward(client, auth)
    package = await forward(client, auth, appeal["id"])
    return appeal, documents, package


async def acknowledge(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    package_id: str,
    *,
    case_number: str = "2026/1234",
    org: str = SF_ROGALAND_ORG,
) -> Json:
    response = await client.post(
        f"/v1/packages/{package_id}/receipt",
        json={"statsforvalter_case_number": case_number},
        headers=auth(org=org),
    )
    assert response.status_code == 200, response.text
    package: Json = response.json()
    return package


async def start_statsforvalter_review(
    client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str, *, org: str = SF_ROGALAND_ORG
) -> Json:
    response = await client.post(
        f"/v1/appeals/{appeal_id}/statsforvalter-review", headers=auth(org=org)
    )
    assert response.status_code == 200, response.text
    appeal: Json = response.json()
    return appeal


async def under_statsforvalter_review(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> tuple[Json, list[Json], Json]:
    """An appeal sf-rogaland has received and started work on."""
    appeal, documents, package = await forwarded(client, auth)
    package = await acknowledge(client, auth, package["id"])
    await start_statsforvalter_review(client, auth, appeal["id"])
    return appeal, documents, package


async def request_documentation(
    client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str, *, due_on: str = "2026-11-16"
) -> Json:
    response = await client.post(
        f"/v1/appeals/{appeal_id}/documentation-requests",
        json={"description": "Send husleiekontrakten.", "due_on": due_on},
        headers=auth(org=SF_ROGALAND_ORG),
    )
    assert response.status_code == 201, response.text
    request: Json = response.json()
    return request


async def decide(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    appeal_id: str,
    *,
    outcome: str = "upheld",
    org: str = SF_ROGALAND_ORG,
) -> Json:
    """The Statsforvalter uploads its decision letter and decides; returns the letter."""
    letter = await upload(client, auth, appeal_id, category="statsforvalter_decision", org=org)
    current = await client.get(f"/v1/appeals/{appeal_id}", headers=auth(org=org))
    response = await client.post(
        f"/v1/appeals/{appeal_id}/decision",
        json={"outcome": outcome, "decided_on": "2026-11-02", "document_id": letter["id"]},
        headers={**auth(org=org), "If-Match": current.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    return letter
