"""Writing the audit log: every response that carries personal data leaves a row here."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import Citizen, Principal
from klageapi.core.clock import Clock
from klageapi.core.logging import request_id_var
from klageapi.models import AuditEntry

__all__ = ["record"]


async def record(
    session: AsyncSession,
    *,
    principal: Principal,
    action: str,
    appeal_id: uuid.UUID | None,
    purpose: str,
    clock: Clock,
) -> None:
    """Append one audit entry in the caller's transaction."""
    organisation = None if isinstance(principal, Citizen) else principal
    session.add(
        AuditEntry(
            occurred_at=clock.now(),
            actor_kind="organisation" if organisation else "citizen",
            actor_organisation=organisation.actor if organisation else None,
            actor_supplier=organisation.supplier_actor if organisation else None,
            action=action,
            appeal_id=appeal_id,
            purpose=purpose,
            request_id=request_id_var.get(),
        )
    )
    await session.flush()
