"""Small async factories: valid objects with keyword overrides."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import Appeal, AppealHistory, AppealStatus, Base, Channel

# Valid fødselsnummer / d-nummer (check digits right), made up for tests.
NATIONAL_ID = "15076500565"
OTHER_NATIONAL_ID = "29029600013"
D_NUMBER = "55076500559"


def appeal_body(**overrides: Any) -> dict[str, Any]:
    """A valid POST /v1/appeals body for NAV Stavanger (demo registry)."""
    body: dict[str, Any] = {
        "nav_office_unit_number": "1103",
        "municipality_number": "1103",
        "national_id": NATIONAL_ID,
        "decision": {
            "reference": "VEDTAK-2026-0042",
            "decided_on": "2026-10-01",
            "notified_on": "2026-10-02",
        },
        "received_on": "2026-10-15",
        "channel": "digital",
        "grounds": "Jeg mener vedtaket er feil.",
        "external_reference": f"SAK-{uuid.uuid4().hex[:12]}",
    }
    body.update(overrides)
    return body


async def make_appeal(session: AsyncSession, **overrides: Any) -> Appeal:
    """An appeal stored directly, with its first history row (at `registered_at`, default
    now)."""
    now = dt.datetime.now(dt.UTC)
    registered_at = overrides.pop("registered_at", now)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "nav_office_unit_number": "1103",
        "municipality_number": "1103",
        "statsforvalter_office_id": "sf-rogaland",
        "national_id": NATIONAL_ID,
        "decision_reference": "VEDTAK-1",
        "decision_decided_on": dt.date(2026, 10, 1),
        "decision_notified_on": dt.date(2026, 10, 2),
        "received_on": dt.date(2026, 10, 15),
        "channel": Channel.digital,
        "grounds": "Uenig.",
        "external_reference": f"SAK-{uuid.uuid4().hex[:12]}",
        "appeal_deadline_on": dt.date(2026, 10, 23),
        "late": False,
        "status": AppealStatus.received,
        "version": 1,
        "registration_digest": "0" * 64,
        "status_changed_at": now,
        "registered_at": registered_at,
        "created_at": now,
        "updated_at": now,
    }
    values.update(overrides)
    appeal = Appeal(**values)
    session.add(appeal)
    await session.flush()
    session.add(
        AppealHistory(
            appeal_id=appeal.id,
            action="register",
            to_status=appeal.status,
            actor_organisation="0192:977777771",
            occurred_at=registered_at,
            recorded_at=now,
        )
    )
    await session.flush()
    return appeal


async def add_steps(
    session: AsyncSession,
    appeal: Appeal,
    steps: Sequence[tuple[AppealStatus, dt.datetime]],
    *,
    action: str = "step",
) -> Appeal:
    """History rows taking the appeal through `steps` (the status it entered, when), written
    directly, as the lifecycle would have; a step to the status it is in changes no status."""
    now = dt.datetime.now(dt.UTC)
    for status, occurred_at in steps:
        session.add(
            AppealHistory(
                appeal_id=appeal.id,
                action=action,
                from_status=appeal.status,
                to_status=status,
                actor_organisation="0192:977777771",
                occurred_at=occurred_at,
                recorded_at=now,
            )
        )
        appeal.status = status
        appeal.status_changed_at = occurred_at
        if status is AppealStatus.forwarded and appeal.forwarded_at is None:
            appeal.forwarded_at = occurred_at
        await session.flush()
    return appeal


async def count(session: AsyncSession, model: type[Base]) -> int:
    """Rows in a model's table, as this test's transaction sees them."""
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)
