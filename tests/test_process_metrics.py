"""Every process reports over /metrics, scraped over real HTTP as Prometheus would: a `klageapi
worker` on a port of its own, and `klageapi serve --workers 2`, whichever of its workers a
scrape reaches, with the counts of both and each one's process metrics."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from bench._harness import free_port, stop_process, wait_ready
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests import journey
from tests.conftest import CommittedApp
from tests.journey import AuthHeaders
from tests.webhook.conftest import Receiver

# The fixtures of a sibling folder's conftest, used here as they are (re-exported).
from tests.webhook.conftest import receiver as receiver
from tests.webhook.conftest import receiver_server as receiver_server
from tests.webhook.test_dispatcher import subscribe

START_TIMEOUT_SECONDS = 60


def _samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(
        sample.value
        for sample in samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def _names(samples: list[Sample]) -> set[str]:
    return {sample.name for sample in samples}


def _environment(database_url: str, folder: Path, **own: str) -> dict[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("KLAGEAPI_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    return {
        **inherited,
        "KLAGEAPI_DATABASE_URL": database_url,
        "KLAGEAPI_DATA_DIR": str(folder / "data"),
        "KLAGEAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "KLAGEAPI_WORKER_POLL_SECONDS": "0.2",
        **own,
    }


@contextmanager
def _process(
    arguments: list[str], environment: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "klageapi", *arguments],
            cwd=log.parent,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield process
    finally:
        stop_process(process)


async def _scrape_when_up(url: str, process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"exited ({process.returncode}):\n{_tail(log)}")
            try:
                answer = await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.2)
                continue
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("text/plain")
            return answer.text
    raise RuntimeError(f"{url} did not answer in time:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def _spawned_children(pid: int) -> set[int]:
    """The worker processes uvicorn started (multiprocessing's spawned children)."""
    children = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in command:
                children.add(int(child))
    return children


async def test_a_worker_serves_its_metrics_on_a_port_of_its_own(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver, tmp_path: Path
) -> None:
    await subscribe(race_track, auth, receiver)
    await journey.register(race_track.client, auth)  # an event for the worker to deliver
    port = free_port()
    database_url = race_track.engine.url.render_as_string(hide_password=False)
    environment = _environment(
        database_url,
        tmp_path,
        KLAGEAPI_WORKER_METRICS_PORT=str(port),
        KLAGEAPI_RUN_WORKER="false",
    )

    log = tmp_path / "worker.log"
    with _process(["worker"], environment, log) as worker:
        # The ping, then the event from the worker (which takes a while to start on a busy
        # machine: 30 s was not always enough at a load of 12 on two cores).
        await receiver.wait_for(2, within=START_TIMEOUT_SECONDS + 30)
        deadline = time.monotonic() + 10
        while True:  # the attempt is counted once its answer is recorded
            scraped = await _scrape_when_up(f"http://127.0.0.1:{port}/metrics", worker, log)
            samples = _samples(scraped)
            delivered = _value(samples, "klageapi_webhook_attempts_total", result="delivered")
            if delivered or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        async with httpx.AsyncClient(timeout=5) as client:
            health = await client.get(f"http://127.0.0.1:{port}/healthz")

    assert delivered == 1
    assert health.json() == {"status": "ok"}
    names = _names(samples)
    # Its process, its pool, and the backlog read from the database at the scrape.
    assert {
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "klageapi_db_pool_size",
        "klageapi_db_pool_overflow",
    } <= names
    assert _value(samples, "klageapi_database_figures_up") == 1
    assert _value(samples, "klageapi_db_pool_overflow") >= 0
    assert _value(samples, "klageapi_webhook_subscriptions", state="healthy") == 1
    assert _value(samples, "klageapi_events_undelivered", stage="fan_out") == 0
    assert _value(samples, "klageapi_events_undelivered", stage="delivery") == 0


async def test_a_worker_whose_metrics_port_is_taken_still_delivers(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver, tmp_path: Path
) -> None:
    """Two workers left on the default port on one host: the second cannot serve /metrics,
    says so, and sends webhooks all the same (uvicorn's own bind would end the process)."""
    await subscribe(race_track, auth, receiver)
    await journey.register(race_track.client, auth)
    database_url = race_track.engine.url.render_as_string(hide_password=False)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        environment = _environment(database_url, tmp_path, KLAGEAPI_WORKER_METRICS_PORT=str(port))
        log = tmp_path / "worker.log"
        with _process(["worker"], environment, log) as worker:
            await receiver.wait_for(2, within=START_TIMEOUT_SECONDS + 30)
            assert worker.poll() is None, _tail(log)

    lines = log.read_text()
    assert '"worker_metrics_unavailable"' in lines
    assert '"worker_started"' in lines


async def test_serve_with_two_workers_reports_both_whichever_answers_the_scrape(
    race_track: CommittedApp, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = race_track.engine.url.render_as_string(hide_password=False)
    environment = _environment(database_url, tmp_path, KLAGEAPI_RUN_WORKER="false")
    log = tmp_path / "serve.log"
    requests = 60

    with _process(["serve", "--workers", "2", "--port", str(port)], environment, log) as serve:
        await asyncio.to_thread(wait_ready, serve, url, log)
        # A new connection each time, so the kernel spreads them over both workers.
        for _ in range(requests):
            async with httpx.AsyncClient(timeout=5) as client:
                assert (await client.get(f"{url}/healthz")).status_code == 200
        scrapes = []
        for _ in range(6):
            async with httpx.AsyncClient(timeout=10) as client:
                scrapes.append(_samples((await client.get(f"{url}/metrics")).text))
        worker_pids = _spawned_children(serve.pid)

    for samples in scrapes:
        # Every scrape counts every worker's requests, whichever worker answered it.
        assert (
            _value(samples, "klageapi_http_requests_total", route="/healthz", status="200")
            == requests
        )
        pids = {int(s.labels["pid"]) for s in samples if s.name == "process_resident_memory_bytes"}
        assert len(pids) == 2, pids
        assert _value(samples, "klageapi_db_pool_overflow") >= 0
        assert _value(samples, "klageapi_database_figures_up") == 1
    assert len(worker_pids) == 2
    assert {
        int(s.labels["pid"]) for s in scrapes[0] if s.name == "process_cpu_seconds_total"
    } == worker_pids
