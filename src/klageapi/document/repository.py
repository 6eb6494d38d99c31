"""SQL for documents.

A new document's row and its event are written by one hand-built statement, not the ORM's flush:
`bench/statements.py` measures the flush at 1.8-2.0x the CPU of this write.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence

from sqlalchemy import Executable, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.statements import binds, bound, table_of
from klageapi.event import outbox
from klageapi.models import Document, Event

__all__ = ["by_sender_reference", "get", "insert_with_event", "list_for_appeal"]


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
