"""Request and response bodies about appeals."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import Field, ValidationInfo, field_validator

from klageapi.core.schemas import Schema
from klageapi.core.validation import MunicipalityNumber, NationalId, Text, UnitNumber
from klageapi.models.appeal import Appeal, AppealStatus, Channel

__all__ = [
    "AppealCreate",
    "AppealRead",
    "DecisionRef",
    "NavKlageStatus",
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


class DecisionRef(Schema):
    """The NAV decision that is appealed."""

    reference: Text = Field(min_length=1, max_length=200, examples=["VEDTAK-2026-0042"])
    decided_on: dt.date
    notified_on: dt.date

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
    national_id: str
    decision: DecisionRef
    received_on: dt.date
    channel: Channel
    grounds: str
    external_reference: str
    appeal_deadline_on: dt.date
    late: bool = Field(description="Received after the appeal deadline; accepted, but flagged.")
    created_at: dt.datetime
    updated_at: dt.datetime


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
        ),
        received_on=appeal.received_on,
        channel=appeal.channel,
        grounds=appeal.grounds,
        external_reference=appeal.external_reference,
        appeal_deadline_on=appeal.appeal_deadline_on,
        late=appeal.late,
        created_at=appeal.created_at,
        updated_at=appeal.updated_at,
    )
