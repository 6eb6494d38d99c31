"""The appeal lifecycle: the one function that changes an appeal's status.

Every action on an appeal goes through `apply`: in the caller's transaction it locks the appeal,
checks the caller's role and the state the appeal is in, applies the change, appends the history
row, writes the outbox events and bumps the version. Nothing else writes `Appeal.status`. It
also settles, in one place, what of the appeal waits for the Statsforvalter when a step puts it
out of reach (withdrawn) or re-routes the appeal (it follows).

A step is data (`Step`): the action, and the appeal's own columns it sets besides the status. A
caller with preconditions of its own (forwarding needs the required documents, a decision its
document) checks them on the appeal `apply` returns: the row is locked by then, and a refusal
raised afterwards rolls the step back with the request's transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import repository
from klageapi.appeal.errors import (
    AppealNotFound,
    NotPermittedForRole,
    PreconditionFailed,
    TransitionNotAllowed,
)
from klageapi.audit import service as audit
from klageapi.core.auth import Citizen, Organisation, Principal
from klageapi.core.clock import Clock
from klageapi.core.errors import FieldError, ValidationFailed
from klageapi.event import outbox
from klageapi.models import Appeal, AppealStatus
from klageapi.registry import access
from klageapi.registry.access import Role

__all__ = [
    "ACTIONS",
    "APPELLANT",
    "AT_STATSFORVALTER",
    "CLOSED",
    "Action",
    "Step",
    "allowed_actions",
    "apply",
    "business_time",
    "registration_rows",
    "roles_of",
]

S = AppealStatus


class Action(enum.StrEnum):
    start_nav_review = "start_nav_review"
    record_nav_outcome = "record_nav_outcome"
    close_by_nav = "close_by_nav"
    forward = "forward"
    withdraw = "withdraw"
    preliminary_reply = "preliminary_reply"
    acknowledge_receipt = "acknowledge_receipt"
    reject_package = "reject_package"
    reroute_package = "reroute_package"
    acknowledge_supplementary = "acknowledge_supplementary"
    start_statsforvalter_review = "start_statsforvalter_review"
    request_documentation = "request_documentation"
    fulfil_documentation = "fulfil_documentation"
    decide = "decide"
    withdraw_by_appellant = "withdraw_by_appellant"
    comment_by_appellant = "comment_by_appellant"
    documentation_by_appellant = "documentation_by_appellant"
    documents_by_appellant = "documents_by_appellant"


_OPEN = frozenset(
    {
        S.received,
        S.under_nav_review,
        S.forwarded,
        S.received_by_statsforvalter,
        S.under_statsforvalter_review,
        S.awaiting_documentation,
    }
)


@dataclass(frozen=True)
class Rule:
    """Who may take an action, from which states, to which state, announced as which events."""

    roles: frozenset[Role]
    from_states: frozenset[AppealStatus]
    to_state: AppealStatus | None
    event_types: tuple[str, ...] = ()
    """The events that announce the step (besides `appeal.status_changed` for a change of
    status), addressed to the appeal's offices as the step leaves them..."""
    to_previous_office: frozenset[str] = frozenset()
    """...but these, which go to the Statsforvalter office the appeal had before the step: a
    re-route's rejection reaches the office that rejected, its package the office it is for."""

    def office_of(self, type_: str, previous_office: str) -> str | None:
        """The office an event of the step is addressed to besides NAV's: the one the appeal
        had before the step, or (None) the one it has after."""
        return previous_office if type_ in self.to_previous_office else None


CLOSED = frozenset({S.withdrawn, S.closed_by_nav, S.decided})
"""The states an appeal never leaves."""

_NAV = frozenset({Role.nav})
_SF = frozenset({Role.statsforvalter})
_APPELLANT = frozenset({Role.appellant})
_AT_STATSFORVALTER = frozenset(
    {S.received_by_statsforvalter, S.under_statsforvalter_review, S.awaiting_documentation}
)
AT_STATSFORVALTER = _AT_STATSFORVALTER | {S.forwarded}
"""Forwarded, on its way or there: what the appellant sends goes to the Statsforvalter, as a
supplementary package behind the one NAV forwarded."""
APPELLANT = "appellant"
"""How the history and the documents name the citizen who acted on their own appeal (never by
the national id)."""

# Every package that enters an office's feed is announced as package.forwarded, whatever its
# kind (initial, supplementary, re-routed): a system that pulls on that event misses none.
ACTIONS: dict[Action, Rule] = {
    Action.start_nav_review: Rule(_NAV, frozenset({S.received}), S.under_nav_review),
    # upheld / partial_reversal: the appeal stays with NAV, ready to be forwarded.
    Action.record_nav_outcome: Rule(
        _NAV, frozenset({S.under_nav_review}), None, ("appeal.nav_outcome_recorded",)
    ),
    Action.close_by_nav: Rule(
        _NAV, frozenset({S.under_nav_review}), S.closed_by_nav, ("appeal.nav_outcome_recorded",)
    ),
    Action.forward: Rule(
        _NAV, frozenset({S.under_nav_review}), S.forwarded, ("package.forwarded",)
    ),
    Action.withdraw: Rule(_NAV, _OPEN, S.withdrawn, ("appeal.withdrawn",)),
    Action.preliminary_reply: Rule(_NAV | _SF, _OPEN, None, ("appeal.preliminary_reply",)),
    Action.acknowledge_receipt: Rule(
        _SF, frozenset({S.forwarded}), S.received_by_statsforvalter, ("package.received",)
    ),
    Action.reject_package: Rule(
        _SF, frozenset({S.forwarded}), S.under_nav_review, ("package.rejected",)
    ),
    # Not ours: the package moves to the right office and waits there for its receipt.
    Action.reroute_package: Rule(
        _SF,
        frozenset({S.forwarded}),
        None,
        ("package.rejected", "package.forwarded"),
        to_previous_office=frozenset({"package.rejected"}),
    ),
    Action.acknowledge_supplementary: Rule(_SF, _AT_STATSFORVALTER, None, ("package.received",)),
    Action.start_statsforvalter_review: Rule(
        _SF, frozenset({S.received_by_statsforvalter}), S.under_statsforvalter_review
    ),
    Action.request_documentation: Rule(
        _SF,
        frozenset({S.under_statsforvalter_review}),
        S.awaiting_documentation,
        ("documentation.requested",),
    ),
    Action.fulfil_documentation: Rule(
        _NAV,
        frozenset({S.awaiting_documentation}),
        S.under_statsforvalter_review,
        ("documentation.fulfilled", "package.forwarded"),
    ),
    Action.decide: Rule(
        _SF, frozenset({S.under_statsforvalter_review}), S.decided, ("appeal.decided",)
    ),
    # The citizen's own tasks, through the citizen's token. What they send travels to the
    # Statsforvalter as a supplementary package, announced as every package is.
    Action.withdraw_by_appellant: Rule(_APPELLANT, _OPEN, S.withdrawn, ("appeal.withdrawn",)),
    Action.comment_by_appellant: Rule(
        _APPELLANT, AT_STATSFORVALTER, None, ("citizen.comment_sent", "package.forwarded")
    ),
    Action.documentation_by_appellant: Rule(
        _APPELLANT,
        frozenset({S.awaiting_documentation}),
        None,
        ("citizen.documentation_sent", "package.forwarded"),
    ),
    Action.documents_by_appellant: Rule(
        _APPELLANT, AT_STATSFORVALTER, None, ("citizen.documents_sent", "package.forwarded")
    ),
}


def roles_of(appeal: Appeal, offices: access.Offices) -> frozenset[Role]:
    """The parts the organisation acting for `offices` plays in this appeal."""
    return access.roles_in(
        offices,
        nav_office=appeal.nav_office_unit_number,
        statsforvalter_office=appeal.statsforvalter_office_id,
        forwarded=appeal.forwarded_at is not None,
    )


# The appeal's columns a step may set besides those `apply` keeps (status, version, times).
_SETTABLE = frozenset(
    {
        "nav_outcome",
        "nav_outcome_on",
        "nav_reasoning",
        "expected_decision_on",
        "urgent",
        "urgent_reason",
        "statsforvalter_case_number",
        "statsforvalter_office_id",
        "statsforvalter_outcome",
        "statsforvalter_decided_on",
        "statsforvalter_decision_document_id",
    }
)


@dataclass(frozen=True)
class Step:
    """One action on one appeal, as the caller asks for it."""

    action: Action
    occurred_at: dt.datetime | None = None
    """When it happened, as the case system reports it; None for now."""
    expected_versions: frozenset[int] | None = None
    """The versions an If-Match admits; None for no condition."""
    sets: Mapping[str, object] = field(default_factory=dict)
    """The appeal's own columns this step sets (NAV's outcome, the Statsforvalter's case
    number, ...): at most those of `_SETTABLE`."""
    details: Mapping[str, object] = field(default_factory=dict)
    """What the history row and the events record of the step besides its action."""
    audited: str | None = None
    """The audit log's action, when the answer will carry the appeal (and so its national
    id): the entry is written with the step."""

    def __post_init__(self) -> None:
        if unknown := set(self.sets) - _SETTABLE:
            raise ValueError(f"a step may not set {sorted(unknown)}")


def business_time(
    occurred_at: dt.datetime | None, *, previous: dt.datetime | None, clock: Clock
) -> dt.datetime:
    """When a step happened: as the case system reports it, or now. Not in the future, not
    before the appeal's previous step, and not further back than the clock's backdating limit."""
    now = clock.now()
    if occurred_at is None:
        return now
    errors = []
    if occurred_at > now:
        errors.append(FieldError("occurred_at", "must not be in the future", "in_future"))
    if previous is not None and occurred_at < previous:
        errors.append(
            FieldError(
                "occurred_at",
                f"must not be before the appeal's previous step ({previous.isoformat()})",
                "before_previous_step",
            )
        )
    limit = clock.backdating_limit
    if limit is not None and occurred_at < now - limit:
        errors.append(
            FieldError(
                "occurred_at",
                f"must not be more than {limit.days} days ago",
                "too_far_back",
            )
        )
    if errors:
        raise ValidationFailed(errors)
    return occurred_at


def allowed_actions(status: AppealStatus) -> list[str]:
    """The organisations' actions allowed from `status` (the appellant's are their own tasks)."""
    return sorted(
        action.value
        for action, rule in ACTIONS.items()
        if status in rule.from_states and rule.roles != _APPELLANT
    )


async def apply(
    session: AsyncSession, appeal_id: uuid.UUID, step: Step, *, actor: Principal, clock: Clock
) -> Appeal:
    """Take `step` on an appeal as `actor`, or refuse with nothing changed.

    The appeal row stays locked until the transaction ends, so concurrent actions on one
    appeal take turns, and the second one is judged on the state the first one left.
    """
    rule = ACTIONS[step.action]
    appeal, roles = await _locked(session, appeal_id, actor)
    if not rule.roles & roles:
        raise NotPermittedForRole(action=step.action.value, appeal_id=appeal_id)
    if step.expected_versions is not None and appeal.version not in step.expected_versions:
        raise PreconditionFailed(current_version=appeal.version)
    if appeal.status not in rule.from_states:
        raise TransitionNotAllowed(
            action=step.action.value,
            current=appeal.status.value,
            allowed=allowed_actions(appeal.status),
        )
    now = clock.now()
    when = business_time(step.occurred_at, previous=appeal.last_step_at, clock=clock)
    from_status, from_office = appeal.status, appeal.statsforvalter_office_id
    for name, value in step.sets.items():
        setattr(appeal, name, value)
    if rule.to_state is not None:
        appeal.status = rule.to_state
        appeal.status_changed_at = when
        if rule.to_state is S.forwarded and appeal.forwarded_at is None:
            appeal.forwarded_at = when
    appeal.version += 1
    appeal.updated_at = now
    history, events = _rows(
        appeal,
        action=step.action.value,
        rule=rule,
        from_status=from_status,
        from_office=from_office,
        actor=actor,
        occurred_at=when,
        recorded_at=now,
        details=dict(step.details),
    )
    entry = None
    if step.audited is not None:
        entry = audit.entry(
            principal=actor,
            action=step.audited,
            appeal_id=appeal.id,
            purpose="case processing",
            now=now,
        )
    await repository.write_step(session, appeal, history=history, events=events, audit=entry)
    # A caller settles the package its step is about before the step (rejected, re-routed);
    # whatever else of the appeal waits for the Statsforvalter is dealt with here, once.
    if _out_of_reach(from_status, rule.to_state):
        await _close_what_waits(session, appeal, occurred_at=when, recorded_at=now)
    elif appeal.statsforvalter_office_id != from_office:
        await _move_what_waits(
            session,
            appeal,
            from_office=from_office,
            rule=rule,
            data=_event_data(step.action.value, from_status, step.details),
            occurred_at=when,
            recorded_at=now,
        )
    return appeal


def _out_of_reach(from_status: AppealStatus, to_status: AppealStatus | None) -> bool:
    """Whether a step leaves nobody to receive what waits for the Statsforvalter: the appeal is
    withdrawn or closed by NAV, or goes back to NAV from the Statsforvalter (its package rejected
    as incomplete). A decision is refused while a package waits instead (`service.decide`)."""
    if to_status in (S.withdrawn, S.closed_by_nav):
        return True
    return to_status is S.under_nav_review and from_status in AT_STATSFORVALTER


async def _locked(
    session: AsyncSession, appeal_id: uuid.UUID, actor: Principal
) -> tuple[Appeal, frozenset[Role]]:
    """The appeal, locked, and the parts the actor plays in it; 404 when it may not see it."""
    if isinstance(actor, Citizen):
        own = await repository.get_own(session, appeal_id, actor.national_id, for_update=True)
        if own is None:
            raise AppealNotFound(appeal_id)
        return own, _APPELLANT
    visible = await repository.get_visible(session, appeal_id, actor, for_update=True)
    if visible is None:
        raise AppealNotFound(appeal_id)
    appeal, offices = visible
    return appeal, roles_of(appeal, offices)


async def _close_what_waits(
    session: AsyncSession, appeal: Appeal, *, occurred_at: dt.datetime, recorded_at: dt.datetime
) -> None:
    """The appeal went back to NAV, was withdrawn or closed: nobody answers a documentation
    request about it any more, and nobody is to receive its packages that wait (NAV forwards the
    appeal's documents anew, if at all): they leave the feed as withdrawn, each announced to its
    office."""
    await repository.cancel_open_documentation_requests(session, appeal.id)
    for package_id, office in await repository.withdraw_waiting_packages(session, appeal.id):
        outbox.write(
            session,
            appeal,
            type_="package.withdrawn",
            occurred_at=occurred_at,
            recorded_at=recorded_at,
            data={"package_id": str(package_id)},
            statsforvalter_office_id=office,
        )
    await session.flush()


async def _move_what_waits(
    session: AsyncSession,
    appeal: Appeal,
    *,
    from_office: str,
    rule: Rule,
    data: Mapping[str, object],
    occurred_at: dt.datetime,
    recorded_at: dt.datetime,
) -> None:
    """The appeal is re-routed: what else waits at the office it left (what the appellant sent
    meanwhile) follows it to the office it is for, each package announced as the step's own."""
    moved = await repository.reroute_waiting_packages(
        session, appeal.id, from_office=from_office, to_office=appeal.statsforvalter_office_id
    )
    for package_id, urgent in moved:
        for type_ in rule.event_types:
            outbox.write(
                session,
                appeal,
                type_=type_,
                occurred_at=occurred_at,
                recorded_at=recorded_at,
                data={**data, "package_id": str(package_id), "urgent": urgent},
                statsforvalter_office_id=rule.office_of(type_, from_office),
            )
    await session.flush()


def registration_rows(
    appeal: Appeal,
    *,
    actor: Organisation,
    occurred_at: dt.datetime,
    recorded_at: dt.datetime,
) -> tuple[dict[str, object], dict[str, object]]:
    """The first history row and the `appeal.received` event of a newly registered appeal, as
    values: registration writes them in the same statement as the appeal."""
    history, events = _rows(
        appeal,
        action="register",
        rule=_REGISTRATION,
        from_status=None,
        from_office=appeal.statsforvalter_office_id,
        actor=actor,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        details={},
    )
    (event,) = events
    return history, event


_REGISTRATION = Rule(_NAV, frozenset(), S.received, ("appeal.received",))


def _rows(
    appeal: Appeal,
    *,
    action: str,
    rule: Rule,
    from_status: AppealStatus | None,
    from_office: str,
    actor: Principal,
    occurred_at: dt.datetime,
    recorded_at: dt.datetime,
    details: dict[str, object],
) -> tuple[dict[str, object], list[dict[str, object]]]:
    organisation = actor if isinstance(actor, Organisation) else None
    history: dict[str, object] = {
        "appeal_id": appeal.id,
        "action": action,
        "from_status": from_status,
        "to_status": appeal.status,
        "actor_organisation": organisation.actor if organisation else APPELLANT,
        "actor_supplier": organisation.supplier_actor if organisation else None,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "details": details,
    }
    # The rule's events, and appeal.status_changed for every change of status, so a subscriber
    # to status changes alone still sees every one.
    types = list(rule.event_types)
    if from_status is not None and from_status != appeal.status:
        types.append("appeal.status_changed")
    data = _event_data(action, from_status, details)
    events = [
        outbox.row(
            appeal,
            type_=type_,
            occurred_at=occurred_at,
            recorded_at=recorded_at,
            data=data,
            statsforvalter_office_id=rule.office_of(type_, from_office),
        )
        for type_ in types
    ]
    return history, events


def _event_data(
    action: str, from_status: AppealStatus | None, details: Mapping[str, object]
) -> dict[str, object]:
    """What every event of a step carries: the step, the status it left, and its details."""
    return {"action": action, "from_status": from_status.value if from_status else None, **details}
