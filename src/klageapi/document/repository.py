"""SQL for documents."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence

from sqlalchemy import Executable, Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.event import outbox
from klageapi.models import Document, Event

__all__ = ["get", "insert_with_event", "list_for_appeal"]


async def get(session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    return await session.get(Document, document_id)


async def list_for_appeal(session: AsyncSession, appeal_id: uuid.UUID) -> Sequence[Document]:
    query = (
        select(Document)
        .where(Document.appeal_id == appeal_id)
        .order_by(Document.uploaded_at, Document.id)
    )
    return (await session.scalars(query)).all()


def _values(table: Table, prefix: str, names: Sequence[str]) -> dict[str, object]:
    return {name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in names}


_DOCUMENT_COLUMNS = tuple(column.name for column in Document.__table__.columns)


@functools.cache
def _insert_with_event() -> Executable:
    """The document in a CTE, its event in the statement: one round trip. Built once."""
    documents, events = Document.__table__, Event.__table__
    assert isinstance(documents, Table) and isinstance(events, Table)
    document = insert(documents).values(_values(documents, "document", _DOCUMENT_COLUMNS))
    event = insert(events).values(_values(events, "event", outbox.COLUMNS))
    return event.add_cte(document.cte("new_document"))


async def insert_with_event(
    session: AsyncSession, document: dict[str, object], event: dict[str, object]
) -> None:
    """Store a new document's row and the event that announces it."""
    params = {f"document_{name}": document[name] for name in _DOCUMENT_COLUMNS}
    params.update({f"event_{name}": event[name] for name in outbox.COLUMNS})
    await session.execute(_insert_with_event(), params)
