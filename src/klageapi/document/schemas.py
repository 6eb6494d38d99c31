"""Response bodies about documents."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from klageapi.core.schemas import Schema
from klageapi.models import DocumentCategory

__all__ = ["DocumentList", "DocumentRead"]


class DocumentRead(Schema):
    id: uuid.UUID
    appeal_id: uuid.UUID
    category: DocumentCategory
    title: str
    file_name: str | None
    media_type: str = Field(examples=["application/pdf"])
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="Hex; also the ETag of its content.")
    uploaded_by_organisation: str
    uploaded_at: dt.datetime


class DocumentList(Schema):
    """A page of an appeal's documents, oldest first."""

    items: list[DocumentRead]
    next_cursor: str | None = None
