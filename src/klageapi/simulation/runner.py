"""Runs a simulation: the service (a given one, or one started on the embedded defaults), the
registry set-up, the planned year over HTTP, and the comparison with the ground truth."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from klageapi.core.clock import NORWAY
from klageapi.core.dev_issuer import DevIssuer
from klageapi.core.queue_order import AppealOrder
from klageapi.simulation.driver import Driver, routing_of
from klageapi.simulation.scenario import PlannedAppeal, capacities, place, plan_year
from klageapi.simulation.truth import GROUPINGS, Difference, compare, figures

__all__ = ["ADMIN_ORGANISATION", "Outcome", "play", "play_with", "started_service"]

ADMIN_ORGANISATION = "0192:910000004"  # the simulation's administrator (development tokens)
_READY_SECONDS = 180


@contextlib.contextmanager
def started_service() -> Iterator[tuple[str, Path]]:
    """`klageapi serve` on a free loopback port with a fresh data folder (and so its own
    embedded PostgreSQL); its base URL and data folder. Stopped and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="klageapi-simulate-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "KLAGEAPI_ENVIRONMENT": "development",
        "KLAGEAPI_DATA_DIR": str(folder),
        "KLAGEAPI_LOG_LEVEL": "WARNING",
        # A year played in minutes: far above any office's real pace.
        "KLAGEAPI_ORGANISATION_MAX_CONCURRENT_REQUESTS": "0",
        "KLAGEAPI_ORGANISATION_REQUESTS_PER_SECOND": "0",
    }
    environment.pop("KLAGEAPI_DATABASE_URL", None)
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "klageapi", "serve", "--port", str(port)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + _READY_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError("the service stopped while starting; see its log")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not become ready")
            time.sleep(0.25)
        yield base_url, folder
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Outcome:
    plans: list[PlannedAppeal]
    requests: int
    seconds: float
    reported: dict[str, dict[str, Any]]
    """The statistics endpoint's answer per grouping."""
    differences: list[Difference]
    now: dt.datetime
    """The year's end."""
    policy: AppealOrder | None = None
    """The order the simulated Statsforvalter offices took their queues in (None: no queue,
    each review started after the wait drawn for it)."""


async def play(
    base_url: str,
    data_dir: Path,
    *,
    appeals: int,
    seed: int,
    concurrency: int,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    policy: AppealOrder | None = None,
    now: dt.datetime | None = None,
) -> Outcome:
    """Plan the year up to `now` (default: now), set up the registry, replay every plan, then
    compare the statistics with the truth (see `play_with`)."""
    async with contextlib.AsyncExitStack() as stack:
        client, *worker_clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=base_url,
                    timeout=60,
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                )
            )
            for _ in range(concurrency + 1)
        ]
        return await play_with(
            client,
            DevIssuer(data_dir),
            appeals=appeals,
            seed=seed,
            concurrency=concurrency,
            now=now or dt.datetime.now(dt.UTC),
            progress=progress,
            worker_clients=worker_clients,
            policy=policy,
        )


async def play_with(
    client: httpx.AsyncClient,
    issuer: DevIssuer,
    *,
    appeals: int,
    seed: int,
    concurrency: int,
    now: dt.datetime,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    worker_clients: Sequence[httpx.AsyncClient] = (),
    policy: AppealOrder | None = None,
) -> Outcome:
    """Plan the year before `now`, set up the registry, replay every plan, then fetch the
    statistics of the 400 days to `now` and compare them, grouping by grouping, with the truth
    from the plans. With a `policy`, the Statsforvalter offices work through queues in that
    order (see `_queued`)."""
    admin = {
        "Authorization": "Bearer " + issuer.organisation_token(ADMIN_ORGANISATION, "klageapi:admin")
    }
    routing = await routing_of(client, admin)
    registry, plans = plan_year(
        seed=seed, appeals=appeals, now=now, routing=routing, queued=policy is not None
    )
    driver = Driver(
        client, issuer, registry, seed=seed, concurrency=concurrency, worker_clients=worker_clients
    )
    await driver.set_up_registry(ADMIN_ORGANISATION)
    started = time.monotonic()
    if policy is None:
        requests = sum(len(p.steps) for p in plans)
        await driver.run(plans, advance=progress(len(plans), requests) if progress else None)
    else:
        requests = await _queued(
            driver, plans, policy, seed=seed, now=now, progress=progress, clients=worker_clients
        )
    seconds = time.monotonic() - started
    # A new token: the year may have taken longer than the first one lives.
    admin = {
        "Authorization": "Bearer " + issuer.organisation_token(ADMIN_ORGANISATION, "klageapi:admin")
    }
    end = now.astimezone(NORWAY).date()
    start = end - dt.timedelta(days=400)
    reported: dict[str, dict[str, Any]] = {}
    differences: list[Difference] = []
    for group_by in GROUPINGS:
        response = await client.get(
            "/v1/statistics/processing-times",
            params={"from": start.isoformat(), "to": end.isoformat(), "group_by": group_by},
            headers=admin,
        )
        response.raise_for_status()
        reported[group_by] = response.json()
        as_of = dt.datetime.fromisoformat(reported[group_by]["as_of"])
        truth = figures(plans, group_by=group_by, start=start, end=end, as_of=as_of)
        differences += compare(truth, reported[group_by], group_by=group_by)
    return Outcome(plans, requests, seconds, reported, differences, now, policy)


async def _queued(
    driver: Driver,
    plans: list[PlannedAppeal],
    policy: AppealOrder,
    *,
    seed: int,
    now: dt.datetime,
    progress: Callable[[int, int], Callable[[int], None]] | None,
    clients: Sequence[httpx.AsyncClient],
) -> int:
    """The year with queues at the Statsforvalter offices, in three passes: every appeal up to
    the Statsforvalter's receipt (none of it depends on the order); then each office through
    the year in business time, receiving its packages when planned and taking up a case,
    whenever it can and one waits, as its list of appeals in `policy` puts first; then each
    taken-up appeal's review from the moment it started. The requests made."""

    def before_receipt(plan: PlannedAppeal) -> range:
        kinds = [step.kind for step in plan.steps]
        return range(kinds.index("receipt") if "receipt" in kinds else len(kinds))

    requests = sum(len(before_receipt(plan)) for plan in plans)
    advance = progress(len(plans), requests) if progress else None
    await driver.run(plans, steps=before_receipt, advance=advance)
    arrivals: dict[str, list[PlannedAppeal]] = {}
    for plan in plans:
        if plan.receipt_at is not None:
            arrivals.setdefault(plan.statsforvalter_office_id, []).append(plan)
    pace = capacities(plans, seed=seed)
    offices = sorted(arrivals)
    served = await asyncio.gather(
        *(
            driver.serve_queue(
                office,
                arrivals[office],
                pace[office],
                order=policy.value,
                now=now,
                client=clients[n % len(clients)] if clients else None,
            )
            for n, office in enumerate(offices)
        )
    )
    started = {index: at for starts in served for index, at in starts.items()}
    requests += sum(len(arrivals[office]) for office in offices) + 2 * len(started)
    taken = [plan for plan in plans if plan.index in started]
    for plan in taken:
        place(plan, started[plan.index], now=now)

    def after_review(plan: PlannedAppeal) -> range:
        kinds = [step.kind for step in plan.steps]
        return range(kinds.index("review") + 1, len(kinds))

    tail = sum(len(after_review(plan)) for plan in taken)
    requests += tail
    advance = progress(len(taken), tail) if progress else None
    await driver.run(taken, steps=after_review, advance=advance)
    return requests
