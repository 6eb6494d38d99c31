"""Each event type's shape, for the contract: the feed's items and the webhooks' bodies as one
union discriminated on `type`, each type with its own `data`, so client generators type them.

These models describe; the feed and the sender serialize events as `event.schemas.EventRead`
(an event recorded before a field was added lacks it, and a reader must not fail on it). A test
validates real events and deliveries against these schemas (tests/event/test_types.py), and one
fails when a type of `outbox.EVENT_TYPES` has no model here.

`data` may gain fields (`additionalProperties`), never lose or rename them; so may the event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = [
    "DELIVERIES",
    "EVENTS",
    "Delivery",
    "Event",
    "EventFeedPage",
    "PingDelivery",
]


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Step(_Data):
    """Data of an event announcing a lifecycle step."""

    action: str = Field(description="The step taken (register, forward, decide, ...).")
    from_status: str | None = Field(description="The appeal's status before the step.")


class _Package(_Data):
    package_id: uuid.UUID


class _PackageStep(_Step):
    package_id: uuid.UUID


class _EnteringFeed(_PackageStep):
    kind: Literal["initial", "supplementary", "rerouted"] = Field(
        description="initial: NAV forwarded; supplementary: NAV answered a documentation"
        " request; rerouted: another office rejected it as not theirs."
    )
    urgent: bool


class _Outcome(_Step):
    outcome: str
    decided_on: dt.date


class _Requested(_Step):
    documentation_request_id: uuid.UUID
    due_on: dt.date


class _Fulfilled(_EnteringFeed):
    documentation_request_id: uuid.UUID


class _Rejected(_PackageStep):
    reason: Literal["not_ours", "incomplete"]
    rerouted_to: str | None = Field(None, description="With not_ours: the office it went to.")


class _PreliminaryReply(_Step):
    expected_decision_on: dt.date


class _DocumentAdded(_Data):
    document_id: uuid.UUID
    category: str


class _PackageOverdue(_Package):
    frozen_at: dt.datetime


class _DocumentationOverdue(_Data):
    documentation_request_id: uuid.UUID
    due_on: dt.date


class _Erased(_Data):
    retention_days: int = Field(description="The retention period that had passed.")
    documents: int = Field(description="How many documents were erased.")


class _CitizenSent(_EnteringFeed):
    task: str = Field(description="The citizen's task: comment, send_documentation, ...")
    document_id: uuid.UUID


class _CitizenDocumentation(_CitizenSent):
    documentation_request_id: uuid.UUID


class _Event(BaseModel):
    id: uuid.UUID = Field(description="The event's id; the `webhook-id` of its deliveries.")
    occurred_at: dt.datetime = Field(description="When the step happened.")
    recorded_at: dt.datetime = Field(description="When klageapi recorded it.")
    appeal_id: uuid.UUID
    nav_office: str = Field(description="The NAV office's unit number.", examples=["1103"])
    statsforvalter_office: str = Field(examples=["sf-rogaland"])
    status: str = Field(description="The appeal's status after the event.")


def _event(name: str, type_: str, data: type[_Data], description: str) -> type[_Event]:
    """`<name>Event` with its own `<name>Data`: each type's payload a schema of its own."""
    own_data = type(
        f"{name}Data", (data,), {"__doc__": f"The data of `{type_}`.", "__module__": __name__}
    )
    model: type[_Event] = type(
        f"{name}Event",
        (_Event,),
        {
            "__doc__": description,
            "__annotations__": {"type": Literal[type_], "data": own_data},
            "__module__": __name__,
        },
    )
    return model


_TYPES: list[tuple[str, str, type[_Data], str]] = [
    ("AppealReceived", "appeal.received", _Step, "NAV registered an appeal."),
    (
        "AppealStatusChanged",
        "appeal.status_changed",
        _Step,
        "The appeal's status changed; `data` also carries the step's own fields.",
    ),
    (
        "AppealNavOutcomeRecorded",
        "appeal.nav_outcome_recorded",
        _Outcome,
        "NAV recorded its outcome of its review (also when it closes the appeal).",
    ),
    ("DocumentAdded", "document.added", _DocumentAdded, "A document was uploaded."),
    (
        "PackageForwarded",
        "package.forwarded",
        _EnteringFeed,
        "A package entered an office's feed, whatever its kind.",
    ),
    ("PackageReceived", "package.received", _PackageStep, "The Statsforvalter acknowledged it."),
    ("PackageRejected", "package.rejected", _Rejected, "The Statsforvalter rejected a package."),
    (
        "PackageDownloaded",
        "package.downloaded",
        _Package,
        "The Statsforvalter's side first began downloading the package's bundle.",
    ),
    (
        "PackageWithdrawn",
        "package.withdrawn",
        _Package,
        "A package awaiting receipt left the feed: its appeal was withdrawn, closed, or sent"
        " back to NAV when its first package was rejected as incomplete.",
    ),
    (
        "PackageOverdue",
        "package.overdue",
        _PackageOverdue,
        "A package has awaited receipt longer than the office's deadline.",
    ),
    (
        "DocumentationRequested",
        "documentation.requested",
        _Requested,
        "The Statsforvalter asked NAV for more documentation.",
    ),
    (
        "DocumentationFulfilled",
        "documentation.fulfilled",
        _Fulfilled,
        "NAV answered a documentation request with a supplementary package.",
    ),
    (
        "DocumentationOverdue",
        "documentation.overdue",
        _DocumentationOverdue,
        "A documentation request is open past its due date.",
    ),
    (
        "AppealPreliminaryReply",
        "appeal.preliminary_reply",
        _PreliminaryReply,
        "A preliminary reply was sent, with the expected decision date.",
    ),
    ("AppealDecided", "appeal.decided", _Outcome, "The Statsforvalter decided the appeal."),
    ("AppealWithdrawn", "appeal.withdrawn", _Step, "The citizen withdrew the appeal."),
    (
        "CitizenCommentSent",
        "citizen.comment_sent",
        _CitizenSent,
        "The citizen commented on the case presentation: a supplementary package.",
    ),
    (
        "CitizenDocumentationSent",
        "citizen.documentation_sent",
        _CitizenDocumentation,
        "The citizen answered a documentation request: a supplementary package.",
    ),
    (
        "CitizenDocumentsSent",
        "citizen.documents_sent",
        _CitizenSent,
        "The citizen sent documents unasked: a supplementary package.",
    ),
    (
        "AppealPersonalDataErased",
        "appeal.personal_data_erased",
        _Erased,
        "The retention period after the appeal was finished has passed: its documents and"
        " personal data were erased.",
    ),
]

EVENTS: dict[str, type[_Event]] = {
    type_: _event(name, type_, data, description) for name, type_, data, description in _TYPES
}
"""Each event type's model, by type."""

# The union of the models built above, discriminated on `type`: pydantic follows it, mypy cannot.
Event: Any = Annotated[Union[tuple(EVENTS.values())], Field(discriminator="type")]  # noqa: UP007

EventFeedPage: type[BaseModel] = create_model(
    "EventFeedPage",
    __doc__="A page of the event feed, each event typed by its `type`.",
    __module__=__name__,
    items=(list[Event], ...),
    next_cursor=(
        str,
        Field(
            description="Where the next page starts; always present, so a consumer that has"
            " read everything polls again with the same cursor."
        ),
    ),
)


class _Delivery(BaseModel):
    timestamp: dt.datetime = Field(description="When the event was recorded.")


def _delivery(name: str, type_: str, event: type[BaseModel]) -> type[_Delivery]:
    model: type[_Delivery] = type(
        name,
        (_Delivery,),
        {
            "__doc__": f"The body of a `{type_}` delivery: `data` is the event as the feed"
            " shows it.",
            "__annotations__": {"type": Literal[type_], "data": event},
            "__module__": __name__,
        },
    )
    return model


class _PingData(BaseModel):
    subscription_id: uuid.UUID


class PingDelivery(_Delivery):
    """The signed ping a subscription's URL must answer with 2xx when it is created or changed."""

    type: Literal["webhook.ping"]
    data: _PingData


DELIVERIES: dict[str, type[_Delivery]] = {
    type_: _delivery(f"{name}Delivery", type_, EVENTS[type_]) for name, type_, _, _ in _TYPES
} | {"webhook.ping": PingDelivery}
"""Each webhook message's body model, by type."""

Delivery: Any = Annotated[Union[tuple(DELIVERIES.values())], Field(discriminator="type")]  # noqa: UP007
