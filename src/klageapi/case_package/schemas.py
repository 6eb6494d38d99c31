"""Request and response bodies of packages and the Statsforvalter's steps."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import AwareDatetime, Field, model_validator

from klageapi.appeal.schemas import OCCURRED_AT
from klageapi.core.pagination import Page
from klageapi.core.schemas import Schema
from klageapi.core.validation import Text
from klageapi.models import (
    DocumentationRequestStatus,
    DocumentCategory,
    PackageKind,
    PackageStatus,
)

__all__ = [
    "DocumentationRequestCreate",
    "DocumentationRequestList",
    "DocumentationRequestRead",
    "FulfilmentCreate",
    "PackageCreate",
    "PackagePage",
    "PackageRead",
    "PackageSummary",
    "ReceiptCreate",
    "RejectionCreate",
    "RejectionReason",
]


class PackageCreate(Schema):
    occurred_at: AwareDatetime | None = OCCURRED_AT


class PackageSummary(Schema):
    """A package in the pull feed."""

    id: uuid.UUID
    appeal_id: uuid.UUID
    kind: PackageKind
    status: PackageStatus
    statsforvalter_office_id: str
    frozen_at: dt.datetime = Field(
        description="When it was forwarded (the step's occurred_at: business time)."
    )
    recorded_at: dt.datetime = Field(description="When klageapi was told it was forwarded.")
    waited_working_days: int = Field(
        description="Working days since it was forwarded (until received, if it was)."
    )
    overdue: bool = Field(description="Awaiting receipt longer than the office's target.")
    received_at: dt.datetime | None = Field(description="When it was received (business time).")
    statsforvalter_case_number: str | None
    first_downloaded_at: dt.datetime | None = Field(
        description="When the Statsforvalter's side first began downloading its bundle."
    )
    first_downloaded_by: str | None = Field(
        description="The organisation that did, as 0192:<orgnr>.", examples=["0192:922222223"]
    )


class PackageRead(PackageSummary):
    """A package with its frozen manifest."""

    manifest: dict[str, object]
    rejection_reason: str | None
    rejection_description: str | None


class PackagePage(Page[PackageSummary]):
    """The pull feed, oldest first."""


class ReceiptCreate(Schema):
    statsforvalter_case_number: str = Field(
        min_length=1, max_length=100, pattern=r"^[\x21-\x7e][\x20-\x7e]*$", examples=["2026/1234"]
    )
    occurred_at: AwareDatetime | None = OCCURRED_AT


class RejectionReason(enum.StrEnum):
    not_ours = "not_ours"
    incomplete = "incomplete"


class RejectionCreate(Schema):
    """`not_ours` names the office it belongs to; `incomplete` says what is missing."""

    reason: RejectionReason
    statsforvalter_office_id: str | None = Field(default=None, pattern=r"^[a-z0-9-]{2,64}$")
    description: Text | None = Field(default=None, min_length=1, max_length=5000)
    occurred_at: AwareDatetime | None = OCCURRED_AT

    @model_validator(mode="after")
    def _reason_needs_its_field(self) -> RejectionCreate:
        if self.reason is RejectionReason.not_ours and self.statsforvalter_office_id is None:
            raise ValueError("not_ours needs statsforvalter_office_id")
        if self.reason is RejectionReason.incomplete and self.description is None:
            raise ValueError("incomplete needs a description")
        return self


class DocumentationRequestCreate(Schema):
    description: Text = Field(min_length=1, max_length=5000)
    categories: list[DocumentCategory] = Field(default=[], max_length=10)
    due_on: dt.date = Field(description="Not in the past.")
    occurred_at: AwareDatetime | None = OCCURRED_AT


class DocumentationRequestRead(Schema):
    id: uuid.UUID
    appeal_id: uuid.UUID
    description: str
    categories: list[str]
    due_on: dt.date
    status: DocumentationRequestStatus
    overdue: bool = Field(description="Open past its due date.")
    requested_at: dt.datetime
    requested_by_organisation: str
    fulfilled_at: dt.datetime | None


class DocumentationRequestList(Schema):
    items: list[DocumentationRequestRead]
    next_cursor: str | None = None


class FulfilmentCreate(Schema):
    document_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)
    occurred_at: AwareDatetime | None = OCCURRED_AT
