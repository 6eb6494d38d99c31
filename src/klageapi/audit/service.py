"""Writing the audit log: every response that carries personal data leaves a row here."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import Citizen, Principal
from klageapi.core.clock import Clock
from klageapi.core.logging import request_id_var
from klageapi.models import AuditEntry

__all__ = ["entry", "record", "record_many", "system_entry"]


async def record(
    session: AsyncSession,
    *,
    principal: Principal,
    action: str,
    appeal_id: uuid.UUID | None,
    purpose: str,
    clock: Clock,
) -> None:
    """Append one audit entry in the caller's transaction (about no appeal: an operator's read
    across organisations)."""
    await record_many(
        session,
        principal=principal,
        action=action,
        appeal_ids=[appeal_id],
        purpose=purpose,
        clock=clock,
    )


async def record_many(
    session: AsyncSession,
    *,
    principal: Principal,
    action: str,
    appeal_ids: Sequence[uuid.UUID | None],
    purpose: str,
    clock: Clock,
) -> None:
    """One audit entry per appeal, for a response that lists several."""
    if not appeal_ids:
        return
    now = clock.now()
    await session.execute(
        insert(AuditEntry),
        [
            entry(principal=principal, action=action, appeal_id=appeal_id, purpose=purpose, now=now)
            for appeal_id in appeal_ids
        ],
    )


def entry(
    *,
    principal: Principal,
    action: str,
    appeal_id: uuid.UUID | None,
    purpose: str,
    now: dt.datetime,
) -> dict[str, object]:
    """The values of one audit entry, for a caller that writes it in a statement of its own."""
    organisation = None if isinstance(principal, Citizen) else principal
    return {
        "occurred_at": now,
        "actor_kind": "organisation" if organisation else "citizen",
        "actor_organisation": organisation.actor if organisation else None,
        "actor_supplier": organisation.supplier_actor if organisation else None,
        "action": action,
        "appeal_id": appeal_id,
        "purpose": purpose,
        "request_id": request_id_var.get(),
    }


def system_entry(
    *, action: str, appeal_id: uuid.UUID, purpose: str, now: dt.datetime
) -> dict[str, object]:
    """The values of an audit entry for what klageapi itself did to an appeal's personal data
    (the retention job's erasure): no organisation, no request."""
    return {
        "occurred_at": now,
        "actor_kind": "system",
        "actor_organisation": None,
        "actor_supplier": None,
        "action": action,
        "appeal_id": appeal_id,
        "purpose": purpose,
        "request_id": None,
    }
