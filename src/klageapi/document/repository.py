"""SQL for documents."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import Document

__all__ = ["get", "list_for_appeal"]


async def get(session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    return await session.get(Document, document_id)


async def list_for_appeal(session: AsyncSession, appeal_id: uuid.UUID) -> Sequence[Document]:
    query = (
        select(Document)
        .where(Document.appeal_id == appeal_id)
        .order_by(Document.uploaded_at, Document.id)
    )
    return (await session.scalars(query)).all()
