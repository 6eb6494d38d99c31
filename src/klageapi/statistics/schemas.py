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
    "OpenAge",
    "OpenFigures",
    "Period",
    "ProcessingTimes",
    "QueueHealth",
    "ReceivedFigures",
    "StageShares",
    "StageTimes",
    "Stages",
    "WaitTimes",
]


class StageTimes(Schema):
    """How long one stage took, in calendar days (fractions of a day included)."""

    count: int = Field(description="Appeals with this stage.")
    median_days: float | None = Field(description="Median; null without appeals.")
    p90_days: float | None = Field(description="90th percentile (interpolated).")


class WaitTimes(Schema):
    """A wait in calendar days, with its long tail."""

    count: int
    median_days: float | None
    p90_days: float | None
    p99_days: float | None
    mean_days: float | None = Field(
        description="The mean: the same under every queue order that ignores the work a case"
        " needs; only its spread moves."
    )


class StageShares(Schema):
    """What part of the citizen's whole wait each stage took: every decided appeal's days in
    the stage summed, over their whole waits summed. The parts add up to 1 (unlike medians)."""

    nav: float = Field(
        description="NAV's receipt → the last forwarding: the preparatory review and the time"
        " before the appeal was registered."
    )
    transfer: float
    waiting_at_statsforvalter: float
    statsforvalter_work: float
    waiting_for_documentation: float


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
    whole_wait: WaitTimes = Field(
        description="The citizen's whole wait: NAV's receipt (`received_on`, from the start of"
        " that Norwegian day) → the Statsforvalter's decision."
    )
    official_measure: WaitTimes = Field(
        description="The measure of the 90 % target: the Statsforvalter's receipt → its decision."
    )
    stage_shares: StageShares | None = Field(
        description="The whole wait divided into its stages; null without decided appeals."
    )


class OpenAge(Schema):
    """How long open appeals have waited since NAV's receipt, in days."""

    count: int
    median_days: float | None
    p90_days: float | None
    oldest_days: float | None


class OpenFigures(Schema):
    """Appeals open now (`as_of`), whatever the period: what the offices can act on."""

    appeals: int
    by_status: dict[str, int] = Field(description="Open appeals in each open status.")
    age: OpenAge
    at_statsforvalter: int = Field(
        description="Received by the Statsforvalter and not decided (under review or awaiting"
        " documentation included)."
    )
    past_90_days_share: float | None = Field(
        description="Of those, the share waiting more than 90 days since the Statsforvalter's"
        " receipt: the ones the completed-case target no longer rewards deciding."
    )


class QueueHealth(Schema):
    """One Statsforvalter office's queue by the waiting-list formulas of Fong et al. (2022),
    in weeks, from its weekly arrivals (receipts) and decisions over the window before
    `as_of`; the target is the 90 days of the official measure."""

    statsforvalter_office: str
    window_weeks: int
    arrivals_per_week: float = Field(description="Demand.")
    decisions_per_week: float = Field(description="Capacity.")
    queue_size: int = Field(description="Appeals waiting at the office now.")
    mean_wait_weeks: float | None = Field(description="Their mean time since the office's receipt.")
    load: float | None = Field(description="Demand / capacity: at 1 or more the queue grows.")
    pressure: float | None = Field(
        description="2 * mean wait / target: above 1 the target will likely be missed."
    )
    target_mean_wait_weeks: float = Field(description="Target / 4 (about 98 % within it).")
    target_queue_size: float = Field(description="Demand * target / 4 (Little's law).")
    relief_capacity: float = Field(
        description="Decisions a week that meet demand and bring the queue to its target size"
        " in 26 weeks."
    )


class GroupFigures(Schema):
    key: str | None = Field(
        description="Statsforvalter office id, NAV unit number or two-digit county; null for"
        " all groups together.",
        examples=["sf-rogaland", "1103", "11"],
    )
    received: ReceivedFigures
    decided: DecidedFigures
    open: OpenFigures


class Period(Schema):
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date


class ProcessingTimes(Schema):
    period: Period
    group_by: GroupBy
    channel: Channel | None
    as_of: dt.datetime = Field(description="When the open appeals and the queues were counted.")
    groups: list[GroupFigures] = Field(description="One per group with figures, by key.")
    total: GroupFigures = Field(description="All the caller's appeals together.")
    queue_health: list[QueueHealth] = Field(
        description="Per Statsforvalter office the caller may see, by id."
    )
