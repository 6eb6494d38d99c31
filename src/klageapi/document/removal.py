"""Removing a blob from the store once no document has its bytes, without a race with an upload
of the very same bytes.

A blob is stored once per content, and an upload that finds the bytes stored does not write them
again. So a blob that no document has now may still be wanted by an upload that found it a moment
ago and writes its row a moment later. Hence a removal is marked (`BlobRemoval`) in the
transaction that leaves the blob without documents, and the row of a document takes turns with
that transaction on the same bytes (a transaction-scoped advisory lock, `lock_content`) and is
refused while the mark exists: 503 `content_being_erased` with Retry-After, nothing stored.

The mark outlives the store's delete by `HOLD`. An upload that found the bytes just before the
delete writes its row within seconds after (a wait for a connection, at most
KLAGEAPI_DB_POOL_TIMEOUT_SECONDS, at most 300 s, and a few statements), so it meets the mark
too; without the hold it would find none and refer to removed bytes. After the hold the same
bytes may be uploaded again and are written anew.

The retention job removes what is marked after the commit that marked it; what a crash or an
unavailable store left marked, the next round removes (a delete is idempotent, so two workers
may remove the same blob). No removal is done while a transaction is open: no connection waits
on the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from klageapi.core.clock import Clock
from klageapi.document import repository
from klageapi.document.errors import ContentBeingErased
from klageapi.document.storage import BlobStore

__all__ = ["HOLD", "mark_unreferenced", "refuse_while_removed", "remove_marked"]

HOLD = dt.timedelta(minutes=15)
"""How long a mark stays after the store's delete: three times the longest pool wait allowed."""

_REMOVALS = 500
"""Blobs removed per round at most; the rest in the next."""


async def mark_unreferenced(
    session: AsyncSession, sha256s: Iterable[str], *, now: dt.datetime
) -> None:
    """Mark for removal each of these blobs that no document has any more: in the transaction
    that deleted the documents, after them, so that its commit leaves the marks behind whatever
    happens next."""
    for sha256 in sorted(sha256s):  # in one order, so that two erasures never deadlock
        await repository.lock_content(session, sha256)
        # A statement after the lock, so it sees the rows committed while it waited.
        if not await repository.referenced(session, sha256):
            await repository.mark_removal(session, sha256, now=now)


async def refuse_while_removed(session: AsyncSession, sha256: str, *, now: dt.datetime) -> None:
    """Refuse a new document with these bytes while they are marked for removal. Called after
    the document's row is written, so its appeal's row lock (the foreign key's) comes before
    the content's, in the order an erasure takes them."""
    await repository.lock_content(session, sha256)
    removal = await repository.removal(session, sha256)
    if removal is not None:
        held_until = (removal.removed_at or now) + HOLD
        raise ContentBeingErased(retry_after=(held_until - now).total_seconds())


async def remove_marked(
    sessionmaker: async_sessionmaker[AsyncSession], *, store: BlobStore, clock: Clock
) -> int:
    """Delete the marked blobs from the store and drop the marks whose hold is over; returns how
    many blobs were deleted."""
    async with sessionmaker() as session, session.begin():
        await repository.drop_removals(session, removed_by=clock.now() - HOLD)
        marked = await repository.unremoved(session, limit=_REMOVALS)
    deleted = 0
    for sha256 in marked:
        deleted += await store.delete(sha256)
        async with sessionmaker() as session, session.begin():
            await repository.set_removed(session, sha256, now=clock.now())
    return deleted
