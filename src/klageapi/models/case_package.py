"""Case packages (oversendelser): frozen bundles NAV forwards, and documentation requests."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from klageapi.models.appeal import UrgentReason
from klageapi.models.base import Base, text_enum

__all__ = [
    "CasePackage",
    "DocumentationRequest",
    "DocumentationRequestStatus",
    "PackageDocument",
    "PackageKind",
    "PackageStatus",
]


class PackageKind(enum.StrEnum):
    initial = "initial"
    supplementary = "supplementary"


class PackageStatus(enum.StrEnum):
    awaiting_receipt = "awaiting_receipt"
    received = "received"
    rejected = "rejected"
    withdrawn = "withdrawn"
    """The appeal was withdrawn, closed or sent back to NAV (its first package rejected as
    incomplete) while the package awaited receipt."""


class CasePackage(Base):
    """A frozen package: its manifest never changes; only its receipt or rejection is added."""

    __tablename__ = "case_package"
    __table_args__ = (
        # The pull feed: urgent packages first, then the oldest.
        Index(
            "ix_case_package_feed",
            "statsforvalter_office_id",
            "status",
            text("urgent DESC"),
            "frozen_at",
            "id",
        ),
        Index("ix_case_package_appeal_id", "appeal_id", "frozen_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    appeal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appeal.id", ondelete="CASCADE"))
    kind: Mapped[PackageKind] = mapped_column(text_enum(PackageKind, "package_kind"))
    status: Mapped[PackageStatus] = mapped_column(text_enum(PackageStatus, "package_status"))
    statsforvalter_office_id: Mapped[str] = mapped_column(ForeignKey("statsforvalter_office.id"))
    manifest: Mapped[dict[str, object]] = mapped_column(JSONB, doc="Frozen when forwarded.")
    urgent: Mapped[bool] = mapped_column(server_default=text("false"))
    urgent_reason: Mapped[UrgentReason | None] = mapped_column(
        text_enum(UrgentReason, "urgent_reason")
    )
    frozen_at: Mapped[dt.datetime] = mapped_column(
        doc="When it was forwarded (business time: the step's occurred_at)."
    )
    recorded_at: Mapped[dt.datetime] = mapped_column(doc="When klageapi was told.")
    documentation_request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("documentation_request.id")
    )
    received_at: Mapped[dt.datetime | None] = mapped_column(doc="Business time, as frozen_at.")
    statsforvalter_case_number: Mapped[str | None] = mapped_column(String(100))
    rejected_at: Mapped[dt.datetime | None]
    rejection_reason: Mapped[str | None] = mapped_column(String(20))
    rejection_description: Mapped[str | None] = mapped_column(Text)
    overdue_notified_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the worker emitted package.overdue (once)."
    )
    first_downloaded_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the Statsforvalter's side first began downloading the bundle."
    )
    first_downloaded_by: Mapped[str | None] = mapped_column(
        String(20), doc="The organisation (0192:<orgnr>) that did."
    )


class PackageDocument(Base):
    """Which documents a package froze, in manifest order."""

    __tablename__ = "package_document"
    __table_args__ = (UniqueConstraint("package_id", "position"),)

    package_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("case_package.id", ondelete="CASCADE"), primary_key=True
    )
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("document.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class DocumentationRequestStatus(enum.StrEnum):
    open = "open"
    fulfilled = "fulfilled"
    cancelled = "cancelled"


class DocumentationRequest(Base):
    """The Statsforvalter asks NAV for more documentation, by a due date."""

    __tablename__ = "documentation_request"
    __table_args__ = (Index("ix_documentation_request_appeal_id", "appeal_id", "requested_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    appeal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appeal.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(Text)
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default="{}")
    due_on: Mapped[dt.date]
    status: Mapped[DocumentationRequestStatus] = mapped_column(
        text_enum(DocumentationRequestStatus, "documentation_request_status")
    )
    requested_at: Mapped[dt.datetime]
    requested_by_organisation: Mapped[str] = mapped_column(String(20))
    fulfilled_at: Mapped[dt.datetime | None]
    overdue_notified_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the worker emitted documentation.overdue (once)."
    )
