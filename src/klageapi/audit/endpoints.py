"""The audit log, for administrators: who read which appeal's personal data, when and why."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from klageapi.audit import repository
from klageapi.audit.schemas import AuditEntryPage, AuditEntryRead
from klageapi.core.auth import AdminDep
from klageapi.core.db import ReadSessionDep
from klageapi.core.pagination import PageParamsDep
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import problem_responses
from klageapi.core.validation import DateTime

__all__ = ["router"]

router = APIRouter(
    prefix="/audit-log",
    tags=["audit"],
    responses=problem_responses(400, 401, 403, 422),
    route_class=JsonRoute,
)


@router.get("", operation_id="list_audit_log", response_model=AuditEntryPage)
async def list_audit_log(
    # The audit log, read by administrators: a replica's lag of a moment is harmless.
    session: ReadSessionDep,
    _: AdminDep,
    page: PageParamsDep,
    appeal_id: uuid.UUID | None = None,
    actor_organisation: Annotated[
        str | None, Query(pattern=r"^0192:[0-9]{9}$", examples=["0192:977777771"])
    ] = None,
    action: Annotated[str | None, Query(max_length=60, examples=["appeal.read"])] = None,
    occurred_from: DateTime | None = None,
    occurred_to: DateTime | None = None,
) -> AuditEntryPage:
    """Audit entries, oldest first; the log is append-only (the database refuses changes)."""
    after = page.after_int("audit")
    rows = await repository.list_entries(
        session,
        repository.AuditFilter(
            appeal_id=appeal_id,
            actor_organisation=actor_organisation,
            action=action,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
        ),
        after=after,
        limit=page.limit + 1,
    )
    entries, cursor = page.page("audit", list(rows), lambda entry: [entry.id])
    return AuditEntryPage(
        items=[AuditEntryRead.model_validate(entry) for entry in entries], next_cursor=cursor
    )
