"""One simulated year for the run, played once through the real API on a committed database of
its own, at DEBUG with the app's log lines kept: for the tests that read a year (the statistics
against the plans' truth, the report in a browser and from the command, the scan for personal
data). Playing it took 10 to 20 s each time, four times a run.

The year's statistics are compared with the plans' truth as it is played (`Outcome.differences`);
what tests add to its database afterwards (the personal-data scan's named appeal, its webhook
subscriptions) changes no figure another test checks against the truth."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from klageapi.core.config import Settings
from klageapi.core.dev_issuer import DevIssuer
from klageapi.core.logging import configure_logging
from klageapi.simulation.runner import ADMIN_ORGANISATION, Outcome, play_with
from tests._leakscan import LogLine, tap
from tests.conftest import NOW, CommittedApp, DatabaseTemplate, committed_app

__all__ = ["LONG_NAV", "LONG_STATSFORVALTER", "SimulatedYear", "at_debug", "simulated_year"]

# A minute or two on a busy two-core machine at DEBUG; set it higher for a fuller year.
APPEALS = int(os.environ.get("KLAGEAPI_TEST_LEAK_SCAN_APPEALS", "60"))
SEED = 11  # a year with every kind of step, a withdrawal among them
LONG_STATSFORVALTER = (
    "Statsforvalteren i Østfold, Buskerud, Oslo og Akershus, avdeling for barnevern,"
    " sosialtjenester og klagesaker etter sosialtjenesteloven"
)
LONG_NAV = "NAV-kontoret-for-Indre-Østfold-Rakkestad-Marker-Aremark-og-Skiptvet-sosialtjenesten"


@dataclass
class SimulatedYear:
    track: CommittedApp
    outcome: Outcome
    appeals: int
    log_lines: list[LogLine]  # what the app logged while the year was played, at DEBUG


@contextmanager
def at_debug() -> Iterator[None]:
    """Every logger at DEBUG and SQLAlchemy echoing its statements (with their parameters
    hidden, as the app's engine does); the run's configuration afterwards."""
    configure_logging(level="DEBUG", json=True)
    sql = logging.getLogger("sqlalchemy.engine")
    sql.setLevel(logging.INFO)
    try:
        yield
    finally:
        sql.setLevel(logging.NOTSET)
        configure_logging(level="INFO", json=True)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that read the year run in one worker (pytest-xdist's loadgroup), which plays
    it once."""
    for item in items:
        if "simulated_year" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("simulated_year"))


@pytest.fixture(scope="session")
async def simulated_year(
    database_template: DatabaseTemplate, settings: Settings, http_client: httpx.AsyncClient
) -> AsyncIterator[SimulatedYear]:
    """The year, with one Statsforvalter office and one NAV office renamed to long names (for
    the report's layout)."""
    issuer = DevIssuer(settings.data_dir)
    async with committed_app(database_template, settings, http_client, prefix="year") as track:
        with at_debug(), tap.recording() as lines:
            outcome = await play_with(
                track.client, issuer, appeals=APPEALS, seed=SEED, concurrency=8, now=NOW
            )
        admin = {
            "Authorization": "Bearer "
            + issuer.organisation_token(ADMIN_ORGANISATION, "klageapi:admin")
        }
        await _long_names(track.client, admin)
        yield SimulatedYear(track, outcome, APPEALS, lines)


async def _long_names(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    office = (
        await client.get(
            "/v1/offices/statsforvalter/sf-oslo-akershus-ostfold-buskerud", headers=admin
        )
    ).json()
    renamed = await client.put(
        f"/v1/offices/statsforvalter/{office['id']}",
        json={"name": LONG_STATSFORVALTER, "organisation_number": office["organisation_number"]},
        headers=admin,
    )
    assert renamed.status_code == 200, renamed.text
    nav = (await client.get("/v1/offices/nav", params={"limit": 500}, headers=admin)).json()[
        "items"
    ]
    simulated = next(o for o in nav if o["municipality_numbers"][0].startswith("31"))
    renamed = await client.put(
        f"/v1/offices/nav/{simulated['unit_number']}",
        json={
            "name": LONG_NAV,
            "organisation_number": simulated["organisation_number"],
            "municipality_numbers": simulated["municipality_numbers"],
        },
        headers=admin,
    )
    assert renamed.status_code == 200, renamed.text
