"""Registering and reading appeals."""

from __future__ import annotations

import hashlib
import json
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import repository
from klageapi.appeal.deadline import appeal_deadline
from klageapi.appeal.errors import AppealNotFound, ExternalReferenceConflict, MunicipalityNotServed
from klageapi.appeal.schemas import AppealCreate
from klageapi.audit import service as audit
from klageapi.core.auth import Organisation
from klageapi.core.clock import Clock
from klageapi.core.errors import FieldError, ValidationFailed
from klageapi.models import Appeal, AppealHistory, AppealStatus
from klageapi.registry import service as registry

__all__ = ["get", "register"]


def _digest(body: AppealCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def register(
    session: AsyncSession, body: AppealCreate, *, organisation: Organisation, clock: Clock
) -> tuple[Appeal, bool]:
    """Register an appeal for one of the caller's NAV offices; returns it and whether it is new.

    Registering the same external reference again with the same content returns the appeal
    already registered, so a case system may retry freely; different content is a conflict.
    """
    office = await registry.nav_office_acting_for(
        session,
        organisation_number=organisation.organisation_number,
        unit_number=body.nav_office_unit_number,
    )
    if body.municipality_number not in office.municipality_numbers:
        raise MunicipalityNotServed(
            municipality_number=body.municipality_number, unit_number=office.unit_number
        )
    _refuse_future_dates(body, clock)
    statsforvalter_office = await registry.route(session, body.municipality_number)
    digest = _digest(body)

    existing = await repository.get_by_external_reference(
        session, unit_number=office.unit_number, external_reference=body.external_reference
    )
    if existing is not None:
        return await _replay(session, existing, body, digest, organisation, clock), False

    deadline = appeal_deadline(body.decision.notified_on)
    now = clock.now()
    appeal = Appeal(
        id=uuid.uuid4(),
        nav_office_unit_number=office.unit_number,
        municipality_number=body.municipality_number,
        statsforvalter_office_id=statsforvalter_office.id,
        national_id=body.national_id,
        decision_reference=body.decision.reference,
        decision_decided_on=body.decision.decided_on,
        decision_notified_on=body.decision.notified_on,
        received_on=body.received_on,
        channel=body.channel,
        grounds=body.grounds,
        external_reference=body.external_reference,
        appeal_deadline_on=deadline,
        late=body.received_on > deadline,
        status=AppealStatus.received,
        version=1,
        registration_digest=digest,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(appeal)
            await session.flush()
    except IntegrityError:
        # A concurrent registration of the same reference won the race; answer as for a retry.
        # Rolling back the savepoint has already taken `appeal` out of the session.
        winner = await repository.get_by_external_reference(
            session, unit_number=office.unit_number, external_reference=body.external_reference
        )
        if winner is None:
            raise
        return await _replay(session, winner, body, digest, organisation, clock), False

    session.add(
        AppealHistory(
            appeal_id=appeal.id,
            from_status=None,
            to_status=AppealStatus.received,
            actor_organisation=organisation.actor,
            actor_supplier=organisation.supplier_actor,
            occurred_at=now,
            recorded_at=now,
        )
    )
    await audit.record(
        session,
        principal=organisation,
        action="appeal.register",
        appeal_id=appeal.id,
        purpose="registration of an appeal by the NAV office",
        clock=clock,
    )
    return appeal, True


def _refuse_future_dates(body: AppealCreate, clock: Clock) -> None:
    today = clock.today()
    dates = {
        "decision.decided_on": body.decision.decided_on,
        "decision.notified_on": body.decision.notified_on,
        "received_on": body.received_on,
    }
    errors = [
        FieldError(field, f"{day} is in the future (today is {today})", "date_in_future")
        for field, day in dates.items()
        if day > today
    ]
    if errors:
        raise ValidationFailed(errors)


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
    appeal = await repository.get_visible(session, appeal_id, organisation)
    if appeal is None:
        raise AppealNotFound(appeal_id)
    await audit.record(
        session,
        principal=organisation,
        action="appeal.read",
        appeal_id=appeal.id,
        purpose="case processing",
        clock=clock,
    )
    return appeal
