"""Appeals and the history of their transitions.

The milestone columns of `Appeal` (`MILESTONES.keeps`) are written by a trigger on
`appeal_history`, not by code: see `MILESTONES`.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from klageapi.models.base import Base, TimestampMixin, Trigger, text_enum

__all__ = [
    "MILESTONES",
    "Appeal",
    "AppealHistory",
    "AppealStatus",
    "Channel",
    "LegalBasis",
    "NavOutcome",
    "StatsforvalterOutcome",
    "UrgentReason",
]


class AppealStatus(enum.StrEnum):
    received = "received"
    under_nav_review = "under_nav_review"
    closed_by_nav = "closed_by_nav"
    forwarded = "forwarded"
    received_by_statsforvalter = "received_by_statsforvalter"
    under_statsforvalter_review = "under_statsforvalter_review"
    awaiting_documentation = "awaiting_documentation"
    decided = "decided"
    withdrawn = "withdrawn"


class NavOutcome(enum.StrEnum):
    """NAV's own review of its decision (forberedende klagebehandling)."""

    full_reversal = "full_reversal"
    partial_reversal = "partial_reversal"
    upheld = "upheld"
    dismissed = "dismissed"


class StatsforvalterOutcome(enum.StrEnum):
    """The appeal body's decision."""

    upheld = "upheld"
    new_decision = "new_decision"
    annulled = "annulled"
    dismissed = "dismissed"


class LegalBasis(enum.StrEnum):
    """What the appealed decision was about: the provision of sosialtjenesteloven it applied.
    The Statsforvalter offices' forwarding checklists ask for different documents by it."""

    economic_assistance = "economic_assistance"
    """§ 18: financial assistance for subsistence (stønad til livsopphold)."""
    special_circumstances = "special_circumstances"
    """§ 19: assistance in special circumstances."""
    conditions = "conditions"
    """§§ 20 and 20 a: conditions attached to assistance, the duty of activity."""
    temporary_housing = "temporary_housing"
    """§ 27: temporary accommodation (midlertidig botilbud)."""
    refund_claim = "refund_claim"
    """§§ 25-26: the municipality's claim to have assistance refunded."""


class UrgentReason(enum.StrEnum):
    """Why a forwarded appeal is urgent, as the offices' forwarding forms list it."""

    emergency_help = "emergency_help"
    eviction = "eviction"
    electricity_arrears = "electricity_arrears"
    temporary_housing = "temporary_housing"
    other = "other"


class Channel(enum.StrEnum):
    digital = "digital"
    paper = "paper"


DECIDED_FIGURES_COLUMNS = [
    "statsforvalter_office_id",
    "nav_office_unit_number",
    "municipality_number",
    "channel",
    "forwarded_at",
    "statsforvalter_outcome",
    "registered_at",
    "last_forwarded_at",
    "statsforvalter_received_at",
    "statsforvalter_review_started_at",
    "documentation_wait_seconds",
    "received_on",
]
"""What the processing-time statistics read of a decided appeal besides `decided_at`."""


class Appeal(Base, TimestampMixin):
    """One citizen's appeal against one NAV decision."""

    __tablename__ = "appeal"
    __table_args__ = (
        UniqueConstraint("nav_office_unit_number", "external_reference"),
        CheckConstraint("national_id ~ '^[0-9]{11}$'", name="national_id_format"),
        CheckConstraint("municipality_number ~ '^[0-9]{4}$'", name="municipality_number_format"),
        CheckConstraint("version >= 1", name="version_positive"),
        # One index per list filter, each ordered as the list is (updated_at, id).
        Index("ix_appeal_status_updated_at", "status", "updated_at", "id"),
        Index("ix_appeal_nav_office_updated_at", "nav_office_unit_number", "updated_at", "id"),
        Index("ix_appeal_sf_office_updated_at", "statsforvalter_office_id", "updated_at", "id"),
        Index("ix_appeal_updated_at", "updated_at", "id"),
        # Office and status together: the plan stays an index range whatever PostgreSQL's
        # generic plan for the prepared statement guesses about the status filter.
        Index(
            "ix_appeal_nav_office_status_updated_at",
            "nav_office_unit_number",
            "status",
            "updated_at",
            "id",
        ),
        Index(
            "ix_appeal_sf_office_status_updated_at",
            "statsforvalter_office_id",
            "status",
            "updated_at",
            "id",
            postgresql_where=text("forwarded_at IS NOT NULL"),
        ),
        Index(
            "ix_appeal_nav_office_late_updated_at",
            "nav_office_unit_number",
            "updated_at",
            "id",
            postgresql_where=text("late"),
        ),
        # The retention job's search: finished appeals not yet erased, oldest first.
        Index(
            "ix_appeal_retention_due",
            "status_changed_at",
            postgresql_where=text(
                "personal_data_erased_at IS NULL"
                " AND status IN ('decided', 'closed_by_nav', 'withdrawn')"
            ),
        ),
        # The statistics' population of appeals received in a period.
        Index("ix_appeal_received_on", "received_on"),
        # ... and of appeals decided in a period, with all the statistics read of them: an
        # index-only scan of decided appeals instead of the whole (wide) table.
        Index(
            "ix_appeal_decided_at",
            "decided_at",
            postgresql_include=DECIDED_FIGURES_COLUMNS,
            postgresql_where=text("decided_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    nav_office_unit_number: Mapped[str] = mapped_column(ForeignKey("nav_office.unit_number"))
    municipality_number: Mapped[str] = mapped_column(String(4))
    statsforvalter_office_id: Mapped[str] = mapped_column(ForeignKey("statsforvalter_office.id"))
    national_id: Mapped[str | None] = mapped_column(
        String(11), index=True, doc="None once erased after the retention period."
    )
    decision_reference: Mapped[str] = mapped_column(Text)
    decision_decided_on: Mapped[dt.date]
    decision_notified_on: Mapped[dt.date]
    legal_basis: Mapped[LegalBasis] = mapped_column(
        text_enum(LegalBasis, "legal_basis"), server_default=LegalBasis.economic_assistance.value
    )
    received_on: Mapped[dt.date]
    channel: Mapped[Channel] = mapped_column(text_enum(Channel, "channel"))
    grounds: Mapped[str] = mapped_column(Text)
    external_reference: Mapped[str] = mapped_column(String(200))
    appeal_deadline_on: Mapped[dt.date]
    late: Mapped[bool]
    status: Mapped[AppealStatus] = mapped_column(text_enum(AppealStatus, "appeal_status"))
    version: Mapped[int] = mapped_column(default=1)
    status_changed_at: Mapped[dt.datetime] = mapped_column(
        server_default=func.now(), doc="When the current status began (business time)."
    )
    nav_outcome: Mapped[NavOutcome | None] = mapped_column(text_enum(NavOutcome, "nav_outcome"))
    nav_outcome_on: Mapped[dt.date | None]
    nav_reasoning: Mapped[str | None] = mapped_column(Text)
    expected_decision_on: Mapped[dt.date | None] = mapped_column(
        doc="From the latest preliminary reply (foreløpig svar)."
    )
    urgent: Mapped[bool] = mapped_column(
        server_default=text("false"), doc="Marked urgent by NAV when it last forwarded it."
    )
    urgent_reason: Mapped[UrgentReason | None] = mapped_column(
        text_enum(UrgentReason, "urgent_reason")
    )
    forwarded_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the appeal was first forwarded; the Statsforvalter office sees it from then on."
    )
    statsforvalter_case_number: Mapped[str | None] = mapped_column(
        String(100), doc="The Statsforvalter's own case number, from the receipt."
    )
    statsforvalter_outcome: Mapped[StatsforvalterOutcome | None] = mapped_column(
        text_enum(StatsforvalterOutcome, "statsforvalter_outcome")
    )
    statsforvalter_decided_on: Mapped[dt.date | None]
    statsforvalter_decision_document_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("document.id", use_alter=True)
    )
    # Links to nav.no's case, for frontends that show the appeal beside it.
    digisos_case_id: Mapped[str | None] = mapped_column(
        String(64), index=True, doc="The Digisos case (fiksDigisosId) the decision belongs to."
    )
    nav_appeal_id: Mapped[str | None] = mapped_column(
        String(64), doc="NAV's own id of the appeal (klageId in NAV's klage format)."
    )
    other_decisions: Mapped[list[dict[str, object]]] = mapped_column(
        JSONB,
        server_default=text("'[]'::jsonb"),
        doc="Further decisions the appeal concerns besides `decision_*` (reference and dates).",
    )
    registration_digest: Mapped[str] = mapped_column(
        String(64), doc="sha256 of the registration's content: tells a retry from a conflict."
    )
    # Milestones, in business time, kept by the MILESTONES trigger (below) as the history grows.
    last_step_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the latest step happened: the next may not be dated before it."
    )
    registered_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    last_forwarded_at: Mapped[dt.datetime | None] = mapped_column(
        doc="The latest forwarding: NAV's preparation lasts until then."
    )
    statsforvalter_received_at: Mapped[dt.datetime | None] = mapped_column(
        doc="The first receipt by a Statsforvalter office."
    )
    statsforvalter_review_started_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the Statsforvalter first started its review after a receipt."
    )
    documentation_wait_seconds: Mapped[float | None] = mapped_column(
        doc="Time spent awaiting documentation, over the requests fulfilled; None: never asked."
    )
    decided_at: Mapped[dt.datetime | None] = mapped_column(doc="The Statsforvalter's decision.")
    personal_data_erased_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the retention job erased the appeal's documents and personal data."
    )


class AppealHistory(Base):
    """One transition of an appeal; append-only."""

    __tablename__ = "appeal_history"
    __table_args__ = (
        Index("ix_appeal_history_appeal_id_id", "appeal_id", "id"),
        # The statistics' population of appeals decided in a period, found without walking
        # every history row.
        Index(
            "ix_appeal_history_decided_occurred_at",
            "occurred_at",
            "appeal_id",
            postgresql_where=text("to_status = 'decided'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appeal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appeal.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(40), doc="register, start_nav_review, ...")
    from_status: Mapped[AppealStatus | None] = mapped_column(text_enum(AppealStatus, "from_status"))
    to_status: Mapped[AppealStatus] = mapped_column(text_enum(AppealStatus, "to_status"))
    actor_organisation: Mapped[str] = mapped_column(String(20))
    actor_supplier: Mapped[str | None] = mapped_column(String(20))
    occurred_at: Mapped[dt.datetime] = mapped_column(doc="When it happened (business time).")
    recorded_at: Mapped[dt.datetime] = mapped_column(doc="When klageapi was told.")
    details: Mapped[dict[str, object]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), doc="The action's parameters; no personal data."
    )


MILESTONES = Trigger(
    name="appeal_history_milestones",
    table="appeal_history",
    function="klageapi_appeal_milestones",
    why="The history is the record; the trigger (migrations 0008 and 0009) keeps the appeal's"
    " milestones as it grows, whoever writes it (the lifecycle, test factories, the benchmarks'"
    " bulk loads), so the statistics read one row per appeal instead of its history"
    " (bench/statistics.py, worst shape at 100,000 appeals: p95 2.6 s before, 0.35-0.73 s"
    " after) and a step is"
    " checked against the previous one without asking the history for its latest time (one"
    " round trip less per step).",
    keeps=(
        "appeal.last_step_at",
        "appeal.last_forwarded_at",
        "appeal.statsforvalter_received_at",
        "appeal.statsforvalter_review_started_at",
        "appeal.documentation_wait_seconds",
        "appeal.decided_at",
    ),
)
