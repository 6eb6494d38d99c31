"""The retention job's SQL: finding finished appeals past the period, and erasing one."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import (
    Appeal,
    AppealStatus,
    AuditEntry,
    CasePackage,
    Document,
    DocumentationRequest,
    Event,
    PackageDocument,
    PackageStatus,
)

__all__ = [
    "FINISHED",
    "due",
    "erase_rows",
    "insert_audit_and_event",
    "lock_if_due",
]

FINISHED = (AppealStatus.decided, AppealStatus.closed_by_nav, AppealStatus.withdrawn)
"""The statuses after which nothing more happens to an appeal in klageapi."""


def _due(cutoff: dt.datetime) -> list[ColumnElement[bool]]:
    """Finished before `cutoff`, not erased yet, and no package still waiting for its receipt."""
    waiting = exists().where(
        CasePackage.appeal_id == Appeal.id,
        CasePackage.status == PackageStatus.awaiting_receipt,
    )
    return [
        Appeal.personal_data_erased_at.is_(None),
        Appeal.status.in_(FINISHED),
        Appeal.status_changed_at <= cutoff,
        ~waiting,
    ]


async def due(session: AsyncSession, *, cutoff: dt.datetime, limit: int) -> Sequence[uuid.UUID]:
    """The ids of appeals due for erasure, those finished longest ago first."""
    query = select(Appeal.id).where(*_due(cutoff)).order_by(Appeal.status_changed_at).limit(limit)
    return (await session.scalars(query)).all()


async def lock_if_due(
    session: AsyncSession, appeal_id: uuid.UUID, *, cutoff: dt.datetime
) -> Appeal | None:
    """The appeal, locked, if it is still due; None if another job has it or it changed."""
    query = (
        select(Appeal)
        .where(Appeal.id == appeal_id, *_due(cutoff))
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).one_or_none()


async def erase_rows(
    session: AsyncSession, appeal: Appeal, *, now: dt.datetime
) -> tuple[int, set[str]]:
    """Delete the appeal's documents and blank the personal data and free text on its rows;
    returns how many documents went and the sha256 of each."""
    documents = (
        await session.execute(
            select(Document.id, Document.sha256).where(Document.appeal_id == appeal.id)
        )
    ).all()
    packages = select(CasePackage.id).where(CasePackage.appeal_id == appeal.id)
    await session.execute(delete(PackageDocument).where(PackageDocument.package_id.in_(packages)))
    await session.execute(
        update(Appeal)
        .where(Appeal.id == appeal.id)
        .values(
            national_id=None,
            grounds="",
            nav_reasoning=None,
            registration_digest="",
            statsforvalter_decision_document_id=None,
            personal_data_erased_at=now,
            version=Appeal.version + 1,
            updated_at=now,
        )
    )
    await session.execute(delete(Document).where(Document.appeal_id == appeal.id))
    await session.execute(
        update(DocumentationRequest)
        .where(DocumentationRequest.appeal_id == appeal.id)
        .values(description="")
    )
    manifests = (
        await session.execute(
            select(CasePackage.id, CasePackage.manifest).where(CasePackage.appeal_id == appeal.id)
        )
    ).all()
    for package_id, manifest in manifests:
        await session.execute(
            update(CasePackage)
            .where(CasePackage.id == package_id)
            .values(manifest=_erased_manifest(manifest), rejection_description=None)
        )
    return len(documents), {sha256 for _, sha256 in documents}


def _erased_manifest(manifest: dict[str, object]) -> dict[str, object]:
    """The frozen manifest without the citizen's id, the grounds, NAV's reasoning, the request's
    text or the documents; ids, offices, dates and outcomes stay."""
    erased = dict(manifest)
    appeal = dict(_mapping(manifest.get("appeal")))
    appeal.update(national_id=None, grounds=None)
    erased["appeal"] = appeal
    assessment = dict(_mapping(manifest.get("nav_assessment")))
    assessment["reasoning"] = None
    erased["nav_assessment"] = assessment
    request = manifest.get("documentation_request")
    if isinstance(request, dict):
        erased["documentation_request"] = {**request, "description": None}
    erased["forwarding"] = None
    erased["documents"] = []
    erased["personal_data_erased"] = True
    return erased


def _mapping(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}


async def insert_audit_and_event(
    session: AsyncSession, *, audit: dict[str, object], event: dict[str, object]
) -> None:
    await session.execute(insert(AuditEntry).values(**audit))
    await session.execute(insert(Event).values(**event))
