"""The retention tests' stores (the filesystem's and SeaweedFS's, each test on both), the job's
sessions on the test's transaction, and a store with a step of the test's own around its calls."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from klageapi.core.clock import FixedClock
from klageapi.document.storage import BlobStore, StoredBlob
from klageapi.models import Appeal, Document
from klageapi.retention.service import Erased, erase_due
from tests.conftest import CommittedApp
from tests.document.conftest import Backend, backend_of
from tests.document.conftest import seaweedfs as s3_server  # noqa: F401  (the fixture, renamed)
from tests.journey import AuthHeaders

DAYS = 90
"""The retention period the tests run the job with."""


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest, app: FastAPI) -> Backend:
    return backend_of(request, app, prefix="retention")


@pytest.fixture(params=["filesystem", "s3"])
def committed_backend(request: pytest.FixtureRequest, race_track: CommittedApp) -> Backend:
    """The store of the app whose every request commits (`race_track`)."""
    return backend_of(request, race_track.app, prefix="retention")


@pytest.fixture
def sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """The job's sessions, on the test's transaction: its commits are savepoints."""
    return async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


async def erase(
    sessions: async_sessionmaker[AsyncSession], store: BlobStore, clock: FixedClock
) -> Erased:
    """One round of the retention job."""
    return await erase_due(sessions, store=store, clock=clock, retention_days=DAYS)


async def withdraw(client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str) -> None:
    response = await client.post(f"/v1/appeals/{appeal_id}/withdrawal", headers=auth())
    assert response.status_code == 200, response.text


async def appeal_row(session: AsyncSession, appeal_id: str) -> Appeal:
    appeal = await session.get(Appeal, uuid.UUID(appeal_id), populate_existing=True)
    assert appeal is not None
    return appeal


async def document_count(session: AsyncSession, appeal_id: str) -> int:
    query = (
        select(func.count()).select_from(Document).where(Document.appeal_id == uuid.UUID(appeal_id))
    )
    return int(await session.scalar(query) or 0)


Step = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    pass


class Hooked:
    """A real store that runs a step of the test's own after each put and before each delete."""

    def __init__(
        self, store: BlobStore, *, after_put: Step = _nothing, before_delete: Step = _nothing
    ) -> None:
        self._store = store
        self._after_put = after_put
        self._before_delete = before_delete

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def put(self, chunks: AsyncIterable[bytes], **options: Any) -> StoredBlob:
        blob = await self._store.put(chunks, **options)
        await self._after_put()
        return blob

    async def delete(self, sha256: str) -> bool:
        await self._before_delete()
        return await self._store.delete(sha256)
