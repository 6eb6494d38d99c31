"""Request and response bodies about appeals."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import Field, ValidationInfo, field_validator

from klageapi.core.pagination import Page
from klageapi.core.schemas import Schema
from klageapi.core.validation import DateTime, MunicipalityNumber, NationalId, Text, UnitNumber
from klageapi.models.appeal import (
    Appeal,
    AppealStatus,
    Channel,
    LegalBasis,
    NavOutcome,
    StatsforvalterOutcome,
)

__all__ = [
    "OCCURRED_AT",
    "AppealCreate",
    "AppealDeadlineRead",
    "AppealHistoryRead",
    "AppealPage",
    "AppealRead",
    "DecisionCreate",
    "DecisionRef",
    "HistoryEntryRead",
    "NavKlageOutcome",
    "NavKlageStatus",
    "NavOutcomeCreate",
    "PreliminaryReplyCreate",
    "StateDurationRead",
    "StepCreate",
    "appeal_read",
    "nav_klage_status",
]


class NavKlageStatus(enum.StrEnum):
    """The status values of NAV's own klage format, for consumers that speak it."""

    MOTTATT = "MOTTATT"
    UNDER_BEHANDLING = "UNDER_BEHANDLING"
    VIDERESENDT = "VIDERESENDT"
    FERDIGBEHANDLET = "FERDIGBEHANDLET"
    TRUKKET = "TRUKKET"


_NAV_KLAGE_STATUS = {
    AppealStatus.received: NavKlageStatus.MOTTATT,
    AppealStatus.under_nav_review: NavKlageStatus.UNDER_BEHANDLING,
    AppealStatus.closed_by_nav: NavKlageStatus.FERDIGBEHANDLET,
    AppealStatus.forwarded: NavKlageStatus.VIDERESENDT,
    AppealStatus.received_by_statsforvalter: NavKlageStatus.UNDER_BEHANDLING,
    AppealStatus.under_statsforvalter_review: NavKlageStatus.UNDER_BEHANDLING,
    AppealStatus.awaiting_documentation: NavKlageStatus.UNDER_BEHANDLING,
    AppealStatus.decided: NavKlageStatus.FERDIGBEHANDLET,
    AppealStatus.withdrawn: NavKlageStatus.TRUKKET,
}


def nav_klage_status(status: AppealStatus) -> NavKlageStatus:
    return _NAV_KLAGE_STATUS[status]


class NavKlageOutcome(enum.StrEnum):
    """The outcome values of NAV's own klage format."""

    MEDHOLD = "MEDHOLD"
    DELVIS_MEDHOLD = "DELVIS_MEDHOLD"
    OPPRETTHOLDT = "OPPRETTHOLDT"
    AVVIST = "AVVIST"


_NAV_KLAGE_OUTCOME = {
    NavOutcome.full_reversal: NavKlageOutcome.MEDHOLD,
    NavOutcome.partial_reversal: NavKlageOutcome.DELVIS_MEDHOLD,
    NavOutcome.upheld: NavKlageOutcome.OPPRETTHOLDT,
    NavOutcome.dismissed: NavKlageOutcome.AVVIST,
}


class SfKlageOutcome(enum.StrEnum):
    """The Statsforvalter's outcome in NAV's klage format."""

    STADFESTER = "STADFESTER"
    NYTT_VEDTAK = "NYTT_VEDTAK"
    OPPHEVER = "OPPHEVER"
    AVVIST = "AVVIST"


_SF_KLAGE_OUTCOME = {
    StatsforvalterOutcome.upheld: SfKlageOutcome.STADFESTER,
    StatsforvalterOutcome.new_decision: SfKlageOutcome.NYTT_VEDTAK,
    StatsforvalterOutcome.annulled: SfKlageOutcome.OPPHEVER,
    StatsforvalterOutcome.dismissed: SfKlageOutcome.AVVIST,
}

OCCURRED_AT = Field(
    default=None,
    description="When the step happened, if earlier than now (the case system reports late). "
    "Not in the future, not before the appeal's previous step.",
)


class DecisionRef(Schema):
    """The NAV decision that is appealed."""

    reference: Text = Field(min_length=1, max_length=200, examples=["VEDTAK-2026-0042"])
    decided_on: dt.date
    notified_on: dt.date
    legal_basis: LegalBasis = Field(
        default=LegalBasis.economic_assistance,
        description="What the decision was about (the provision of sosialtjenesteloven it"
        " applied): forwarding needs the documents the Statsforvalter offices list for it."
        " economic_assistance (§ 18) when not given.",
    )

    # Field validators, not model validators, so the error names the field
    # (decision.notified_on), not the object around it.
    @field_validator("notified_on")
    @classmethod
    def _notified_after_decided(cls, notified_on: dt.date, info: ValidationInfo) -> dt.date:
        decided_on = info.data.get("decided_on")
        if decided_on is not None and notified_on < decided_on:
            raise ValueError("notified_on cannot be before decided_on")
        return notified_on


class AppealCreate(Schema):
    """What a NAV case system sends to register an appeal."""

    nav_office_unit_number: UnitNumber
    municipality_number: MunicipalityNumber
    national_id: NationalId
    decision: DecisionRef
    received_on: dt.date
    channel: Channel
    grounds: Text = Field(min_length=1, max_length=20_000)
    external_reference: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="The case system's own id for the appeal; unique per NAV office.",
        examples=["SAK-2026-000123"],
    )
    occurred_at: DateTime | None = OCCURRED_AT
    digisos_case_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9-]+$",
        description="The Digisos case (nav.no's fiksDigisosId) the decision belongs to, so"
        " nav.no can show the appeal beside it; the citizen's list filters by it.",
    )
    nav_appeal_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9-]+$",
        description="NAV's own id of the appeal (klageId in NAV's klage format).",
    )
    other_decisions: list[DecisionRef] = Field(
        default_factory=list,
        max_length=20,
        description="Further decisions the appeal concerns; the appeal deadline and `late`"
        " follow `decision`.",
    )

    @field_validator("received_on")
    @classmethod
    def _received_after_decision(cls, received_on: dt.date, info: ValidationInfo) -> dt.date:
        decision = info.data.get("decision")
        if isinstance(decision, DecisionRef) and received_on < decision.decided_on:
            raise ValueError("received_on cannot be before the decision was made")
        return received_on


class AppealRead(Schema):
    id: uuid.UUID
    status: AppealStatus
    nav_status: NavKlageStatus = Field(description="The status in NAV's klage format.")
    version: int = Field(description="Bumped by every change; the ETag carries it.")
    nav_office_unit_number: str
    municipality_number: str
    statsforvalter_office_id: str
    national_id: str | None = Field(
        description="The citizen's national id; null once erased after the retention period."
    )
    decision: DecisionRef
    received_on: dt.date
    channel: Channel
    grounds: str
    external_reference: str
    appeal_deadline_on: dt.date
    late: bool = Field(description="Received after the appeal deadline; accepted, but flagged.")
    status_changed_at: dt.datetime = Field(description="When the current status began.")
    nav_outcome: NavOutcome | None = Field(description="NAV's preparatory review, once made.")
    nav_klage_outcome: NavKlageOutcome | None = Field(description="The same, in NAV's format.")
    nav_outcome_on: dt.date | None
    nav_reasoning: str | None
    expected_decision_on: dt.date | None = Field(
        description="From the latest preliminary reply (foreløpig svar)."
    )
    statsforvalter_case_number: str | None = Field(
        description="The Statsforvalter's own case number, from its receipt."
    )
    statsforvalter_outcome: StatsforvalterOutcome | None
    statsforvalter_klage_outcome: SfKlageOutcome | None = Field(
        description="The same, in NAV's format."
    )
    statsforvalter_decided_on: dt.date | None
    statsforvalter_decision_document_id: uuid.UUID | None
    digisos_case_id: str | None = None
    nav_appeal_id: str | None = None
    other_decisions: list[DecisionRef] = Field(default_factory=list)
    personal_data_erased_at: dt.datetime | None = Field(
        default=None,
        description="When the retention period had passed and the appeal's documents and"
        " personal data were erased (the national id, the grounds, NAV's reasoning).",
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class AppealDeadlineRead(Schema):
    """The appeal deadline for a decision notified on a day (fvl §§ 29-30), for decision letters."""

    notified_on: dt.date
    three_weeks_on: dt.date = Field(description="Three weeks after the notification.")
    appeal_deadline_on: dt.date = Field(
        description="The last day to appeal: three weeks after, moved to the next working day"
        " past weekends and Norwegian public holidays."
    )


class AppealPage(Page[AppealRead]):
    """A page of appeals, oldest change first."""


class StepCreate(Schema):
    """A step that needs nothing but, optionally, when it happened."""

    occurred_at: DateTime | None = OCCURRED_AT


class NavOutcomeCreate(Schema):
    """NAV's preparatory review (fvl § 33): full_reversal and dismissed close the appeal at NAV;
    upheld and partial_reversal leave it ready to be forwarded."""

    outcome: NavOutcome
    decided_on: dt.date
    reasoning: Text = Field(min_length=1, max_length=20_000)
    occurred_at: DateTime | None = OCCURRED_AT


class DecisionCreate(Schema):
    outcome: StatsforvalterOutcome
    decided_on: dt.date
    document_id: uuid.UUID = Field(description="An uploaded statsforvalter_decision document.")
    occurred_at: DateTime | None = OCCURRED_AT


class PreliminaryReplyCreate(Schema):
    """A preliminary reply (foreløpig svar, fvl § 11a) was sent to the citizen."""

    expected_decision_on: dt.date = Field(description="Not in the past.")
    occurred_at: DateTime | None = OCCURRED_AT


class HistoryEntryRead(Schema):
    id: int
    action: str = Field(examples=["start_nav_review"])
    from_status: AppealStatus | None
    to_status: AppealStatus
    actor_organisation: str = Field(examples=["0192:977777771"])
    actor_supplier: str | None
    occurred_at: dt.datetime = Field(description="When it happened (business time).")
    recorded_at: dt.datetime = Field(description="When klageapi was told.")
    details: dict[str, object]


class StateDurationRead(Schema):
    status: AppealStatus
    entered_at: dt.datetime
    left_at: dt.datetime | None = Field(description="Null for the state the appeal is in now.")
    calendar_days: float = Field(description="Elapsed time in days, to two decimals.")
    working_days: int = Field(
        description="Norwegian working days after the day it was entered, up to and including "
        "the day it was left (or today)."
    )


class AppealHistoryRead(Schema):
    appeal_id: uuid.UUID
    entries: list[HistoryEntryRead]
    time_in_states: list[StateDurationRead]


def appeal_read(appeal: Appeal) -> AppealRead:
    """The API's view of a stored appeal."""
    return AppealRead(
        id=appeal.id,
        status=appeal.status,
        nav_status=nav_klage_status(appeal.status),
        version=appeal.version,
        nav_office_unit_number=appeal.nav_office_unit_number,
        municipality_number=appeal.municipality_number,
        statsforvalter_office_id=appeal.statsforvalter_office_id,
        national_id=appeal.national_id,
        decision=DecisionRef.model_construct(
            reference=appeal.decision_reference,
            decided_on=appeal.decision_decided_on,
            notified_on=appeal.decision_notified_on,
            legal_basis=appeal.legal_basis,
        ),
        received_on=appeal.received_on,
        channel=appeal.channel,
        grounds=appeal.grounds,
        external_reference=appeal.external_reference,
        appeal_deadline_on=appeal.appeal_deadline_on,
        late=appeal.late,
        status_changed_at=appeal.status_changed_at,
        nav_outcome=appeal.nav_outcome,
        nav_klage_outcome=_NAV_KLAGE_OUTCOME[appeal.nav_outcome] if appeal.nav_outcome else None,
        nav_outcome_on=appeal.nav_outcome_on,
        nav_reasoning=appeal.nav_reasoning,
        expected_decision_on=appeal.expected_decision_on,
        statsforvalter_case_number=appeal.statsforvalter_case_number,
        statsforvalter_outcome=appeal.statsforvalter_outcome,
        statsforvalter_klage_outcome=_SF_KLAGE_OUTCOME[appeal.statsforvalter_outcome]
        if appeal.statsforvalter_outcome
        else None,
        statsforvalter_decided_on=appeal.statsforvalter_decided_on,
        statsforvalter_decision_document_id=appeal.statsforvalter_decision_document_id,
        digisos_case_id=appeal.digisos_case_id,
        nav_appeal_id=appeal.nav_appeal_id,
        other_decisions=[DecisionRef.model_validate(d) for d in appeal.other_decisions],
        personal_data_erased_at=appeal.personal_data_erased_at,
        created_at=appeal.created_at,
        updated_at=appeal.updated_at,
    )
