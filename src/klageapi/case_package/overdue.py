"""Announcing, once each, packages left awaiting receipt too long and documentation requests
past their due date: `package.overdue` and `documentation.overdue` events, from the worker."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal.lifecycle import CLOSED
from klageapi.case_package.service import overdue_threshold
from klageapi.core.clock import Clock
from klageapi.event import outbox
from klageapi.models import (
    Appeal,
    CasePackage,
    DocumentationRequest,
    DocumentationRequestStatus,
    PackageStatus,
)

__all__ = ["announce_overdue"]

_BATCH = 500
# A package or request left open on an appeal that was withdrawn or closed is nobody's wait.
_APPEAL_OPEN = Appeal.status.not_in(sorted(CLOSED))


async def announce_overdue(session: AsyncSession, *, clock: Clock, working_days: int) -> int:
    """Write the overdue events not yet written; how many. Rows are locked with SKIP LOCKED,
    so two workers never announce one twice."""
    now = clock.now()
    packages = (
        await session.execute(
            select(CasePackage, Appeal)
            .join(Appeal, Appeal.id == CasePackage.appeal_id)
            .where(
                CasePackage.status == PackageStatus.awaiting_receipt,
                CasePackage.frozen_at < overdue_threshold(clock, working_days),
                CasePackage.overdue_notified_at.is_(None),
                _APPEAL_OPEN,
            )
            .order_by(CasePackage.frozen_at)
            .limit(_BATCH)
            .with_for_update(of=CasePackage, skip_locked=True)
        )
    ).all()
    for package, appeal in packages:
        package.overdue_notified_at = now
        outbox.write(
            session,
            appeal,
            type_="package.overdue",
            occurred_at=now,
            recorded_at=now,
            data={"package_id": str(package.id), "frozen_at": package.frozen_at.isoformat()},
        )
    requests = (
        await session.execute(
            select(DocumentationRequest, Appeal)
            .join(Appeal, Appeal.id == DocumentationRequest.appeal_id)
            .where(
                DocumentationRequest.status == DocumentationRequestStatus.open,
                DocumentationRequest.due_on < clock.today(),
                DocumentationRequest.overdue_notified_at.is_(None),
                _APPEAL_OPEN,
            )
            .order_by(DocumentationRequest.due_on)
            .limit(_BATCH)
            .with_for_update(of=DocumentationRequest, skip_locked=True)
        )
    ).all()
    for request, appeal in requests:
        request.overdue_notified_at = now
        outbox.write(
            session,
            appeal,
            type_="documentation.overdue",
            occurred_at=now,
            recorded_at=now,
            data={
                "documentation_request_id": str(request.id),
                "due_on": request.due_on.isoformat(),
            },
        )
    await session.flush()
    return len(packages) + len(requests)
