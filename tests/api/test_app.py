"""What the application does around the requests: the start-up sweep of partial uploads, and
the rounds of the idempotency-key sweeper, against the real database."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from klageapi.api.app import create_app, sweep_idempotency_keys_once
from klageapi.core.clock import FixedClock
from klageapi.core.config import Settings
from klageapi.core.logging import configure_logging
from klageapi.models import Appeal, IdempotencyRecord
from tests.conftest import CommittedApp
from tests.factories import appeal_body, count

AuthHeaders = Callable[..., dict[str, str]]


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    # The lifespan configures logging as the settings say; put back the run's configuration.
    yield
    configure_logging(level="INFO", json=True)


@pytest.mark.usefixtures("_restore_logging")
async def test_start_up_removes_partial_uploads_older_than_an_hour_and_keeps_fresh_ones(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    # No webhook dispatcher: the start-up sweep is all this test is about.
    quiet = settings.model_copy(update={"data_dir": tmp_path, "run_worker": False})
    app = create_app(quiet, engine=engine)
    partial = tmp_path / "documents" / "tmp"
    stale, fresh = partial / "crashed.part", partial / "uploading.part"
    stale.write_bytes(b"half an upload from before a crash")
    fresh.write_bytes(b"an upload going on right now")
    an_hour_and_a_minute_ago = time.time() - 61 * 60
    os.utime(stale, (an_hour_and_a_minute_ago, an_hour_and_a_minute_ago))

    async with app.router.lifespan_context(app):
        assert not stale.exists()
        assert fresh.exists()


async def _register(committed: CommittedApp, auth: AuthHeaders, key: str) -> None:
    response = await committed.client.post(
        "/v1/appeals", json=appeal_body(), headers={**auth(), "Idempotency-Key": key}
    )
    assert response.status_code == 201, response.text


async def test_a_sweeper_round_deletes_expired_keys_and_keeps_fresh_ones(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    clock: FixedClock = race_track.app.state.clock
    await _register(race_track, auth, "old")
    clock.advance(dt.timedelta(hours=12))
    await _register(race_track, auth, "fresh")
    clock.advance(dt.timedelta(hours=12))

    swept = await sweep_idempotency_keys_once(race_track.app)

    assert swept == 1
    # Committed by the round itself: a new session sees the result.
    async with AsyncSession(race_track.engine) as session:
        assert (await session.scalars(select(IdempotencyRecord.key))).all() == ["fresh"]
        assert await count(session, Appeal) == 2
    assert await sweep_idempotency_keys_once(race_track.app) == 0


async def test_a_failed_sweeper_round_is_left_to_the_next_one(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    app = create_app(settings.model_copy(update={"data_dir": tmp_path}), engine=engine)

    def unreachable() -> AsyncSession:
        raise OSError("connection refused")

    app.state.sessionmaker = unreachable
    try:
        assert await sweep_idempotency_keys_once(app) == 0
    finally:
        await app.state.http_client.aclose()


def test_production_holds_late_reports_to_the_backdating_limit(settings: Settings) -> None:
    production = settings.model_copy(
        update={"environment": "production", "backdating_limit_days": 14}
    )

    assert create_app(production).state.clock.backdating_limit == dt.timedelta(days=14)
    assert create_app(settings).state.clock.backdating_limit is None
