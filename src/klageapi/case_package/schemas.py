"""Request and response bodies of packages and the Statsforvalter's steps."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import Field, ValidationInfo, field_validator, model_validator

from klageapi.appeal.schemas import OCCURRED_AT
from klageapi.core.pagination import Page
from klageapi.core.schemas import Schema
from klageapi.core.validation import DateTime, Text
from klageapi.models import (
    DocumentationRequestStatus,
    DocumentCategory,
    PackageKind,
    PackageStatus,
    UrgentReason,
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
    """What the Statsforvalter offices' forwarding forms ask of NAV besides the documents."""

    urgent: bool = Field(
        default=False, description="The case must be handled first; `urgent_reason` says why."
    )
    urgent_reason: UrgentReason | None = Field(
        default=None, validate_default=True, description="Required when urgent, else absent."
    )
    deferred_enforcement_requested: bool | None = Field(
        default=None, description="The appellant asked for deferred enforcement (fvl § 42)."
    )
    case_presentation_sent_on: dt.date | None = Field(
        default=None,
        description="When the case presentation (saksfremlegg) was sent to the appellant"
        " (fvl § 33).",
    )
    comment_deadline_on: dt.date | None = Field(
        default=None,
        validate_default=True,
        description="The appellant's deadline to comment on it; not before it was sent.",
    )
    other_appeal_pending: bool | None = Field(
        default=None, description="The appellant has another appeal pending."
    )
    children_affected: bool | None = Field(
        default=None, description="Children are affected by the decision."
    )
    children_needs_assessed: bool | None = Field(
        default=None, description="NAV has assessed and made visible the children's needs."
    )
    occurred_at: DateTime | None = OCCURRED_AT

    # Field validators, so the error names the field.
    @field_validator("urgent_reason")
    @classmethod
    def _reason_when_urgent(
        cls, reason: UrgentReason | None, info: ValidationInfo
    ) -> UrgentReason | None:
        urgent = info.data.get("urgent")
        if urgent and reason is None:
            raise ValueError("an urgent case needs its reason")
        if urgent is False and reason is not None:
            raise ValueError("only an urgent case has a reason")
        return reason

    @field_validator("comment_deadline_on")
    @classmethod
    def _deadline_after_presentation(
        cls, deadline: dt.date | None, info: ValidationInfo
    ) -> dt.date | None:
        sent = info.data.get("case_presentation_sent_on")
        if deadline is not None and sent is not None and deadline < sent:
            raise ValueError("the comment deadline cannot be before the case presentation was sent")
        return deadline

    def facts(self) -> dict[str, object]:
        """The forwarding form's answers, as the manifest keeps them."""
        return self.model_dump(mode="json", exclude={"occurred_at"})


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
    urgent: bool = Field(description="Urgent: served first in the feed.")
    urgent_reason: UrgentReason | None
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
    occurred_at: DateTime | None = OCCURRED_AT


class RejectionReason(enum.StrEnum):
    not_ours = "not_ours"
    incomplete = "incomplete"


class RejectionCreate(Schema):
    """`not_ours` names the office it belongs to; `incomplete` says what is missing."""

    reason: RejectionReason
    statsforvalter_office_id: str | None = Field(default=None, pattern=r"^[a-z0-9-]{2,64}$")
    description: Text | None = Field(default=None, min_length=1, max_length=5000)
    occurred_at: DateTime | None = OCCURRED_AT

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
    occurred_at: DateTime | None = OCCURRED_AT


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
    occurred_at: DateTime | None = OCCURRED_AT
