"""Scaling out: two API processes and two workers against one PostgreSQL and one S3 store, with
no state on local disk; and the read replica, which serves the reads that tolerate lag.

The processes share one PostgreSQL server, reached over its URL as a deployment's processes
reach theirs: KLAGEAPI_SCALE_OUT_DATABASE_URL's, else the run's test server (the embedded one
listens on a unix socket that processes of this machine can reach, and its data folder is the
test run's, not the processes'). A fresh database is created on it for the test, migrated by
`klageapi migrate`, and dropped at the end.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx
import pytest
from bench._harness import free_port, stop_process, wait_ready
from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from klageapi.api.app import create_app
from klageapi.core.clock import FixedClock
from klageapi.core.config import Settings
from klageapi.core.db import READ_APPLICATION_NAME, create_engine
from klageapi.document.seaweedfs import SeaweedFS
from klageapi.models import StatsforvalterOffice, WebhookAttempt, WebhookDelivery
from klageapi.registry.service import load_shipped_data
from tests import journey
from tests.conftest import (
    NOW,
    SF_ROGALAND_ORG,
    DatabaseTemplate,
    _with_database,
    create_database,
    drop_database,
)

# The fixtures of a sibling folder's conftest, used here as they are (re-exported).
from tests.document.conftest import seaweedfs as seaweedfs
from tests.factories import NATIONAL_ID
from tests.journey import AuthHeaders
from tests.webhook.conftest import Receiver
from tests.webhook.conftest import receiver as receiver
from tests.webhook.conftest import receiver_server as receiver_server

SERVER_URL_VARIABLE = "KLAGEAPI_SCALE_OUT_DATABASE_URL"
PERIOD = {"from": "2026-10-01", "to": "2026-10-31"}  # journey appeals are received 2026-10-15
SUBSCRIBED = ["appeal.received", "appeal.status_changed", "document.added", "package.forwarded"]
SUBSCRIPTIONS = 3
QUIET_SECONDS = 3.0  # after the last expected delivery, how long nothing more may arrive
START_TIMEOUT_SECONDS = 180  # as long as bench/_harness.py waits: the machine is shared


# --- The read replica ---------------------------------------------------------------------------


@dataclass
class PrimaryAndCopy:
    """A migrated, seeded primary database and a copy of it taken before the test wrote
    anything: what a replica lagging behind looks like, so a read shows where it was served."""

    primary: AsyncEngine
    copy: AsyncEngine
    settings: Settings


@pytest.fixture
async def primary_and_copy(
    database_template: DatabaseTemplate, settings: Settings
) -> AsyncIterator[PrimaryAndCopy]:
    server_url = database_template.server_url
    name = f"klageapi_primary_{uuid.uuid4().hex[:12]}"
    copy_name = f"{name}_copy"
    primary_url = await database_template.create_copy(name)
    try:
        # Copied before anything is written, with no connection open to the primary.
        await create_database(server_url, copy_name, template=name)
        primary = create_engine(primary_url, settings)
        copy = create_engine(
            _with_database(server_url, copy_name), settings, application_name=READ_APPLICATION_NAME
        )
        yield PrimaryAndCopy(primary=primary, copy=copy, settings=settings)
        await primary.dispose()
        await copy.dispose()
    finally:
        await drop_database(server_url, name, copy_name)


@asynccontextmanager
async def _client(
    settings: Settings, engine: AsyncEngine, read_engine: AsyncEngine | None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on committed databases (no rollback harness), as in production."""
    app = create_app(settings, engine=engine, read_engine=read_engine, clock=FixedClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client:
        yield client
    await app.state.http_client.aclose()


async def _received(client: httpx.AsyncClient, auth: AuthHeaders) -> int:
    response = await client.get(
        "/v1/statistics/processing-times", params=PERIOD, headers=auth(scope="klageapi:admin")
    )
    assert response.status_code == 200, response.text
    appeals: int = response.json()["total"]["received"]["appeals"]
    return appeals


async def _audit_entries(client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str) -> int:
    response = await client.get(
        "/v1/audit-log", params={"appeal_id": appeal_id}, headers=auth(scope="klageapi:admin")
    )
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


async def test_statistics_and_the_audit_log_are_read_from_the_replica(
    primary_and_copy: PrimaryAndCopy, auth: AuthHeaders
) -> None:
    track = primary_and_copy
    async with _client(track.settings, track.primary, track.copy) as client:
        appeal = await journey.register(client, auth)

        # The copy has not seen the appeal: these two were served by the replica.
        assert await _received(client, auth) == 0
        assert await _audit_entries(client, auth, appeal["id"]) == 0
        # Everything else reads the primary: the appeal itself and the event feed.
        assert (await client.get(f"/v1/appeals/{appeal['id']}", headers=auth())).status_code == 200
        feed = await client.get("/v1/events", headers=auth())
        assert [e["appeal_id"] for e in feed.json()["items"]] == [appeal["id"]]

    async with _client(track.settings, track.primary, None) as client:
        # Without a replica the same reads come from the primary.
        assert await _received(client, auth) == 1
        # The registration and the read of the appeal above.
        assert await _audit_entries(client, auth, appeal["id"]) == 2


async def test_an_unreachable_replica_leaves_the_reads_to_the_primary(
    primary_and_copy: PrimaryAndCopy, auth: AuthHeaders
) -> None:
    track = primary_and_copy
    nowhere = create_engine(
        f"postgresql+asyncpg://klageapi@127.0.0.1:{free_port()}/nothing", track.settings
    )
    async with _client(track.settings, track.primary, nowhere) as client:
        appeal = await journey.register(client, auth)

        assert await _received(client, auth) == 1
        assert await _audit_entries(client, auth, appeal["id"]) == 1
    await nowhere.dispose()


async def test_processes_starting_together_load_the_registry_once(
    migrated_template: DatabaseTemplate, settings: Settings
) -> None:
    """What each API process does at start on a freshly migrated database, twice at once: the
    second waits for the first and finds the registry filled (it failed on a duplicate key)."""
    async with migrated_template.copy(settings, prefix="registry") as engine:

        async def start() -> None:
            async with AsyncSession(engine) as session, session.begin():
                await load_shipped_data(session, demo=True)

        await asyncio.gather(start(), start())

        async with AsyncSession(engine) as session:
            offices = await session.scalar(select(func.count()).select_from(StatsforvalterOffice))
    shipped = resources.files("klageapi.registry").joinpath("data", "routing.json")
    assert offices == len(json.loads(shipped.read_text())["statsforvalter_offices"])


def test_a_replica_without_a_primary_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="KLAGEAPI_READ_DATABASE_URL needs"):
        Settings(
            data_dir=tmp_path,
            read_database_url="postgresql+asyncpg://replica.example/klageapi",
        )


# --- Two API processes, two workers -------------------------------------------------------------


@pytest.fixture(scope="session")
def scale_out_server(postgres_server_url: str) -> str:
    """The PostgreSQL server the processes share: KLAGEAPI_SCALE_OUT_DATABASE_URL's, else the
    run's test server."""
    return os.environ.get(SERVER_URL_VARIABLE) or postgres_server_url


@dataclass
class Fleet:
    """The running processes: the API's base URLs, the database and the S3 store (with the key
    prefix) they share, each one's working folder and log."""

    api_urls: list[str]
    database_url: str
    database_name: str
    store: SeaweedFS
    s3_prefix: str
    folders: list[Path]
    logs: list[Path]


def _environment(base: dict[str, str], folder: Path) -> dict[str, str]:
    # Nothing from the calling shell's KLAGEAPI_* settings, so the test says all there is.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("KLAGEAPI_")}
    return {**inherited, **base, "KLAGEAPI_DATA_DIR": str(folder / "data")}


def _wait_for_line(process: subprocess.Popen[bytes], log: Path, needle: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        if needle in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"no {needle!r} in {START_TIMEOUT_SECONDS} s:\n{log.read_text()[-3000:]}")


@contextmanager
def _processes(
    tmp_path: Path, database_url: str, store: SeaweedFS, s3_prefix: str, settings: Settings
) -> Iterator[tuple[list[str], list[Path], list[Path]]]:
    """Two `klageapi serve` (KLAGEAPI_RUN_WORKER=false) and two `klageapi worker`, each started
    in an empty folder of its own, all at once; stopped on exit."""
    assert settings.secret_key is not None
    shared = {
        "KLAGEAPI_ENVIRONMENT": "development",  # for webhooks to a plain-HTTP loopback receiver
        "KLAGEAPI_DATABASE_URL": database_url,
        "KLAGEAPI_ISSUERS": json.dumps([i.model_dump(mode="json") for i in settings.issuers]),
        "KLAGEAPI_SECRET_KEY": settings.secret_key.get_secret_value(),
        "KLAGEAPI_RUN_WORKER": "false",
        **store.environment(prefix=s3_prefix),
        "KLAGEAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "KLAGEAPI_WORKER_POLL_SECONDS": "0.5",
        # One subscription at a time per worker, so both workers take part.
        "KLAGEAPI_WORKER_CONCURRENCY": "1",
    }
    ports = [free_port(), free_port()]
    commands: list[tuple[str, list[str], dict[str, str]]] = [
        ("api-1", ["serve", "--port", str(ports[0])], {}),
        # The second API process reads statistics and the audit log through a "replica": the
        # same database, under the replica's connection name.
        ("api-2", ["serve", "--port", str(ports[1])], {"KLAGEAPI_READ_DATABASE_URL": database_url}),
        ("worker-1", ["worker"], {}),
        ("worker-2", ["worker"], {}),
    ]
    (tmp_path / "logs").mkdir()
    started: list[subprocess.Popen[bytes]] = []
    folders, logs = [], []
    try:
        for name, arguments, own in commands:
            folder = tmp_path / name
            folder.mkdir()
            log = tmp_path / "logs" / f"{name}.log"
            with log.open("wb") as output:
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "klageapi", *arguments],
                        cwd=folder,
                        env=_environment({**shared, **own}, folder),
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
            folders.append(folder)
            logs.append(log)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for process, url, log in zip(started[:2], urls, logs[:2], strict=True):
            wait_ready(process, url, log)
        for process, log in zip(started[2:], logs[2:], strict=True):
            _wait_for_line(process, log, '"worker_started"')
        yield urls, folders, logs
    finally:
        for process in started:  # all told at once: each takes a second or so to stop
            process.terminate()
        for process in started:
            stop_process(process)


@pytest.fixture
async def fleet(
    scale_out_server: str,
    seaweedfs: SeaweedFS,
    settings: Settings,
    tmp_path: Path,
) -> AsyncIterator[Fleet]:
    server_url = scale_out_server
    name = f"klageapi_scaleout_{uuid.uuid4().hex[:12]}"
    database_url = await create_database(server_url, name)
    try:
        environment = _environment({"KLAGEAPI_DATABASE_URL": database_url}, tmp_path)
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "klageapi", "migrate", env=environment, stderr=subprocess.PIPE
        )
        _, errors = await migrate.communicate()
        assert migrate.returncode == 0, errors.decode()[-3000:]
        prefix = f"scale-out-{uuid.uuid4().hex[:12]}"
        with _processes(tmp_path, database_url, seaweedfs, prefix, settings) as started:
            urls, folders, logs = started
            yield Fleet(urls, database_url, name, seaweedfs, prefix, folders, logs)
    finally:
        await drop_database(server_url, name)


async def _subscribe(client: httpx.AsyncClient, auth: AuthHeaders, url: str) -> None:
    response = await client.post(
        "/v1/webhook-subscriptions", json={"url": url, "event_types": SUBSCRIBED}, headers=auth()
    )
    assert response.status_code == 201, response.text


async def _content(
    client: httpx.AsyncClient, auth: AuthHeaders, document_id: str, org: str
) -> bytes:
    response = await client.get(f"/v1/documents/{document_id}/content", headers=auth(org=org))
    assert response.status_code == 200, response.text
    return response.content


async def test_an_appeal_moves_between_api_processes_and_each_event_is_sent_once(
    fleet: Fleet,
    auth: AuthHeaders,
    receiver: Receiver,
) -> None:
    async with (
        httpx.AsyncClient(base_url=fleet.api_urls[0], timeout=30) as one,
        httpx.AsyncClient(base_url=fleet.api_urls[1], timeout=30) as two,
    ):
        for n in range(SUBSCRIPTIONS):
            await _subscribe(one if n % 2 else two, auth, f"{receiver.url}/{n}")

        # Registered on process 1, documents uploaded to both, forwarded on process 2.
        appeal = await journey.register(one, auth)
        await journey.start_nav_review(two, auth, appeal["id"])
        uploaded: dict[str, bytes] = {}
        for client, category in zip((one, two, one, two), journey.REQUIRED, strict=True):
            data = journey.pdf(200_000)
            document = await journey.upload(
                client, auth, appeal["id"], category=category, data=data
            )
            uploaded[document["id"]] = data
        await journey.record_nav_outcome(one, auth, appeal["id"])
        package = await journey.forward(two, auth, appeal["id"])

        # Every document reads back whole from either process: the bytes are in S3.
        for document_id, data in uploaded.items():
            for client in (one, two):
                assert await _content(client, auth, document_id, SF_ROGALAND_ORG) == data

        # The Statsforvalter pulls the feed on one and downloads the bundle from both.
        pulled = await one.get("/v1/packages", headers=auth(org=SF_ROGALAND_ORG))
        assert [p["id"] for p in pulled.json()["items"]] == [package["id"]]
        bundles = []
        for client in (one, two):
            response = await client.get(
                f"/v1/packages/{package['id']}/bundle", headers=auth(org=SF_ROGALAND_ORG)
            )
            assert response.status_code == 200, response.text
            bundles.append(response.content)
        assert bundles[0] == bundles[1]
        with zipfile.ZipFile(io.BytesIO(bundles[0])) as bundle:
            documents = [n for n in bundle.namelist() if n.startswith("documents/")]
            inside = sorted(bundle.read(n) for n in documents)
            assert "manifest.json" in bundle.namelist()
        assert inside == sorted(uploaded.values())

        # Each subscription gets each of its events exactly once, though two workers send.
        feed = await one.get("/v1/events", params={"limit": 1000}, headers=auth())
        events = [e for e in feed.json()["items"] if e["type"] in SUBSCRIBED]
        assert Counter(e["type"] for e in events) == {
            "appeal.received": 1,
            "appeal.status_changed": 2,  # under_nav_review, forwarded
            "document.added": 4,
            "package.forwarded": 1,
        }
        expected = sorted(e["id"] for e in events)
        pings = SUBSCRIPTIONS
        await receiver.wait_for(pings + SUBSCRIPTIONS * len(expected), within=60)
        await asyncio.sleep(QUIET_SECONDS)  # and nothing more comes
        for n in range(SUBSCRIPTIONS):
            sent = [r.headers["webhook-id"] for r in receiver.events() if r.path == f"/hooks/{n}"]
            assert sorted(sent) == expected, f"subscription {n}"
        assert len(receiver.events()) == SUBSCRIPTIONS * len(expected)

        # Statistics on both processes agree, each counted at its own moment (`as_of`);
        # process 2 read them through its replica engine.
        figures = []
        for client in (one, two):
            response = await client.get(
                "/v1/statistics/processing-times",
                params=PERIOD,
                headers=auth(scope="klageapi:admin"),
            )
            assert response.status_code == 200, response.text
            figures.append(response.json())
            del figures[-1]["as_of"]
        assert figures[0] == figures[1]
        assert figures[0]["total"]["received"]["appeals"] == 1

    engine = create_async_engine(fleet.database_url)
    try:
        async with AsyncSession(engine) as session:
            replica_connections = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = :name AND application_name = :application"
                ),
                {"name": fleet.database_name, "application": READ_APPLICATION_NAME},
            )
            deliveries = (await session.scalars(select(WebhookDelivery))).all()
            attempts = await session.scalar(select(func.count()).select_from(WebhookAttempt))
    finally:
        await engine.dispose()
    assert replica_connections == 1  # process 2's pool keeps it; process 1 has no replica
    assert len(deliveries) == SUBSCRIPTIONS * len(expected)
    assert {d.status for d in deliveries} == {"delivered"}
    assert attempts == len(deliveries)
    # Which worker sent what (their log lines); shown with `pytest -s`, not asserted: which
    # worker wins a lease is up to timing.
    for log in fleet.logs[2:]:
        sent = log.read_text().count(f"POST {receiver.url}/")
        print(f"{log.stem} sent {sent} of {len(deliveries)} deliveries")

    # The documents are in S3, and nothing of them on local disk: each folder holds at most
    # the development issuer's key (this is development mode) and nothing else.
    stored = fleet.store.keys(prefix=fleet.s3_prefix)
    assert stored == sorted(f"sha256/{journey.sha256(data)}" for data in uploaded.values())
    for folder in fleet.folders:
        left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        assert set(left) <= {"data/dev-issuer-key.json"}, (folder.name, left)

    # No national id in any process's log or in any webhook.
    for log in fleet.logs:
        assert NATIONAL_ID not in log.read_text(), log.name
    assert not any(NATIONAL_ID.encode() in r.body for r in receiver.received)
