"""The citizen's view of an appeal: plain language, the steps, and what the citizen can do."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import BaseModel, Field

from klageapi.core.validation import Text
from klageapi.models import AppealStatus, DocumentCategory, LegalBasis

__all__ = [
    "ActionRead",
    "AppealedDecisionRead",
    "CitizenAppealPage",
    "CitizenAppealRead",
    "CitizenDocumentList",
    "CitizenDocumentRead",
    "CitizenTaskRead",
    "CommentCreate",
    "CurrentStepRead",
    "DecisionWindowRead",
    "StepRead",
    "WindowBasis",
]


class StepRead(BaseModel):
    step: str = Field(examples=["nav_review"])
    title: str = Field(examples=["NAV ser på vedtaket på nytt"])
    on: dt.date | None = Field(default=None, description="When it was done (done steps only).")


class CurrentStepRead(BaseModel):
    step: str | None = Field(
        description="The step now; none when the case is closed (withdrawn, closed by NAV)."
    )
    status: AppealStatus = Field(description="The appeal's status (machine-readable).")
    description: str
    since: dt.date = Field(description="Since when the appeal has been where it is.")
    who_has_the_case: str
    outcome: str | None = Field(default=None, description="NAV's or the Statsforvalter's answer.")


class WindowBasis(enum.StrEnum):
    preliminary_reply = "preliminary_reply"
    office_history = "office_history"
    fallback = "fallback"
    nav_and_office_history = "nav_and_office_history"
    nav_first = "nav_first"


class DecisionWindowRead(BaseModel):
    earliest: dt.date | None = Field(description="Null when no honest estimate can be made.")
    latest: dt.date | None
    basis: WindowBasis = Field(
        description="A preliminary reply's date; the Statsforvalter office's times over the"
        " last 12 months (p50 to p90); or, with too little data, the 90-day target from its"
        " receipt. While NAV has the appeal: NAV's review first, the NAV office's and the"
        " Statsforvalter office's recent times added up (`nav_and_office_history`), or, with"
        " too little data, no dates (`nav_first`)."
    )
    explanation: str


class ActionRead(BaseModel):
    """A task open now: `comment` (on the case presentation, by its deadline),
    `send_documentation` (for an open documentation request), `send_documents` (unasked, once
    forwarded) or `withdraw`."""

    action: str = Field(examples=["withdraw"])
    text: str
    due_on: dt.date | None = Field(default=None, description="The task's deadline, if it has one.")
    method: str = Field(examples=["POST"], description="How to carry it out: `method` `href`.")
    href: str = Field(examples=["/v1/me/appeals/3f0c.../withdrawal"])
    documentation_request_id: uuid.UUID | None = None


class AppealedDecisionRead(BaseModel):
    """Which decision the appeal is about, so a citizen with several can tell them apart."""

    reference: str = Field(examples=["VEDTAK-2026-0042"])
    decided_on: dt.date
    nav_office: str = Field(examples=["NAV Stavanger"])
    legal_basis: LegalBasis
    about: str = Field(description="The same in a sentence.")


class CitizenAppealRead(BaseModel):
    id: uuid.UUID
    title: str
    received_on: dt.date
    decision: AppealedDecisionRead
    late: str | None = Field(
        default=None,
        description="When the appeal came after the deadline: what that means (fvl § 31).",
    )
    done: list[StepRead]
    now: CurrentStepRead
    ahead: list[StepRead]
    expected_decision: DecisionWindowRead | None = Field(
        description="When an answer can be expected; none once the case is closed."
    )
    you_can: list[ActionRead] = Field(description="Exactly the tasks open now.")
    documents_href: str = Field(
        description="Where the documents the citizen may read are listed, to download."
    )
    after_decision: str | None = Field(
        default=None,
        description="Once decided: what the decision means, that it is final in the ordinary"
        " appeal process and the Parliamentary Ombud may be asked, and where the letter is.",
    )


class CitizenAppealPage(BaseModel):
    """A page of the citizen's appeals, newest first; `next_cursor` fetches the next."""

    items: list[CitizenAppealRead]
    next_cursor: str | None = None


class CommentCreate(BaseModel):
    """The citizen's comment on the case presentation (fvl § 33)."""

    text: Text = Field(min_length=1, max_length=10_000, examples=["Jeg er uenig i at ..."])


class CitizenDocumentRead(BaseModel):
    """A document of the appeal the citizen may read."""

    id: uuid.UUID
    category: DocumentCategory
    title: str
    media_type: str = Field(examples=["application/pdf"])
    size: int = Field(description="Bytes.")
    sha256: str
    uploaded_at: dt.datetime
    sent_by_you: bool = Field(description="Whether the citizen sent it through this view.")
    href: str = Field(description="Where to download it with the citizen's token.")


class CitizenDocumentList(BaseModel):
    """The documents of one appeal the citizen may read, oldest first (one page: never more
    than a case holds)."""

    items: list[CitizenDocumentRead]
    next_cursor: str | None = None


class CitizenTaskRead(BaseModel):
    """A task the citizen carried out."""

    task: str = Field(examples=["comment"])
    appeal_id: uuid.UUID
    status: AppealStatus = Field(description="The appeal's status after it.")
    document: CitizenDocumentRead | None = Field(
        default=None, description="What the citizen sent, as it was stored."
    )
    sent_to_statsforvalter: bool = Field(
        description="Whether it went to the Statsforvalter as a supplementary package."
    )
