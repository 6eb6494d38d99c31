"""Documents over HTTP: the streamed upload and its refusals, the list, and the content with
ranges, its ETag and the audit of every download."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import hypothesis
import pytest
from fastapi import FastAPI
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from klageapi.api.app import create_app, openapi_document
from klageapi.core.clock import FixedClock
from klageapi.core.config import Settings
from klageapi.document.seaweedfs import SeaweedFS
from klageapi.models import AuditEntry, Document, Event, IdempotencyRecord, IdempotencyState
from tests.conftest import (
    NAV_OSLO_ORG,
    NAV_STAVANGER_ORG,
    NOW,
    SF_ROGALAND_ORG,
    CommittedApp,
    on_the_test_transaction,
)
from tests.journey import (
    REQUIRED,
    AuthHeaders,
    Json,
    blob_files,
    carries_national_id,
    content_digest,
    events_of,
    forwarded,
    pdf,
    png,
    register,
    sha256,
    upload,
)

MiB = 1024 * 1024
JPEG = b"\xff\xd8\xff\xe0"
SMALL_LIMIT = 1024
STAVANGER = "0192:977777771"


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def blob_root(app: FastAPI) -> Path:
    """The folder of the app's filesystem blob store (shared by the whole run)."""
    root: Path = app.state.blob_store.root
    return root


@pytest.fixture
async def small_client(
    settings: Settings, engine: AsyncEngine, session: AsyncSession, clock: FixedClock
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with a document limit of SMALL_LIMIT bytes, on the test's
    transaction, as conftest's `app` is."""
    app = create_app(
        settings.model_copy(update={"document_max_bytes": SMALL_LIMIT}), engine=engine, clock=clock
    )

    on_the_test_transaction(app, session)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client:
        yield client
    await app.state.http_client.aclose()


async def _post(
    client: httpx.AsyncClient,
    appeal_id: str,
    content: bytes | AsyncIterator[bytes],
    *,
    headers: dict[str, str],
    category: str = "appeal",
) -> httpx.Response:
    return await client.post(
        f"/v1/appeals/{appeal_id}/documents",
        params={"category": category, "title": "Klagen", "file_name": "klage.pdf"},
        content=content,
        headers=headers,
    )


def _pdf_headers(auth: AuthHeaders, **extra: str) -> dict[str, str]:
    return {**auth(), "Content-Type": "application/pdf", **extra}


def _temp_sizes(blob_root: Path) -> list[int]:
    """The sizes of the store's temporary files: uploads under way."""
    return [path.stat().st_size for path in (blob_root / "tmp").iterdir()]


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _documents(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Document)) or 0)


async def _document_events(session: AsyncSession) -> int:
    query = select(func.count()).select_from(Event).where(Event.type == "document.added")
    return int(await session.scalar(query) or 0)


async def _downloads(session: AsyncSession) -> list[tuple[uuid.UUID | None, str | None]]:
    query = (
        select(AuditEntry.appeal_id, AuditEntry.actor_organisation)
        .where(AuditEntry.action == "document.download")
        .order_by(AuditEntry.id)
    )
    return [(appeal_id, actor) for appeal_id, actor in (await session.execute(query)).all()]


async def _nothing_stored(session: AsyncSession, blob_root: Path, blobs_before: set[str]) -> None:
    """A refused upload leaves no document, no event and no blob or temporary file."""
    assert await _documents(session) == 0
    assert await _document_events(session) == 0
    assert blob_files(blob_root) == blobs_before


async def _stored(client: httpx.AsyncClient, auth: AuthHeaders, data: bytes) -> Json:
    """A registered appeal with one uploaded PDF of `data`; returns the document."""
    appeal = await register(client, auth)
    return await upload(client, auth, appeal["id"], category="appeal", data=data)


# -- upload ----------------------------------------------------------------------------------


async def test_upload_returns_the_document_with_size_sha256_type_and_location(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)
    data = pdf(5000)

    response = await _post(client, appeal["id"], data, headers=_pdf_headers(auth))

    assert response.status_code == 201, response.text
    document = response.json()
    assert document["appeal_id"] == appeal["id"]
    assert (document["size"], document["sha256"]) == (5000, sha256(data))
    assert (document["media_type"], document["category"]) == ("application/pdf", "appeal")
    assert (document["title"], document["file_name"]) == ("Klagen", "klage.pdf")
    assert document["uploaded_by_organisation"] == STAVANGER
    assert response.headers["location"] == f"/v1/documents/{document['id']}/content"
    stored = await session.get(Document, uuid.UUID(document["id"]))
    assert stored is not None
    assert (stored.size, stored.sha256) == (5000, sha256(data))


async def test_upload_writes_a_document_added_event_without_the_national_id(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)

    document = await upload(client, auth, appeal["id"], category="decision")

    events = [e for e in await events_of(session, appeal["id"]) if e.type == "document.added"]
    assert [(e.data, e.status, e.statsforvalter_visible) for e in events] == [
        ({"document_id": document["id"], "category": "decision"}, "received", False)
    ]
    assert not carries_national_id(events[0])


async def test_a_multi_mib_upload_is_streamed_to_disk_while_it_arrives(
    client: httpx.AsyncClient, auth: AuthHeaders, blob_root: Path
) -> None:
    appeal = await register(client, auth)
    data = pdf(5 * MiB + 12_345)
    written_while_sending: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for sent, start in enumerate(range(0, len(data), 64 * 1024)):
            if sent == 48:  # 3 MiB sent: the server has written at least 2 of them already
                written_while_sending.extend(_temp_sizes(blob_root))
            yield data[start : start + 64 * 1024]

    response = await _post(client, appeal["id"], body(), headers=_pdf_headers(auth))

    assert response.status_code == 201, response.text
    assert response.request.headers.get("content-length") is None  # sent chunked
    assert (response.json()["size"], response.json()["sha256"]) == (len(data), sha256(data))
    assert any(size >= 2 * MiB for size in written_while_sending), written_while_sending
    content = await client.get(f"/v1/documents/{response.json()['id']}/content", headers=auth())
    assert content.content == data


async def test_identical_content_is_stored_once(
    client: httpx.AsyncClient, auth: AuthHeaders, blob_root: Path
) -> None:
    appeal = await register(client, auth)
    data = pdf()
    before = blob_files(blob_root)

    first = await upload(client, auth, appeal["id"], category="appeal", data=data)
    second = await upload(client, auth, appeal["id"], category="supporting_document", data=data)

    assert first["id"] != second["id"]
    assert first["sha256"] == second["sha256"] == sha256(data)
    digest = sha256(data)
    assert blob_files(blob_root) - before == {f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"}


async def test_a_matching_content_digest_is_accepted(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)
    data = pdf()

    response = await _post(
        client,
        appeal["id"],
        data,
        headers=_pdf_headers(auth, **{"Content-Digest": content_digest(data)}),
    )

    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == sha256(data)


async def _refused(
    client: httpx.AsyncClient,
    session: AsyncSession,
    blob_root: Path,
    appeal_id: str,
    content: bytes | AsyncIterator[bytes],
    *,
    headers: dict[str, str],
    category: str = "appeal",
) -> httpx.Response:
    """An upload that must be refused: sent, and checked to have stored nothing."""
    before = blob_files(blob_root)
    response = await _post(client, appeal_id, content, headers=headers, category=category)
    await _nothing_stored(session, blob_root, before)
    return response


@dataclass(frozen=True)
class _Refusal:
    """An upload to a new appeal of NAV Stavanger's and the refusal it gets."""

    status: int
    code: str
    content: Callable[[], bytes | AsyncIterator[bytes]] = pdf
    content_type: str | None = "application/pdf"
    headers: dict[str, str] = field(default_factory=dict)
    token: dict[str, str] = field(default_factory=dict)
    """The keyword arguments of the caller's token (`auth`)."""
    category: str = "appeal"
    fields: list[str] | None = None
    """The fields the problem's errors name."""


_REFUSALS = {
    "a content digest mismatch": _Refusal(
        422,
        "content_digest_mismatch",
        headers={"Content-Digest": content_digest(b"other bytes")},
        fields=["Content-Digest"],
    ),
    **{
        f"a malformed content digest ({why})": _Refusal(
            422, "validation_failed", headers={"Content-Digest": header}, fields=["Content-Digest"]
        )
        for why, header in [
            ("not a byte sequence", "sha-256=abc"),
            ("not 32 bytes", "sha-256=:bm90IDMyIGJ5dGVz:"),
            ("not base64", "sha-256=:!!!not-base64!!!:"),
        ]
    },
    "an upload without a content type is 415": _Refusal(
        415, "media_type_not_allowed", content_type=None
    ),
    "pdf bytes declared as png are 415": _Refusal(
        415, "media_type_mismatch", content_type="image/png"
    ),
    "a signature split over chunks is still checked": _Refusal(
        415,
        "media_type_mismatch",
        # the PNG signature broken off after six bytes
        content=lambda: _chunks(b"\x89PNG\r\n" + pdf(), 3),
        content_type="image/png",
    ),
    "an empty upload is 422": _Refusal(422, "empty_document", content=lambda: b""),
    "an upload to another office's appeal is not found": _Refusal(
        404, "appeal_not_found", token={"org": NAV_OSLO_ORG}
    ),
    "a read-only token may not upload": _Refusal(
        403, "insufficient_scope", token={"scope": "klageapi:read"}
    ),
    "an unknown category is 422": _Refusal(
        422, "validation_failed", category="love_letter", fields=["category"]
    ),
    "the statsforvalter may not upload before the appeal is forwarded": _Refusal(
        404,
        "appeal_not_found",
        token={"org": SF_ROGALAND_ORG},
        category="statsforvalter_decision",
    ),
}


@pytest.mark.parametrize("refusal", _REFUSALS.values(), ids=_REFUSALS.keys())
async def test_a_refused_upload_stores_nothing(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    blob_root: Path,
    refusal: _Refusal,
) -> None:
    appeal = await register(client, auth)
    headers = {**auth(**refusal.token), **refusal.headers}
    if refusal.content_type is not None:
        headers["Content-Type"] = refusal.content_type

    response = await _refused(
        client,
        session,
        blob_root,
        appeal["id"],
        refusal.content(),
        headers=headers,
        category=refusal.category,
    )

    assert response.status_code == refusal.status, response.text
    problem = response.json()
    assert problem["code"] == refusal.code
    if refusal.fields is not None:
        assert [e["field"] for e in problem["errors"]] == refusal.fields


@pytest.mark.parametrize(
    ("content", "declared"),
    [
        (lambda: pdf(SMALL_LIMIT + 1), None),
        (lambda: _chunks(pdf(4 * SMALL_LIMIT), 300), None),
        (lambda: _chunks(pdf(4 * SMALL_LIMIT), 300), "500"),
    ],
    ids=["its declared length", "streamed", "longer than its declared length"],
)
async def test_a_body_over_the_limit_is_refused_with_413(
    small_client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    blob_root: Path,
    content: Callable[[], bytes | AsyncIterator[bytes]],
    declared: str | None,
) -> None:
    appeal = await register(small_client, auth)
    headers = (
        _pdf_headers(auth)
        if declared is None
        else _pdf_headers(auth, **{"Content-Length": declared})
    )

    response = await _refused(
        small_client, session, blob_root, appeal["id"], content(), headers=headers
    )

    if declared is not None:
        assert response.request.headers["content-length"] == declared
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


@pytest.mark.parametrize("media_type", ["text/plain", "application/zip", "image/tiff"])
async def test_a_type_that_is_not_accepted_is_refused_with_415(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    blob_root: Path,
    media_type: str,
) -> None:
    appeal = await register(client, auth)

    response = await _refused(
        client,
        session,
        blob_root,
        appeal["id"],
        pdf(),
        headers={**auth(), "Content-Type": media_type},
    )

    assert response.status_code == 415
    problem = response.json()
    assert problem["code"] == "media_type_not_allowed"
    assert problem["accepted"] == ["application/pdf", "image/jpeg", "image/png"]


async def test_an_upload_to_an_unknown_appeal_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, blob_root: Path
) -> None:
    response = await _refused(
        client, session, blob_root, str(uuid.uuid4()), pdf(), headers=_pdf_headers(auth)
    )

    assert response.status_code == 404
    assert response.json()["code"] == "appeal_not_found"


async def test_a_body_at_the_limit_is_accepted(
    small_client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(small_client, auth)

    response = await _post(small_client, appeal["id"], pdf(SMALL_LIMIT), headers=_pdf_headers(auth))

    assert response.status_code == 201, response.text
    assert response.json()["size"] == SMALL_LIMIT


async def test_a_declared_type_with_parameters_is_judged_by_the_type(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)

    response = await _post(
        client, appeal["id"], png(), headers={**auth(), "Content-Type": "Image/PNG; q=1"}
    )

    assert response.status_code == 201, response.text
    assert response.json()["media_type"] == "image/png"


# -- the Statsforvalter's uploads ------------------------------------------------------------


async def test_statsforvalter_may_not_upload_navs_categories_to_a_forwarded_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, blob_root: Path
) -> None:
    appeal, _, _ = await forwarded(client, auth)
    documents, events = await _documents(session), await _document_events(session)
    before = blob_files(blob_root)

    response = await _post(
        client,
        appeal["id"],
        pdf(),
        headers={**auth(org=SF_ROGALAND_ORG), "Content-Type": "application/pdf"},
        category="appeal",
    )

    assert response.status_code == 404
    assert response.json()["code"] == "appeal_not_found"
    assert (await _documents(session), await _document_events(session)) == (documents, events)
    assert blob_files(blob_root) == before


async def test_statsforvalter_uploads_its_decision_to_a_forwarded_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, _ = await forwarded(client, auth)

    document = await upload(
        client, auth, appeal["id"], category="statsforvalter_decision", org=SF_ROGALAND_ORG
    )

    assert document["uploaded_by_organisation"] == "0192:922222223"
    assert document["category"] == "statsforvalter_decision"
    added = [e for e in await events_of(session, appeal["id"]) if e.type == "document.added"]
    [event] = added[len(REQUIRED) :]  # after NAV's required documents
    assert (event.data["document_id"], event.statsforvalter_visible) == (document["id"], True)


# -- the list --------------------------------------------------------------------------------


async def test_the_list_holds_the_appeals_documents_oldest_first(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    appeal = await register(client, auth)
    other = await register(client, auth)
    first = await upload(client, auth, appeal["id"], category="appeal")
    clock.advance(dt.timedelta(minutes=1))
    second = await upload(
        client, auth, appeal["id"], category="decision", data=png(), media_type="image/png"
    )
    await upload(client, auth, other["id"], category="appeal")

    response = await client.get(f"/v1/appeals/{appeal['id']}/documents", headers=auth())

    assert response.status_code == 200
    body = response.json()
    assert body["items"] == [first, second]
    assert body["next_cursor"] is None


async def test_statsforvalter_lists_the_documents_of_an_appeal_forwarded_to_it(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal, documents, _ = await forwarded(client, auth)

    response = await client.get(
        f"/v1/appeals/{appeal['id']}/documents", headers=auth(org=SF_ROGALAND_ORG)
    )

    assert response.status_code == 200
    # All three were uploaded at the fixed clock's same instant: in no particular order.
    assert {d["id"] for d in response.json()["items"]} == {d["id"] for d in documents}


async def test_another_offices_list_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)
    await upload(client, auth, appeal["id"], category="appeal")

    response = await client.get(
        f"/v1/appeals/{appeal['id']}/documents", headers=auth(org=NAV_OSLO_ORG)
    )

    assert response.status_code == 404
    assert response.json()["code"] == "appeal_not_found"


# -- content ---------------------------------------------------------------------------------


async def test_content_is_the_bytes_with_etag_length_and_accept_ranges(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    data = pdf(3000)
    document = await _stored(client, auth, data)

    response = await client.get(f"/v1/documents/{document['id']}/content", headers=auth())

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["etag"] == f'"{sha256(data)}"'
    assert response.headers["content-length"] == "3000"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''x.pdf"


async def test_each_download_is_audited(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, documents, _ = await forwarded(client, auth)
    url = f"/v1/documents/{documents[0]['id']}/content"

    await client.get(url, headers=auth())
    await client.get(url, headers={**auth(), "Range": "bytes=0-9"})
    await client.get(url, headers=auth(org=SF_ROGALAND_ORG))

    appeal_id = uuid.UUID(appeal["id"])
    assert await _downloads(session) == [
        (appeal_id, STAVANGER),
        (appeal_id, STAVANGER),
        (appeal_id, "0192:922222223"),
    ]


async def _content(
    client: httpx.AsyncClient, auth: AuthHeaders, data: bytes, **headers: str
) -> httpx.Response:
    """The content of a new document of `data`, asked for with these headers."""
    document = await _stored(client, auth, data)
    return await client.get(
        f"/v1/documents/{document['id']}/content", headers={**auth(), **headers}
    )


@pytest.mark.parametrize(
    ("range_", "start", "stop"),
    [
        ("bytes=0-9", 0, 10),  # from the start
        ("bytes=-5", 95, 100),  # a suffix: the last bytes
        ("bytes=-500", 0, 100),  # a suffix longer than the document: all of it
        ("bytes=10-", 10, 100),  # open: to the end
        ("bytes=90-999", 90, 100),  # ending past the end: cut to the document
        (f"bytes=90-{2**64}", 90, 100),  # ending past any size: cut to the document
    ],
)
async def test_a_satisfiable_range_is_206_with_its_bytes_and_content_range(
    client: httpx.AsyncClient, auth: AuthHeaders, range_: str, start: int, stop: int
) -> None:
    data = pdf(100)

    response = await _content(client, auth, data, Range=range_)

    assert response.status_code == 206
    assert response.content == data[start:stop]
    assert response.headers["content-range"] == f"bytes {start}-{stop - 1}/100"
    assert response.headers["content-length"] == str(stop - start)
    assert response.headers["etag"] == f'"{sha256(data)}"'


@pytest.mark.parametrize("range_", ["bytes=100-", "bytes=100-200", "bytes=5000-5001", "bytes=-0"])
async def test_a_range_beyond_the_end_or_empty_is_416_with_the_size(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, range_: str
) -> None:
    response = await _content(client, auth, pdf(100), Range=range_)

    assert response.status_code == 416
    assert response.json()["code"] == "range_not_satisfiable"
    assert response.headers["content-range"] == "bytes */100"
    assert await _downloads(session) == []


@pytest.mark.parametrize(
    "headers",
    [{"Range": "items=0-9"}, {"If-None-Match": f'"{"0" * 64}"'}],
    ids=["a range of another unit is ignored", "if-none-match with another etag"],
)
async def test_the_whole_document_is_sent_when_range_or_if_none_match_does_not_apply(
    client: httpx.AsyncClient, auth: AuthHeaders, headers: dict[str, str]
) -> None:
    data = pdf(100)

    response = await _content(client, auth, data, **headers)

    assert response.status_code == 200
    assert response.content == data


@pytest.mark.parametrize("if_none_match", ['"other", {etag}', "W/{etag}", "*", '"x", W/{etag}'])
async def test_if_none_match_with_the_etag_is_304_without_a_body_compared_weakly(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, if_none_match: str
) -> None:
    data = pdf()
    etag = f'"{sha256(data)}"'

    response = await _content(
        client, auth, data, **{"If-None-Match": if_none_match.format(etag=etag)}
    )

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert await _downloads(session) == []


@pytest.mark.parametrize(
    "org",
    [NAV_OSLO_ORG, SF_ROGALAND_ORG],
    ids=["another office", "the statsforvalter before forwarding"],
)
async def test_a_document_the_caller_may_not_see_is_not_found_and_not_audited(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, org: str
) -> None:
    document = await _stored(client, auth, pdf())

    response = await client.get(f"/v1/documents/{document['id']}/content", headers=auth(org=org))

    assert response.status_code == 404
    assert response.json()["code"] == "document_not_found"
    assert await _downloads(session) == []


async def test_an_unknown_document_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.get(f"/v1/documents/{uuid.uuid4()}/content", headers=auth())

    assert response.status_code == 404
    assert response.json()["code"] == "document_not_found"


# -- on S3 -----------------------------------------------------------------------------------


@pytest.fixture
def s3(app: FastAPI, seaweedfs: SeaweedFS) -> Callable[[], list[str]]:
    """The app's blob store replaced by S3 (SeaweedFS) under a key prefix of its own; returns
    a look at every key under it and every unfinished multipart upload of the bucket."""
    prefix = f"endpoints-{uuid.uuid4().hex}"
    app.state.blob_store = seaweedfs.blob_store(prefix=prefix)
    return lambda: seaweedfs.keys(prefix=prefix) + seaweedfs.unfinished_uploads()


async def test_on_s3_an_upload_round_trips_and_serves_ranges(
    client: httpx.AsyncClient, auth: AuthHeaders, s3: Callable[[], list[str]]
) -> None:
    data = pdf(6 * MiB + 7)
    appeal = await register(client, auth)

    response = await _post(client, appeal["id"], _chunks(data), headers=_pdf_headers(auth))

    assert response.status_code == 201, response.text
    assert s3() == [f"sha256/{sha256(data)}"]
    url = f"/v1/documents/{response.json()['id']}/content"
    assert (await client.get(url, headers=auth())).content == data
    tail = await client.get(url, headers={**auth(), "Range": "bytes=-5"})
    assert (tail.status_code, tail.content) == (206, data[-5:])


async def test_on_s3_a_digest_mismatch_after_several_parts_leaves_no_object(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    s3: Callable[[], list[str]],
) -> None:
    appeal = await register(client, auth)

    response = await _post(
        client,
        appeal["id"],
        _chunks(pdf(12 * MiB)),  # parts are uploaded before the digest is known
        headers=_pdf_headers(auth, **{"Content-Digest": content_digest(b"other")}),
    )

    assert response.status_code == 422
    assert response.json()["code"] == "content_digest_mismatch"
    assert await _emptied(s3) == []
    assert await _documents(session) == 0


async def _emptied(keys: Callable[[], list[str]], *, seconds: float = 10.0) -> list[str]:
    """The keys once there are none, or as they are after `seconds`: SeaweedFS removes an
    aborted multipart upload's folder after answering the abort, later on a busy machine."""
    deadline = time.monotonic() + seconds
    while True:
        left = keys()
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.2)


async def test_on_s3_a_type_mismatch_leaves_no_object(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    s3: Callable[[], list[str]],
) -> None:
    appeal = await register(client, auth)

    response = await _post(
        client, appeal["id"], _chunks(pdf()), headers={**auth(), "Content-Type": "image/jpeg"}
    )

    assert response.status_code == 415
    assert response.json()["code"] == "media_type_mismatch"
    assert s3() == []
    assert await _documents(session) == 0


async def test_on_s3_a_range_ending_past_any_size_is_cut_to_the_document(
    client: httpx.AsyncClient, auth: AuthHeaders, s3: Callable[[], list[str]]
) -> None:
    data = pdf(100)
    document = await _stored(client, auth, data)

    response = await client.get(
        f"/v1/documents/{document['id']}/content",
        headers={**auth(), "Range": f"bytes=90-{2**64}"},  # past what S3's client can say
    )

    assert response.status_code == 206
    assert response.content == data[90:]
    assert response.headers["content-range"] == "bytes 90-99/100"


# -- the contract (found by the fuzzer, tests/fuzz) -------------------------------------------


def _declared(path: str, method: str, status: str) -> dict[str, object]:
    operation = openapi_document()["paths"][path][method]
    response: dict[str, object] = operation["responses"][status]
    return response


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(pdf(200), "application/pdf"), (png(200), "image/png"), (JPEG + bytes(200), "image/jpeg")],
    ids=["pdf", "png", "jpeg"],  # the content is random: each worker must collect the same ids
)
async def test_a_download_comes_as_its_media_type_which_the_contract_declares(
    client: httpx.AsyncClient, auth: AuthHeaders, data: bytes, media_type: str
) -> None:
    appeal = await register(client, auth)
    document = await upload(
        client, auth, appeal["id"], category="appeal", data=data, media_type=media_type
    )
    url = f"/v1/documents/{document['id']}/content"

    whole = await client.get(url, headers=auth())
    part = await client.get(url, headers={**auth(), "Range": "bytes=0-9"})

    path = "/v1/documents/{document_id}/content"
    assert (whole.status_code, whole.headers["content-type"]) == (200, media_type)
    assert media_type in _declared(path, "get", "200")["content"]  # type: ignore[operator]
    assert (part.status_code, part.headers["content-type"]) == (206, media_type)
    assert media_type in _declared(path, "get", "206")["content"]  # type: ignore[operator]


async def test_an_upload_with_a_key_but_no_digest_is_a_400_the_contract_declares(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)

    response = await _post(
        client, appeal["id"], pdf(100), headers=_pdf_headers(auth, **{"Idempotency-Key": "k-1"})
    )

    assert response.status_code == 400
    assert response.json()["code"] == "content_digest_required"
    problem = _declared("/v1/appeals/{appeal_id}/documents", "post", "400")["content"]
    assert "application/problem+json" in problem  # type: ignore[operator]


async def test_an_upload_whose_key_is_in_use_is_a_409_the_contract_declares(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    appeal = await register(race_track.client, auth)
    path = f"/v1/appeals/{appeal['id']}/documents"
    data = pdf(100)
    async with AsyncSession(race_track.engine) as holder, holder.begin():
        # Another request with the same key holds it, as the idempotency layer claims keys.
        holder.add(
            IdempotencyRecord(
                organisation=f"0192:{NAV_STAVANGER_ORG}",
                request_target=f"POST {path}",
                key="k-1",
                request_hash="0" * 64,
                state=IdempotencyState.in_flight,
                claim_token=uuid.uuid4(),
                created_at=NOW,
                expires_at=NOW + dt.timedelta(seconds=60),
            )
        )
    response = await _post(
        race_track.client,
        appeal["id"],
        data,
        headers=_pdf_headers(
            auth, **{"Idempotency-Key": "k-1", "Content-Digest": content_digest(data)}
        ),
    )

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    problem = _declared("/v1/appeals/{appeal_id}/documents", "post", "409")["content"]
    assert "application/problem+json" in problem  # type: ignore[operator]


# -- what a client's Range and bytes can do -----------------------------------------------------


@pytest.mark.parametrize("range_", [None, "bytes=0-9"], ids=["whole", "range"])
async def test_content_is_neither_sniffed_nor_run_by_a_browser(
    client: httpx.AsyncClient, auth: AuthHeaders, range_: str | None
) -> None:
    document = await _stored(client, auth, pdf(100))
    headers = auth() if range_ is None else {**auth(), "Range": range_}

    response = await client.get(f"/v1/documents/{document['id']}/content", headers=headers)

    assert response.status_code in {200, 206}
    # A file from a client is served as what it was checked to be, and a browser that opens it
    # runs nothing in it (a PDF's scripts, an HTML page declared as an image).
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"


_NUMBERS = st.one_of(
    st.text(alphabet="0123456789²³¹¼½", max_size=25),
    st.integers(min_value=4_000, max_value=6_000).map(lambda digits: "9" * digits),
)
_RANGES = st.one_of(
    st.builds(lambda first, last: f"bytes={first}-{last}", _NUMBERS, _NUMBERS),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")),
)


@hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(range_=_RANGES)
@hypothesis.example(range_="bytes=" + "9" * 5000 + "-")
@hypothesis.example(range_="bytes=-" + "9" * 5000)
async def test_any_range_header_is_served_ignored_or_416_never_a_500(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, range_: str
) -> None:
    data = pdf(100)
    document = await _stored(client, auth, data)
    downloads = len(await _downloads(session))

    response = await client.get(
        f"/v1/documents/{document['id']}/content",
        headers={**auth(), "Range": range_.strip().encode("latin-1")},  # type: ignore[dict-item]
    )

    assert response.status_code in {200, 206, 416}, response.text
    if response.status_code == 416:
        assert response.json()["code"] == "range_not_satisfiable"
        assert len(await _downloads(session)) == downloads  # nothing served, nothing audited
    else:
        assert data.find(response.content) >= 0
