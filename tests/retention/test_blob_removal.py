"""Removing an erased appeal's blobs never leaves a document without its bytes, nor bytes without
a document: an upload of the very same bytes around the removal is refused (503
content_being_erased) and stores nothing, and is stored anew once the hold is over; the check
that no document has the bytes waits for an upload's row being written; and blobs an erasure
freed but a crash kept from removing are removed by the next round."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from klageapi.core.clock import FixedClock
from klageapi.core.db import create_sessionmaker
from klageapi.document import service as documents
from klageapi.document.blob import StoredBlob
from klageapi.document.errors import AppealErased
from klageapi.document.removal import HOLD
from klageapi.document.storage import BlobStore
from klageapi.models import Appeal, DocumentCategory
from klageapi.retention.service import Erased, erase_due
from tests.conftest import NAV_STAVANGER_ORG, NOW, CommittedApp
from tests.journey import AuthHeaders, pdf, register, send_document, sha256, upload
from tests.retention.conftest import (
    DAYS,
    Backend,
    Hooked,
    appeal_row,
    document_count,
    erase,
    withdraw,
)

_HELD = str(int(HOLD.total_seconds()))


async def _finished_with(client: httpx.AsyncClient, auth: AuthHeaders, *files: bytes) -> str:
    """A withdrawn appeal with these files; its id."""
    appeal = await register(client, auth)
    for data in files:
        await upload(client, auth, appeal["id"], category="appeal", data=data)
    await withdraw(client, auth, appeal["id"])
    return str(appeal["id"])


def _refused_while_erased(response: httpx.Response, *, retry_after: str = _HELD) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == retry_after
    assert response.json()["code"] == "content_being_erased"


async def test_an_upload_that_found_the_bytes_before_their_removal_is_refused_and_stored_anew_later(
    race_track: CommittedApp, auth: AuthHeaders, committed_backend: Backend
) -> None:
    client, backend = race_track.client, committed_backend
    sessions = create_sessionmaker(race_track.engine)
    clock: FixedClock = race_track.app.state.clock
    shared = pdf(7000)
    await _finished_with(client, auth, shared)
    other = await register(client, auth)
    clock.advance(dt.timedelta(days=DAYS))

    # The upload finds the bytes stored (and so does not write them) after the job has marked
    # them, and writes its row only after the job has removed them.
    found, removed = asyncio.Event(), asyncio.Event()

    async def wait_for_the_removal() -> None:
        found.set()
        await removed.wait()

    race_track.app.state.blob_store = Hooked(backend.store, after_put=wait_for_the_removal)
    sending: list[asyncio.Task[httpx.Response]] = []

    async def upload_the_same_bytes() -> None:
        sending.append(
            asyncio.create_task(
                send_document(client, auth, other["id"], category="appeal", data=shared)
            )
        )
        await found.wait()

    job_store = Hooked(backend.store, before_delete=upload_the_same_bytes)
    erased = await erase(sessions, job_store, clock)
    removed.set()
    refused = await sending[0]

    assert erased == Erased(appeals=1, documents=1, blobs=1)
    _refused_while_erased(refused)
    async with sessions() as session:
        assert await document_count(session, other["id"]) == 0
    assert not backend.holds(sha256(shared))

    # Refused until the hold after the removal is over; then the bytes are written anew.
    race_track.app.state.blob_store = backend.store
    clock.advance(HOLD - dt.timedelta(seconds=1))
    _refused_while_erased(
        await send_document(client, auth, other["id"], category="appeal", data=shared),
        retry_after="1",
    )
    clock.advance(dt.timedelta(seconds=1))
    assert await erase(sessions, backend.store, clock) == Erased()
    document = await upload(client, auth, other["id"], category="appeal", data=shared)
    assert backend.holds(sha256(shared))
    read = await client.get(f"/v1/documents/{document['id']}/content", headers=auth())
    assert (read.status_code, read.content) == (200, shared)


class _Crash(Exception):
    """The worker dies: nothing after this point of the round happens."""


async def _crash() -> None:
    raise _Crash


async def test_blobs_an_erasure_freed_but_a_crash_kept_in_the_store_are_removed_by_the_next_round(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    backend: Backend,
) -> None:
    files = [pdf(5000), pdf(6000)]
    finished = await _finished_with(client, auth, *files)
    other = await register(client, auth)
    clock.advance(dt.timedelta(days=DAYS))

    with pytest.raises(_Crash):
        await erase(sessions, Hooked(backend.store, before_delete=_crash), clock)

    # The erasure committed and its blobs are still stored: marked, so an upload of the same
    # bytes is refused rather than left referring to bytes the next round removes.
    assert (await appeal_row(session, finished)).personal_data_erased_at == clock.now()
    assert all(backend.holds(sha256(data)) for data in files)
    _refused_while_erased(
        await send_document(client, auth, other["id"], category="appeal", data=files[0])
    )
    assert await document_count(session, other["id"]) == 0

    assert await erase(sessions, backend.store, clock) == Erased(blobs=len(files))
    assert not any(backend.holds(sha256(data)) for data in files)
    assert await erase(sessions, backend.store, clock) == Erased()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _waiting_for_a_content_lock(engine: AsyncEngine, job: asyncio.Task[Erased]) -> None:
    """Until a transaction waits for the per-content lock (document.repository.lock_content)."""
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND classid = 7312003 AND objsubid = 2"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    deadline = time.monotonic() + 30
    async with engine.connect() as connection:
        while not await connection.scalar(query):
            assert not job.done(), f"the job did not wait for the upload's row: {job.result()}"
            assert time.monotonic() < deadline, "no transaction waits for the content's lock"
            await asyncio.sleep(0.01)


async def test_the_check_that_no_document_has_the_bytes_waits_for_an_uploads_row_and_keeps_them(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    client = race_track.client
    shared = pdf(8000)
    await _finished_with(client, auth, shared)
    other = await register(client, auth)
    sessionmaker = create_sessionmaker(race_track.engine)
    store: BlobStore = race_track.app.state.blob_store
    later = FixedClock(NOW + dt.timedelta(days=DAYS))

    # An upload of the same bytes to the other appeal finds them stored and writes its row; the
    # job starts before that row commits.
    blob = await store.put(_once(shared), max_size=len(shared))
    file = documents.Upload(
        category=DocumentCategory.appeal,
        title="Klage",
        file_name="klage.pdf",
        media_type="application/pdf",
        sha256=None,
        chunks=_once(shared),
    )
    async with sessionmaker() as uploading, uploading.begin():
        appeal = await uploading.get(Appeal, uuid.UUID(other["id"]))
        assert appeal is not None
        document = await documents.attach(
            uploading,
            appeal,
            file,
            blob,
            uploaded_by=NAV_STAVANGER_ORG,
            uploaded_by_supplier=None,
            clock=later,
        )
        job = asyncio.create_task(
            erase_due(sessionmaker, store=store, clock=later, retention_days=DAYS)
        )
        await _waiting_for_a_content_lock(race_track.engine, job)

    assert await job == Erased(appeals=1, documents=1, blobs=0)
    assert await store.exists(sha256(shared))
    read = await client.get(f"/v1/documents/{document.id}/content", headers=auth())
    assert (read.status_code, read.content) == (200, shared)


def _refused_as_erased(response: httpx.Response, appeal_id: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["code"], response.json()["appeal_id"]) == ("appeal_erased", appeal_id)


async def test_an_erased_appeal_takes_no_more_files_whether_erased_before_or_during_the_upload(
    race_track: CommittedApp, auth: AuthHeaders, committed_backend: Backend
) -> None:
    # A file attached after the erasure would never be erased: the job takes an appeal once.
    client, backend = race_track.client, committed_backend
    sessions = create_sessionmaker(race_track.engine)
    clock: FixedClock = race_track.app.state.clock
    early = await _finished_with(client, auth, pdf(5100))
    clock.advance(dt.timedelta(days=DAYS))
    assert await erase(sessions, backend.store, clock) == Erased(appeals=1, documents=1, blobs=1)
    late = await _finished_with(client, auth, pdf(5200))
    clock.advance(dt.timedelta(days=DAYS))

    # Erased before: refused before a byte is stored.
    before = pdf(5300)
    _refused_as_erased(
        await send_document(client, auth, early, category="supporting_document", data=before),
        early,
    )
    assert not backend.holds(sha256(before))

    # Erased while the bytes are stored: refused when the row would be written.
    async def erase_meanwhile() -> None:
        assert await erase(sessions, backend.store, clock) == Erased(
            appeals=1, documents=1, blobs=1
        )

    race_track.app.state.blob_store = Hooked(backend.store, after_put=erase_meanwhile)
    _refused_as_erased(
        await send_document(client, auth, late, category="supporting_document", data=pdf(5400)),
        late,
    )
    async with sessions() as session:
        assert [await document_count(session, appeal) for appeal in (early, late)] == [0, 0]
        assert (await appeal_row(session, late)).personal_data_erased_at is not None


async def test_an_appeal_erased_after_the_upload_s_last_check_refuses_the_row_that_would_follow(
    race_track: CommittedApp, auth: AuthHeaders, committed_backend: Backend
) -> None:
    # The narrowest gap: the upload has read the appeal, not yet erased, for the last time; the
    # erasure commits; only then is the document's row written. attach looks again after it.
    client, backend = race_track.client, committed_backend
    sessions = create_sessionmaker(race_track.engine)
    clock: FixedClock = race_track.app.state.clock
    appeal_id = await _finished_with(client, auth)
    clock.advance(dt.timedelta(days=DAYS))
    data = pdf(5500)
    blob = StoredBlob(sha256=sha256(data), size=len(data), crc32=zlib.crc32(data))
    file = documents.Upload(
        category=DocumentCategory.supporting_document,
        title="Kvittering",
        file_name=None,
        media_type="application/pdf",
        sha256=None,
        chunks=_no_chunks(),
    )

    async with sessions() as session, session.begin():
        appeal = await appeal_row(session, appeal_id)
        assert appeal.personal_data_erased_at is None
        assert await erase(sessions, backend.store, clock) == Erased(
            appeals=1, documents=0, blobs=0
        )
        with pytest.raises(AppealErased):
            await documents.attach(
                session,
                appeal,
                file,
                blob,
                uploaded_by=f"0192:{NAV_STAVANGER_ORG}",
                uploaded_by_supplier=None,
                clock=clock,
            )
        await session.rollback()

    async with sessions() as session:
        assert await document_count(session, appeal_id) == 0


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield
