"""The run's simulated year through the real API (in process, committed database): the service
accepts every planned step, the statistics endpoint agrees with the plans' ground truth in
every group, and the report shows the endpoint's figures."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sys
from pathlib import Path

import httpx
import uvicorn

from klageapi.api.app import create_app
from klageapi.core.config import Settings
from klageapi.core.dev_issuer import DevIssuer
from klageapi.report.data import ReportData
from klageapi.report.render import render
from klageapi.report.texts import words as report_words
from klageapi.simulation.driver import Driver
from klageapi.simulation.scenario import plan_year
from tests.conftest import NOW, DatabaseTemplate, loopback_listener
from tests.simulated_year import SimulatedYear

ROUTING = {"03": "sf-oslo-akershus-ostfold-buskerud", "11": "sf-rogaland"}


def test_the_same_seed_plans_the_same_year() -> None:
    first = plan_year(seed=7, appeals=50, now=NOW, routing=_routing())[1]
    again = plan_year(seed=7, appeals=50, now=NOW, routing=_routing())[1]
    other = plan_year(seed=8, appeals=50, now=NOW, routing=_routing())[1]

    assert [p.steps for p in first] == [p.steps for p in again]
    assert [p.steps for p in first] != [p.steps for p in other]
    assert all(step.at <= NOW for plan in first for step in plan.steps)


def _routing() -> dict[str, str]:
    from klageapi.simulation.scenario import COUNTIES

    return {county: ROUTING.get(county, "sf-vestland") for county in COUNTIES}


async def test_a_simulated_year_matches_the_statistics_and_the_report_shows_them(
    simulated_year: SimulatedYear,
) -> None:
    outcome = simulated_year.outcome

    assert outcome.differences == []
    total = outcome.reported["statsforvalter_office"]["total"]
    assert total["received"]["appeals"] == simulated_year.appeals
    assert total["decided"]["appeals"] > simulated_year.appeals * 0.4
    data = ReportData(
        start=dt.date(2025, 11, 2),
        end=dt.date(2026, 11, 2),
        views=outcome.reported,
        months=[],
        names={"statsforvalter_office": {"sf-rogaland": "Statsforvalteren i Rogaland"}},
    )
    html = render(data, language="en")
    whole = total["decided"]["whole_wait"]
    words = report_words("en")
    # The real median of the whole wait, with the number of appeals it rests on.
    assert f'<p class="big">{words.days(whole["median_days"])}</p>' in html
    assert f"median ({words.n(whole['count'])})" in html
    for group in outcome.reported["statsforvalter_office"]["groups"]:
        group_share = group["decided"]["within_90_days_share"]
        if group_share is not None:
            assert f"<td>{words.share(group_share)}</td>" in html
    assert "<script" not in html and not re.search(r'(src|href)="https?:', html)


def test_an_outcome_after_now_has_not_happened() -> None:
    _, plans = plan_year(seed=5, appeals=400, now=NOW, routing=_routing())

    for plan in plans:
        kinds = {step.kind for step in plan.steps}
        assert (plan.nav_outcome is not None) == ("nav_outcome" in kinds)
        assert (plan.decision is not None) == ("decide" in kinds)


async def test_simulate_writes_the_years_report_from_the_service_it_played_on(
    database_template: DatabaseTemplate,
    settings: Settings,
    http_client: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    """`klageapi simulate --report`: the README's way to a report of a simulated year, whose
    service is gone once the command ends. Here the command plays on a served app of the test's
    own (the real clock: the year is played up to now)."""
    output = tmp_path / "report.html"
    async with database_template.copy(settings, prefix="simulate") as engine:
        app = create_app(settings, engine=engine, http_client=http_client)
        sock = loopback_listener()
        server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("KLAGEAPI_")}
            command = [sys.executable, "-m", "klageapi", "simulate", "--appeals", "12"]
            command += ["--base-url", f"http://127.0.0.1:{sock.getsockname()[1]}"]
            command += ["--data-dir", str(settings.data_dir), "--report", str(output)]
            played = await asyncio.create_subprocess_exec(
                *command, env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
            )
            _, said = await played.communicate()
        finally:
            server.should_exit = True
            await task

    assert played.returncode == 0, said.decode()[-3000:]
    assert "wrote" in said.decode()
    html = output.read_text()
    assert '<html lang="nb">' in html and 'id="view-statsforvalter_office"' in html
    assert "<script" not in html


def test_a_year_longer_than_a_token_lives_mints_its_tokens_again(tmp_path: Path) -> None:
    registry, _ = plan_year(seed=1, appeals=1, now=NOW, routing=_routing())
    driver = Driver(httpx.AsyncClient(), DevIssuer(tmp_path), registry, seed=1)
    first = driver.headers("0192:910000004")
    assert driver.headers("0192:910000004") is first
    (key, (minted, header)), *_ = driver._tokens.items()
    driver._tokens[key] = (minted - 1800, header)  # half an hour later

    again = driver.headers("0192:910000004")

    assert again is not first and again["Authorization"].startswith("Bearer ")
    assert driver.headers("0192:910000004") is again
