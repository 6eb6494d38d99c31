"""Crash safety in short: bench/crash.py with two kill rounds and 30 appeals. The API and two
workers run as real processes on a database of the run's PostgreSQL and are killed with SIGKILL
under load (the last round kills all three at once); nothing answered 2xx may be lost, the feed
serves every event once, and each subscription gets every event of its feed."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from tests.conftest import create_database, drop_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import crash


async def test_killed_api_and_workers_lose_nothing_that_was_answered(
    postgres_server_url: str,
) -> None:
    # An empty database on the run's server (which this process keeps running), migrated by
    # the bench's `klageapi migrate`: starting an embedded server of its own took 3 to 7 s.
    name = f"klageapi_crash_{uuid.uuid4().hex[:8]}"
    try:
        figures = await crash.run(
            rounds=2,
            seed=7,
            appeals=30,
            duration=10,
            database_url=await create_database(postgres_server_url, name),
        )
    finally:
        await drop_database(postgres_server_url, name)

    crash.report(figures)  # shown by pytest when the test fails
    assert figures.failures == []
    assert figures.rounds == 2
    assert figures.kills["api"] >= 1 and figures.kills["worker-1"] >= 1
    assert figures.lost == 0
    assert figures.appeals == 30
    # Every appeal went all the way, so each organisation's feed and subscription has events.
    assert figures.feed["nav"] > figures.feed["sf"] > 0
    assert figures.deliveries["nav"] >= figures.feed["nav"]
    assert figures.deliveries["sf"] >= figures.feed["sf"]
