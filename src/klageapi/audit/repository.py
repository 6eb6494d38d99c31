"""SQL for the audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import AuditEntry

__all__ = ["AuditFilter", "list_entries"]


@dataclass(frozen=True)
class AuditFilter:
    appeal_id: uuid.UUID | None = None
    actor_organisation: str | None = None
    action: str | None = None
    occurred_from: dt.datetime | None = None
    occurred_to: dt.datetime | None = None


async def list_entries(
    session: AsyncSession, where: AuditFilter, *, after: int | None, limit: int
) -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id).limit(limit)
    if where.appeal_id is not None:
        query = query.where(AuditEntry.appeal_id == where.appeal_id)
    if where.actor_organisation is not None:
        query = query.where(AuditEntry.actor_organisation == where.actor_organisation)
    if where.action is not None:
        query = query.where(AuditEntry.action == where.action)
    if where.occurred_from is not None:
        query = query.where(AuditEntry.occurred_at >= where.occurred_from)
    if where.occurred_to is not None:
        query = query.where(AuditEntry.occurred_at < where.occurred_to)
    if after is not None:
        query = query.where(AuditEntry.id > after)
    return (await session.scalars(query)).all()
