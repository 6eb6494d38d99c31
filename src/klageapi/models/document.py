"""Documents attached to appeals; their bytes live in content-addressed blob storage."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from klageapi.models.base import Base, text_enum

__all__ = ["BlobRemoval", "Document", "DocumentCategory"]


class DocumentCategory(enum.StrEnum):
    appeal = "appeal"
    decision = "decision"
    forwarding_letter = "forwarding_letter"
    application = "application"
    """The application the decision answered, with its attachments."""
    journal_note = "journal_note"
    advance_notice = "advance_notice"
    """Forhåndsvarsel: the notice before a refund claim was decided."""
    settlement_list = "settlement_list"
    """Oppgjørsliste: what a refund claim is made of."""
    citizen_comment = "citizen_comment"
    supporting_document = "supporting_document"
    documentation_response = "documentation_response"
    statsforvalter_decision = "statsforvalter_decision"
    correspondence = "correspondence"


class Document(Base):
    """One uploaded file of an appeal. Immutable once stored."""

    __tablename__ = "document"
    __table_args__ = (
        CheckConstraint("size > 0", name="size_positive"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_format"),
        Index("ix_document_appeal_id_uploaded_at", "appeal_id", "uploaded_at", "id"),
        # The citizen's own id of a document sent unasked: sending it again is the same document.
        Index(
            "uq_document_appeal_id_sender_reference",
            "appeal_id",
            "sender_reference",
            unique=True,
            postgresql_where=text("sender_reference IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    appeal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appeal.id", ondelete="CASCADE"))
    category: Mapped[DocumentCategory] = mapped_column(
        text_enum(DocumentCategory, "document_category")
    )
    title: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    crc32: Mapped[int] = mapped_column(
        BigInteger, doc="Kept so a bundle can store the file in its ZIP without reading it twice."
    )
    uploaded_by_organisation: Mapped[str] = mapped_column(String(20))
    uploaded_by_supplier: Mapped[str | None] = mapped_column(String(20))
    uploaded_at: Mapped[dt.datetime]
    sender_reference: Mapped[str | None] = mapped_column(
        String(100), doc="The sender's own id of a document the citizen sent unasked."
    )


class BlobRemoval(Base):
    """Bytes no document has any more, marked for removal from the store (document.removal): an
    upload of the same bytes is refused while the mark exists, which is until `HOLD` after
    `removed_at`."""

    __tablename__ = "blob_removal"
    __table_args__ = (CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_format"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    marked_at: Mapped[dt.datetime]
    removed_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the store's delete was done; NULL until then."
    )
