"""The processing-time figures as the API returns them."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from klageapi.core.schemas import Schema
from klageapi.models import Channel
from klageapi.statistics.repository import GroupBy

__all__ = [
    "DecidedFigures",
    "GroupFigures",
    "Period",
    "ProcessingTimes",
    "ReceivedFigures",
    "StageTimes",
    "Stages",
]


class StageTimes(Schema):
    """How long one stage took, in calendar days (fractions of a day included)."""

    count: int = Field(description="Appeals with this stage.")
    median_days: float | None = Field(description="Median; null without appeals.")
    p90_days: float | None = Field(description="90th percentile (interpolated).")


class Stages(Schema):
    nav_preparation: StageTimes = Field(
        description="Registered → the last forwarding (again after an `incomplete` rejection)."
    )
    transfer: StageTimes = Field(
        description="The last forwarding → received by the Statsforvalter (a re-route included)."
    )
    waiting_at_statsforvalter: StageTimes = Field(
        description="Received by the Statsforvalter → review started."
    )
    statsforvalter_work: StageTimes = Field(
        description="Review started → decided, less the time awaiting documentation."
    )
    waiting_for_documentation: StageTimes = Field(
        description="The sum of the appeal's awaiting_documentation spans; counts only appeals"
        " that waited for documentation at least once."
    )
    total: StageTimes = Field(description="The citizen's wait: registered → decided.")


class ReceivedFigures(Schema):
    """Appeals received (`received_on`) in the period."""

    appeals: int
    digital_share: float | None = Field(description="Share received digitally, from 0 to 1.")
    nav_outcomes: dict[str, int] = Field(
        description="NAV's review outcome so far: every outcome, and `pending` for none yet.",
        examples=[
            {"full_reversal": 3, "partial_reversal": 1, "upheld": 20, "dismissed": 0, "pending": 4}
        ],
    )


class DecidedFigures(Schema):
    """Appeals the Statsforvalter decided in the period (the decision's `occurred_at`)."""

    appeals: int
    within_90_days_share: float | None = Field(
        description="Share decided at most 90 calendar days (Norwegian dates) after the"
        " Statsforvalter's receipt, from 0 to 1."
    )
    outcomes: dict[str, int] = Field(
        description="The Statsforvalter's outcomes.",
        examples=[{"upheld": 30, "new_decision": 5, "annulled": 2, "dismissed": 1}],
    )
    stages: Stages


class GroupFigures(Schema):
    key: str | None = Field(
        description="Statsforvalter office id, NAV unit number or two-digit county; null for"
        " all groups together.",
        examples=["sf-rogaland", "1103", "11"],
    )
    received: ReceivedFigures
    decided: DecidedFigures


class Period(Schema):
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date


class ProcessingTimes(Schema):
    period: Period
    group_by: GroupBy
    channel: Channel | None
    groups: list[GroupFigures] = Field(description="One per group with figures, by key.")
    total: GroupFigures = Field(description="All the caller's appeals together.")
