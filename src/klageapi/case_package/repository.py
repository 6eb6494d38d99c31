"""SQL for case packages and documentation requests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core import queue_order
from klageapi.core.queue_order import FeedOrder
from klageapi.models import (
    Appeal,
    AppealStatus,
    CasePackage,
    Document,
    DocumentationRequest,
    PackageDocument,
    PackageKind,
    PackageStatus,
)
from klageapi.registry import access

__all__ = [
    "FeedItem",
    "documentation_requests_of",
    "feed",
    "get",
    "get_documentation_request",
    "latest_forwarding",
    "mark_first_download",
    "package_documents",
]


async def mark_first_download(
    session: AsyncSession, package_id: uuid.UUID, organisation: str, at: dt.datetime
) -> bool:
    """Keep the first download's time and organisation; False when one was kept before."""
    result = await session.execute(
        update(CasePackage)
        .where(CasePackage.id == package_id, CasePackage.first_downloaded_at.is_(None))
        .values(first_downloaded_at=at, first_downloaded_by=organisation)
        .returning(CasePackage.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def get(
    session: AsyncSession, package_id: uuid.UUID, *, for_update: bool = False
) -> CasePackage | None:
    query = select(CasePackage).where(CasePackage.id == package_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).one_or_none()


@dataclass(frozen=True)
class FeedItem:
    package: CasePackage
    received_on: dt.date
    """When NAV received the package's appeal (the citizen's wait began)."""

    def key(self, name: str) -> Any:
        """The value of one of the feed's order keys (`queue_order.FEED`)."""
        return self.received_on if name == "received_on" else getattr(self.package, name)


async def feed(
    session: AsyncSession,
    *,
    offices: access.Offices,
    status: PackageStatus | None,
    frozen_before: dt.datetime | None,
    order: FeedOrder,
    after: Sequence[Any] | None,
    limit: int,
) -> list[FeedItem]:
    """Packages for the offices in `order`, after the position `after`; none of appeals
    withdrawn or closed since they were forwarded (nobody is to receive those)."""
    query = (
        select(CasePackage, Appeal.received_on)
        .join(Appeal, Appeal.id == CasePackage.appeal_id)
        .where(
            access.packages_at(offices),
            Appeal.status.not_in([AppealStatus.withdrawn, AppealStatus.closed_by_nav]),
        )
    )
    if status is not None:
        query = query.where(CasePackage.status == status)
    if frozen_before is not None:
        query = query.where(CasePackage.frozen_at < frozen_before)
    if after is not None:
        query = query.where(queue_order.FEED[order].after(after))
    query = query.order_by(*queue_order.FEED[order].order_by()).limit(limit)
    return [FeedItem(package, received_on) for package, received_on in await session.execute(query)]


async def package_documents(session: AsyncSession, package_id: uuid.UUID) -> Sequence[Document]:
    query = (
        select(Document)
        .join(PackageDocument, PackageDocument.document_id == Document.id)
        .where(PackageDocument.package_id == package_id)
        .order_by(PackageDocument.position)
    )
    return (await session.scalars(query)).all()


async def get_documentation_request(
    session: AsyncSession, request_id: uuid.UUID, *, for_update: bool = False
) -> DocumentationRequest | None:
    query = select(DocumentationRequest).where(DocumentationRequest.id == request_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).one_or_none()


async def documentation_requests_of(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[DocumentationRequest]:
    """A page of the appeal's documentation requests in (requested_at, id) order."""
    query = select(DocumentationRequest).where(DocumentationRequest.appeal_id == appeal_id)
    if after is not None:
        query = query.where(
            tuple_(DocumentationRequest.requested_at, DocumentationRequest.id) > tuple_(*after)
        )
    query = query.order_by(DocumentationRequest.requested_at, DocumentationRequest.id)
    return (await session.scalars(query.limit(limit))).all()


async def latest_forwarding(session: AsyncSession, appeal_id: uuid.UUID) -> dict[str, object]:
    """The forwarding form's answers of the appeal's latest initial package ({} for none)."""
    query = (
        select(CasePackage.manifest["forwarding"])
        .where(CasePackage.appeal_id == appeal_id, CasePackage.kind == PackageKind.initial)
        .order_by(CasePackage.frozen_at.desc(), CasePackage.id.desc())
        .limit(1)
    )
    found = await session.scalar(query)
    return found if isinstance(found, dict) else {}
