"""Registering and reading appeals, and the steps that move an appeal along its lifecycle."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import lifecycle, repository, timeline
from klageapi.appeal.deadline import APPEAL_PERIOD, appeal_deadline
from klageapi.appeal.errors import (
    AppealNotFound,
    DecisionDocumentRequired,
    ExternalReferenceConflict,
    MunicipalityNotServed,
    SupplementaryPackageWaiting,
)
from klageapi.appeal.lifecycle import Action, Step
from klageapi.appeal.schemas import (
    AppealCreate,
    DecisionCreate,
    NavOutcomeCreate,
    PreliminaryReplyCreate,
    StepCreate,
)
from klageapi.audit import service as audit
from klageapi.core import queue_order
from klageapi.core.auth import Citizen, Organisation
from klageapi.core.clock import Clock
from klageapi.core.errors import FieldError, ValidationFailed
from klageapi.core.pagination import InvalidCursor, PageParams
from klageapi.core.queue_order import AppealOrder
from klageapi.core.validation import check_dates_against_today
from klageapi.models import Appeal, AppealHistory, AppealStatus, NavOutcome
from klageapi.registry import access
from klageapi.registry import service as registry
from klageapi.registry.access import Role
from klageapi.registry.errors import UnknownCounty

__all__ = [
    "add_preliminary_reply",
    "appeal_deadline_for",
    "decide",
    "get",
    "history",
    "list_appeals",
    "lock_own",
    "record_nav_outcome",
    "register",
    "replay_audit_entry",
    "take_step",
    "visible_with_roles",
]


_ADDED_FIELDS = frozenset({"digisos_case_id", "nav_appeal_id", "other_decisions"})


def _digest(body: AppealCreate) -> str:
    content = body.model_dump(mode="json")
    # Fields added after the first registrations, left out when not sent: a retry of an appeal
    # registered before they existed still matches its digest.
    if "legal_basis" not in body.decision.model_fields_set:
        del content["decision"]["legal_basis"]
    for name in _ADDED_FIELDS - body.model_fields_set:
        del content[name]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def register(
    session: AsyncSession, body: AppealCreate, *, organisation: Organisation, clock: Clock
) -> tuple[Appeal, bool]:
    """Register an appeal for one of the caller's NAV offices; returns it and whether it is new.

    Registering the same external reference again with the same content returns the appeal
    already registered, so a case system may retry freely; different content is a conflict.
    """
    target = await registry.registration_target(
        session,
        organisation_number=organisation.organisation_number,
        unit_number=body.nav_office_unit_number,
        municipality_number=body.municipality_number,
    )
    if body.municipality_number not in target.municipality_numbers:
        raise MunicipalityNotServed(
            municipality_number=body.municipality_number, unit_number=target.unit_number
        )
    _refuse_future_dates(body, clock)
    if target.statsforvalter_office_id is None:
        raise UnknownCounty("municipality_number", body.municipality_number)
    digest = _digest(body)

    deadline = appeal_deadline(body.decision.notified_on)
    now = clock.now()
    occurred_at = lifecycle.business_time(body.occurred_at, previous=None, clock=clock)
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "nav_office_unit_number": target.unit_number,
        "municipality_number": body.municipality_number,
        "statsforvalter_office_id": target.statsforvalter_office_id,
        "national_id": body.national_id,
        "decision_reference": body.decision.reference,
        "decision_decided_on": body.decision.decided_on,
        "decision_notified_on": body.decision.notified_on,
        "legal_basis": body.decision.legal_basis,
        "digisos_case_id": body.digisos_case_id,
        "nav_appeal_id": body.nav_appeal_id,
        "other_decisions": [decision.model_dump(mode="json") for decision in body.other_decisions],
        "received_on": body.received_on,
        "channel": body.channel,
        "grounds": body.grounds,
        "external_reference": body.external_reference,
        "appeal_deadline_on": deadline,
        "late": body.received_on > deadline,
        "status": AppealStatus.received,
        "version": 1,
        "status_changed_at": occurred_at,
        "registered_at": occurred_at,
        "registration_digest": digest,
        "created_at": now,
        "updated_at": now,
    }
    # Not added to the session: the repository writes it, and this copy is the answer.
    appeal = Appeal(**values)
    history, event = lifecycle.registration_rows(
        appeal, actor=organisation, occurred_at=occurred_at, recorded_at=now
    )
    entry = audit.entry(
        principal=organisation,
        action="appeal.register",
        appeal_id=appeal.id,
        purpose="registration of an appeal by the NAV office",
        now=now,
    )
    if await repository.insert_registration(
        session, appeal=values, history=history, event=event, audit=entry
    ):
        return appeal, True

    # Registered before, or by a concurrent request that committed first: answer as a retry.
    existing = await repository.get_by_external_reference(
        session, unit_number=target.unit_number, external_reference=body.external_reference
    )
    if existing is None:
        # ON CONFLICT DO NOTHING skipped the insert for a row that has committed, which this
        # later statement sees; only a deleted appeal could get here.
        raise RuntimeError("the conflicting appeal vanished")
    return await _replay(session, existing, body, digest, organisation, clock), False


def replay_audit_entry(
    answer: bytes, *, organisation: Organisation, clock: Clock
) -> dict[str, object]:
    """The audit entry of a replayed answer (Idempotency-Key): the appeal it carries, with its
    national id, is shown to the caller again, as the first answer showed it."""
    return audit.entry(
        principal=organisation,
        action="appeal.replayed",
        appeal_id=uuid.UUID(json.loads(answer)["id"]),
        purpose="the stored answer to a retried request (Idempotency-Key)",
        now=clock.now(),
    )


def _refuse_future_dates(body: AppealCreate, clock: Clock) -> None:
    check_dates_against_today(
        clock,
        not_future={
            "decision.decided_on": body.decision.decided_on,
            "decision.notified_on": body.decision.notified_on,
            "received_on": body.received_on,
            **{
                f"other_decisions.{n}.{field}": day
                for n, other in enumerate(body.other_decisions)
                for field, day in (
                    ("decided_on", other.decided_on),
                    ("notified_on", other.notified_on),
                )
            },
        },
    )


async def _replay(
    session: AsyncSession,
    existing: Appeal,
    body: AppealCreate,
    digest: str,
    organisation: Organisation,
    clock: Clock,
) -> Appeal:
    if existing.registration_digest != digest:
        raise ExternalReferenceConflict(
            external_reference=body.external_reference, existing_appeal_id=existing.id
        )
    await audit.record(
        session,
        principal=organisation,
        action="appeal.register_repeated",
        appeal_id=existing.id,
        purpose="repeated registration of an appeal by the NAV office",
        clock=clock,
    )
    return existing


async def get(
    session: AsyncSession, appeal_id: uuid.UUID, *, organisation: Organisation, clock: Clock
) -> Appeal:
    """One appeal the caller may see, with the read written to the audit log."""
    appeal, _, _ = await visible_with_roles(session, appeal_id, organisation=organisation)
    await audit.record(
        session,
        principal=organisation,
        action="appeal.read",
        appeal_id=appeal.id,
        purpose="case processing",
        clock=clock,
    )
    return appeal


async def list_appeals(
    session: AsyncSession,
    where: repository.AppealFilter,
    page: PageParams,
    *,
    order: AppealOrder = AppealOrder.updated,
    organisation: Organisation,
    clock: Clock,
) -> tuple[list[Appeal], str | None]:
    """A page of the appeals the caller may see, in `order`; each one listed is written to the
    audit log. A cursor of another order is refused."""
    position = page.position("appeals")
    try:
        after = None if position is None else queue_order.appeal_position(order, position)
    except queue_order.InvalidPosition as error:
        raise InvalidCursor() from error
    offices = await access.offices_of(session, organisation)
    rows = await repository.list_visible(
        session, offices, where, order=order, after=after, limit=page.limit + 1
    )
    keyset = queue_order.APPEALS[order]
    appeals, cursor = page.page(
        "appeals", list(rows), lambda appeal: keyset.encode(functools.partial(getattr, appeal))
    )
    await audit.record_many(
        session,
        principal=organisation,
        action="appeal.list",
        appeal_ids=[appeal.id for appeal in appeals],
        purpose="case processing",
        clock=clock,
    )
    return appeals, cursor


async def history(
    session: AsyncSession, appeal_id: uuid.UUID, *, organisation: Organisation, clock: Clock
) -> tuple[Sequence[AppealHistory], list[timeline.StateDuration]]:
    """Every step of an appeal the caller may see, and the time spent in each state."""
    await visible_with_roles(session, appeal_id, organisation=organisation)
    entries = await repository.history(session, appeal_id)
    return entries, timeline.time_in_states(entries, now=clock.now())


DEADLINES_FROM = dt.date(2000, 1, 1)
DEADLINES_AHEAD = dt.timedelta(days=366)
"""How far ahead a notification date may lie: decision letters are written before they go."""


def appeal_deadline_for(notified_on: dt.date, *, clock: Clock) -> tuple[dt.date, dt.date]:
    """Three weeks after `notified_on`, and the deadline that is (moved off weekends and
    holidays), for a notification from 2000 to a year ahead."""
    latest = clock.today() + DEADLINES_AHEAD
    if not DEADLINES_FROM <= notified_on <= latest:
        raise ValidationFailed(
            [
                FieldError(
                    "notified_on",
                    f"must be between {DEADLINES_FROM} and {latest}",
                    "out_of_range",
                )
            ]
        )
    return notified_on + APPEAL_PERIOD, appeal_deadline(notified_on)


async def take_step(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    body: StepCreate,
    *,
    action: Action,
    organisation: Organisation,
    clock: Clock,
    expected_versions: frozenset[int] | None,
) -> Appeal:
    """A step that needs nothing but its action: NAV or the Statsforvalter starts its review,
    the citizen withdrew the appeal."""
    step = Step(
        action,
        occurred_at=body.occurred_at,
        expected_versions=expected_versions,
        audited=f"appeal.{action.value}",
    )
    return await lifecycle.apply(session, appeal_id, step, actor=organisation, clock=clock)


async def record_nav_outcome(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    body: NavOutcomeCreate,
    *,
    organisation: Organisation,
    clock: Clock,
    expected_versions: frozenset[int] | None,
) -> Appeal:
    """NAV's outcome: full reversal or dismissal closes the appeal at NAV; upheld or partial
    reversal leaves it under NAV's review, ready to be forwarded."""
    check_dates_against_today(clock, not_future={"decided_on": body.decided_on})
    closes = body.outcome in (NavOutcome.full_reversal, NavOutcome.dismissed)
    step = Step(
        Action.close_by_nav if closes else Action.record_nav_outcome,
        occurred_at=body.occurred_at,
        expected_versions=expected_versions,
        sets={
            "nav_outcome": body.outcome,
            "nav_outcome_on": body.decided_on,
            "nav_reasoning": body.reasoning,
        },
        details={"outcome": body.outcome.value, "decided_on": body.decided_on.isoformat()},
        audited="appeal.nav_outcome",
    )
    return await lifecycle.apply(session, appeal_id, step, actor=organisation, clock=clock)


async def add_preliminary_reply(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    body: PreliminaryReplyCreate,
    *,
    organisation: Organisation,
    clock: Clock,
    expected_versions: frozenset[int] | None,
) -> Appeal:
    """A preliminary reply was sent; the status stays, the expected decision date is kept."""
    check_dates_against_today(
        clock,
        not_past={"expected_decision_on": body.expected_decision_on},
        as_of=body.occurred_at,
    )
    step = Step(
        Action.preliminary_reply,
        occurred_at=body.occurred_at,
        expected_versions=expected_versions,
        sets={"expected_decision_on": body.expected_decision_on},
        details={"expected_decision_on": body.expected_decision_on.isoformat()},
        audited="appeal.preliminary_reply",
    )
    return await lifecycle.apply(session, appeal_id, step, actor=organisation, clock=clock)


async def decide(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    body: DecisionCreate,
    *,
    organisation: Organisation,
    clock: Clock,
    expected_versions: frozenset[int] | None,
) -> Appeal:
    """The Statsforvalter's decision, with its uploaded decision document."""
    check_dates_against_today(clock, not_future={"decided_on": body.decided_on})
    step = Step(
        Action.decide,
        occurred_at=body.occurred_at,
        expected_versions=expected_versions,
        sets={
            "statsforvalter_outcome": body.outcome,
            "statsforvalter_decided_on": body.decided_on,
            "statsforvalter_decision_document_id": body.document_id,
        },
        details={"outcome": body.outcome.value, "decided_on": body.decided_on.isoformat()},
        audited="appeal.decide",
    )
    appeal = await lifecycle.apply(session, appeal_id, step, actor=organisation, clock=clock)
    # Judged on the locked appeal; a refusal rolls the step back with the transaction.
    obstacles = await repository.decision_obstacles(session, appeal.id, body.document_id)
    if obstacles.waiting_package_id is not None:
        raise SupplementaryPackageWaiting(obstacles.waiting_package_id)
    if not obstacles.has_decision_document:
        raise DecisionDocumentRequired()
    return appeal


async def visible_with_roles(
    session: AsyncSession, appeal_id: uuid.UUID, *, organisation: Organisation
) -> tuple[Appeal, frozenset[Role], access.Offices]:
    """An appeal the caller may see, the parts it plays in it, and the offices it acts for,
    read in one round trip; AppealNotFound for anything else."""
    visible = await repository.get_visible(session, appeal_id, organisation)
    if visible is None:
        raise AppealNotFound(appeal_id)
    appeal, offices = visible
    return appeal, lifecycle.roles_of(appeal, offices), offices


async def lock_own(session: AsyncSession, appeal_id: uuid.UUID, *, citizen: Citizen) -> Appeal:
    """The citizen's own appeal, locked until the transaction ends; anyone else's is 404."""
    appeal = await repository.get_own(session, appeal_id, citizen.national_id, for_update=True)
    if appeal is None:
        raise AppealNotFound(appeal_id)
    return appeal
