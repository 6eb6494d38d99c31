"""The appeal service: the Statsforvalter's steps on an appeal are written to the audit log by
the service, whoever calls it."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import service
from klageapi.appeal.lifecycle import Action
from klageapi.appeal.schemas import DecisionCreate, StepCreate
from klageapi.core.auth import Organisation
from klageapi.core.clock import FixedClock
from klageapi.models import AuditEntry, StatsforvalterOutcome
from tests.conftest import SF_ROGALAND_ORG
from tests.journey import (
    AuthHeaders,
    acknowledge,
    forwarded,
    under_statsforvalter_review,
    upload,
)

ROGALAND = Organisation(
    organisation_number=SF_ROGALAND_ORG, scopes=frozenset({"klageapi:read", "klageapi:write"})
)


async def _audited(session: AsyncSession, appeal_id: uuid.UUID) -> list[tuple[str, str | None]]:
    query = (
        select(AuditEntry.action, AuditEntry.actor_organisation)
        .where(AuditEntry.appeal_id == appeal_id)
        .order_by(AuditEntry.id)
    )
    return [(action, actor) for action, actor in (await session.execute(query)).all()]


async def test_starting_the_review_is_audited_by_the_service(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    appeal, _, package = await forwarded(client, auth)
    await acknowledge(client, auth, package["id"])
    appeal_id = uuid.UUID(appeal["id"])
    before = await _audited(session, appeal_id)

    await service.take_step(
        session,
        appeal_id,
        StepCreate(),
        action=Action.start_statsforvalter_review,
        organisation=ROGALAND,
        clock=clock,
        expected_versions=None,
    )

    assert (await _audited(session, appeal_id))[len(before) :] == [
        ("appeal.start_statsforvalter_review", ROGALAND.actor)
    ]


async def test_a_decision_is_audited_by_the_service(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    document = await upload(
        client, auth, appeal["id"], category="statsforvalter_decision", org=SF_ROGALAND_ORG
    )
    appeal_id = uuid.UUID(appeal["id"])
    before = await _audited(session, appeal_id)

    await service.decide(
        session,
        appeal_id,
        DecisionCreate(
            outcome=StatsforvalterOutcome.upheld,
            decided_on=dt.date(2026, 11, 2),
            document_id=uuid.UUID(document["id"]),
        ),
        organisation=ROGALAND,
        clock=clock,
        expected_versions=None,
    )

    assert (await _audited(session, appeal_id))[len(before) :] == [
        ("appeal.decide", ROGALAND.actor)
    ]
