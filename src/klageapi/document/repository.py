"""SQL for documents and the marks of blobs being removed.

A new document's row and its event are written by one hand-built statement, not the ORM's flush:
`bench/statements.py` measures the flush at 1.8-2.0x the CPU of this write.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence

from sqlalchemy import Executable, delete, exists, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.statements import binds, bound, table_of
from klageapi.event import outbox
from klageapi.models import Appeal, BlobRemoval, Document, Event

__all__ = [
    "appeal_erased",
    "by_sender_reference",
    "drop_removals",
    "get",
    "insert_with_event",
    "list_for_appeal",
    "lock_content",
    "mark_removal",
    "referenced",
    "removal",
    "set_removed",
    "unremoved",
]


async def get(session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    return await session.get(Document, document_id)


async def list_for_appeal(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
    limit: int | None = None,
) -> Sequence[Document]:
    """The appeal's documents in (uploaded_at, id) order: all, or a page after `after`."""
    query = select(Document).where(Document.appeal_id == appeal_id)
    if after is not None:
        query = query.where(tuple_(Document.uploaded_at, Document.id) > tuple_(*after))
    query = query.order_by(Document.uploaded_at, Document.id).limit(limit)
    return (await session.scalars(query)).all()


async def by_sender_reference(
    session: AsyncSession, appeal_id: uuid.UUID, sender_reference: str
) -> Document | None:
    query = select(Document).where(
        Document.appeal_id == appeal_id, Document.sender_reference == sender_reference
    )
    return (await session.scalars(query)).one_or_none()


_DOCUMENT_COLUMNS = tuple(column.name for column in table_of(Document).columns)


@functools.cache
def _insert_with_event() -> Executable:
    """The document in a CTE, its event in the statement: one round trip. Built once."""
    documents, events = table_of(Document), table_of(Event)
    document = insert(documents).values(binds(documents, "document", _DOCUMENT_COLUMNS))
    event = insert(events).values(binds(events, "event", outbox.COLUMNS))
    return event.add_cte(document.cte("new_document"))


async def insert_with_event(
    session: AsyncSession, document: dict[str, object], event: dict[str, object]
) -> None:
    """Store a new document's row and the event that announces it."""
    params = bound("document", document, _DOCUMENT_COLUMNS)
    params.update(bound("event", event, outbox.COLUMNS))
    await session.execute(_insert_with_event(), params)


# Beside core.migrations' 7312001 and the registry's 7312002, which are one-key locks: the
# two-key locks are a key space of their own.
_CONTENT_LOCK = 7312003


async def lock_content(session: AsyncSession, sha256: str) -> None:
    """Take turns, until the transaction ends, with every transaction that writes a row about
    these bytes. Keyed on the sha256's first 32 bits: two contents that share them (one in four
    billion) only take turns needlessly."""
    key = int(sha256[:8], 16) - 2**31
    await session.execute(select(func.pg_advisory_xact_lock(_CONTENT_LOCK, key)))


async def appeal_erased(session: AsyncSession, appeal_id: uuid.UUID) -> bool:
    """Whether the appeal's personal data was erased, as committed now."""
    query = select(Appeal.personal_data_erased_at).where(Appeal.id == appeal_id)
    return await session.scalar(query) is not None


async def referenced(session: AsyncSession, sha256: str) -> bool:
    """Whether any document, of any appeal, has these bytes."""
    return bool(await session.scalar(select(exists().where(Document.sha256 == sha256))))


async def mark_removal(session: AsyncSession, sha256: str, *, now: dt.datetime) -> None:
    statement = upsert(BlobRemoval).values(sha256=sha256, marked_at=now, removed_at=None)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[BlobRemoval.sha256], set_={"marked_at": now, "removed_at": None}
        )
    )


async def removal(session: AsyncSession, sha256: str) -> BlobRemoval | None:
    return await session.get(BlobRemoval, sha256, populate_existing=True)


async def unremoved(session: AsyncSession, *, limit: int) -> Sequence[str]:
    """The marked blobs the store still has to delete, those marked longest ago first."""
    query = (
        select(BlobRemoval.sha256)
        .where(BlobRemoval.removed_at.is_(None))
        .order_by(BlobRemoval.marked_at, BlobRemoval.sha256)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def set_removed(session: AsyncSession, sha256: str, *, now: dt.datetime) -> None:
    await session.execute(
        update(BlobRemoval).where(BlobRemoval.sha256 == sha256).values(removed_at=now)
    )


async def drop_removals(session: AsyncSession, *, removed_by: dt.datetime) -> None:
    """Drop the marks of blobs the store deleted at or before `removed_by`."""
    await session.execute(delete(BlobRemoval).where(BlobRemoval.removed_at <= removed_by))
