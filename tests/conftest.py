"""The test harness: one real PostgreSQL per run, built by the real migrations; each test in a
transaction that is rolled back; the app driven over ASGI with tokens from a test issuer."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from klageapi.api.app import create_app
from klageapi.core.clock import FixedClock
from klageapi.core.config import IssuerSettings, Settings
from klageapi.core.db import (
    Transactions,
    create_engine,
    get_read_session,
    get_session,
    get_transactions,
)
from klageapi.core.embedded_postgres import EmbeddedPostgres
from klageapi.core.logging import configure_logging
from klageapi.core.migrations import upgrade_to_head
from klageapi.registry.service import load_shipped_data

TEST_ISSUER = "https://issuer.test.klageapi"
TEST_AUDIENCE = "klageapi"
NOW = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)  # a Monday

# The demonstration registry (registry/data/demo.json) that the test database is seeded with.
NAV_STAVANGER_ORG = "977777771"
NAV_OSLO_ORG = "988888885"
SF_ROGALAND_ORG = "922222223"
OTHER_ORG = "999999999"

# Every line the app logs during the run is scanned for personal data at the end, every problem
# code it answers is looked up in the contract (each worker's findings joined by the controller);
# one simulated year serves the tests that read one.
pytest_plugins = [
    "tests._workers",
    "tests._leakscan",
    "tests._problem_codes",
    "tests.simulated_year",
]


@pytest.fixture(scope="session", autouse=True)
def _json_logs() -> None:
    # As in production: JSON lines, plain tracebacks without local variables.
    configure_logging(level="INFO", json=True)


@pytest.fixture(scope="session", autouse=True)
def _bytecode_for_child_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The Python processes the tests start (`klageapi serve`, `worker` and `migrate`, some 30
    a run) share one bytecode cache, in the run's temporary folder. Where PYTHONDONTWRITEBYTECODE
    is set each of them compiled every module it imports: importing the app took 5.2 s instead
    of 2.1 s, on a machine of two cores."""
    with pytest.MonkeyPatch.context() as environment:
        environment.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
        environment.setenv("PYTHONPYCACHEPREFIX", str(tmp_path_factory.mktemp("pycache")))
        yield


@pytest.fixture(scope="session")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, auto_kid=True)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("klageapi-data")


@pytest.fixture(scope="session")
def settings(signing_key: RSAKey, data_dir: Path) -> Settings:
    jwks = KeySet([signing_key]).as_dict(private=False)
    return Settings(
        environment="development",
        data_dir=data_dir,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        issuers=[IssuerSettings(issuer=TEST_ISSUER, audience=TEST_AUDIENCE, jwks=dict(jwks))],
        log_json=True,
        # Webhook receivers of the tests listen on loopback; retries come quickly.
        webhook_allowed_networks=["127.0.0.0/8"],
        webhook_timeout_seconds=2,
        webhook_retry_schedule_seconds=[0.3, 0.3, 0.3],
        worker_poll_seconds=0.2,
        # The run's one app serves every test as the same few organisations, at the suite's
        # own pace: the per-organisation limits are off here, and tests/core/test_limits.py
        # sets them.
        organisation_max_concurrent_requests=0,
        organisation_requests_per_second=0,
    )


def loopback_listener() -> socket.socket:
    """A listening TCP socket on a free loopback port, for a uvicorn server of the tests. Made
    with proto IPPROTO_TCP, not by socket.create_server (proto 0): asyncio turns Nagle's
    algorithm off only on connections of a socket that says it is TCP, and with it on every
    answer's body waited for the client's delayed ACK, 40 ms an answer (the fuzzer's 3,500
    requests spent most of their minute there)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@asynccontextmanager
async def serving_on_loopback(app: FastAPI) -> AsyncIterator[str]:
    """`app` served by uvicorn on a free loopback port for as long as the block runs: its base
    URL, for a browser or another process."""
    sock = loopback_listener()
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server for the run: KLAGEAPI_TEST_DATABASE_URL's, or an embedded one.

    The embedded one's folder is not under pytest's temporary root: run as root, the server runs
    as another user, and every pytest that starts on the machine takes that user's access to the
    root away again (it makes it 0700), so the server of a run still going could no longer open
    its files (initdb failed, or a run's requests got 503)."""
    given = os.environ.get("KLAGEAPI_TEST_DATABASE_URL")
    if given:
        yield given
        return
    folder = Path(tempfile.mkdtemp(prefix="klageapi-tests-"))
    embedded = EmbeddedPostgres(folder, database="postgres")
    try:
        yield embedded.start()
    finally:
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def drop_database(server_url: str, *names: str) -> None:
    """Drop scratch databases of the test server, whoever is still connected."""
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        for name in names:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def create_database(server_url: str, name: str, *, template: str | None = None) -> str:
    """A fresh database on the test server, empty or a copy of `template`; returns its URL."""
    copy_of = f' TEMPLATE "{template}"' if template else ""
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await connection.execute(text(f'CREATE DATABASE "{name}"{copy_of}'))
    await admin.dispose()
    return _with_database(server_url, name)


@dataclass(frozen=True)
class DatabaseTemplate:
    """A database built once per run and never connected to afterwards, so that PostgreSQL can
    copy it: CREATE DATABASE ... TEMPLATE takes some 30 ms here where running the migrations
    and seeding the registry took some 450 ms (the default WAL_LOG strategy; FILE_COPY, with
    its two checkpoints, took some 100 ms)."""

    server_url: str
    name: str

    async def create_copy(self, name: str) -> str:
        """A new database `name` with the template's tables and rows; returns its URL."""
        return await create_database(self.server_url, name, template=self.name)

    @asynccontextmanager
    async def copy(self, settings: Settings, *, prefix: str) -> AsyncIterator[AsyncEngine]:
        """A database of its own, copied from the template; dropped afterwards."""
        name = f"klageapi_{prefix}_{uuid.uuid4().hex[:12]}"
        engine = create_engine(await self.create_copy(name), settings)
        try:
            yield engine
        finally:
            await engine.dispose()
            await drop_database(self.server_url, name)


@pytest.fixture(scope="session")
async def migrated_template(postgres_server_url: str) -> AsyncIterator[DatabaseTemplate]:
    """The schema at head, built by the real migrations (once per run), with no rows: for
    what happens on a freshly migrated database before the registry is loaded."""
    name = f"klageapi_migrated_{os.getpid()}"
    engine = create_async_engine(await create_database(postgres_server_url, name))
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()  # a template may have no connections while it is copied
    yield DatabaseTemplate(postgres_server_url, name)
    await drop_database(postgres_server_url, name)


@pytest.fixture(scope="session")
async def database_template(migrated_template: DatabaseTemplate) -> AsyncIterator[DatabaseTemplate]:
    """The migrated schema seeded with the demonstration registry: what every test database
    starts from."""
    server_url = migrated_template.server_url
    name = f"klageapi_template_{os.getpid()}"
    engine = create_async_engine(await migrated_template.create_copy(name))
    try:
        async with AsyncSession(engine) as session, session.begin():
            await load_shipped_data(session, demo=True)
    finally:
        await engine.dispose()
    yield DatabaseTemplate(server_url, name)
    await drop_database(server_url, name)


@pytest.fixture(scope="session")
async def database_url(database_template: DatabaseTemplate) -> str:
    return await database_template.create_copy(f"klageapi_test_{os.getpid()}")


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The test database: migrated to head by the real migrations and seeded with the registry
    (a copy of the run's template, which they built)."""
    engine = create_async_engine(database_url, hide_parameters=True)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        if transaction.is_active:
            await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session joined to the test's transaction: its commits are savepoints."""
    session = AsyncSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield session
    await session.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture(scope="session")
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """The apps' outgoing HTTP client, one for the run as one per process in production (a new
    one per test spent some 150 ms on its TLS context)."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


def on_the_test_transaction(app: FastAPI, session: AsyncSession) -> None:
    async def test_session() -> AsyncIterator[AsyncSession]:
        # Like the real dependency: one (nested) transaction per request, rolled back on error.
        async with session.begin_nested():
            yield session

    app.dependency_overrides[get_session] = test_session
    # Reads meant for a replica see the test's transaction too.
    app.dependency_overrides[get_read_session] = test_session
    # Short transactions of their own are savepoints of the test's transaction.
    app.dependency_overrides[get_transactions] = lambda: _NestedTransactions(session)


class _NestedTransactions(Transactions):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        async with self._session.begin_nested():
            yield self._session


@pytest.fixture(scope="session")
def shared_app(settings: Settings, engine: AsyncEngine, http_client: httpx.AsyncClient) -> FastAPI:
    """The app of the rollback harness, built once for the run. A new app builds its routes'
    dependency trees again on its first requests (FastAPI includes routers lazily): some 40 ms
    of every test, a sixth of the test process's CPU in a whole run."""
    return create_app(settings, engine=engine, http_client=http_client)


@pytest.fixture
def app(shared_app: FastAPI, session: AsyncSession, clock: FixedClock) -> Iterator[FastAPI]:
    """The run's app on the test's transaction and clock. What a test changes of its state (a
    blob store on S3, say) is put back afterwards; a test that changes the app itself (adds a
    route) or reads its metrics from zero takes `new_app`."""
    state = dict(shared_app.state._state)  # starlette's State keeps its attributes there
    shared_app.state.clock = clock
    on_the_test_transaction(shared_app, session)
    yield shared_app
    shared_app.dependency_overrides.clear()
    shared_app.state._state.clear()
    shared_app.state._state.update(state)


@pytest.fixture
def new_app(
    settings: Settings,
    engine: AsyncEngine,
    session: AsyncSession,
    clock: FixedClock,
    http_client: httpx.AsyncClient,
) -> FastAPI:
    """An app of the test's own, on the test's transaction and clock."""
    app = create_app(settings, engine=engine, clock=clock, http_client=http_client)
    on_the_test_transaction(app, session)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client:
        yield client


TokenFactory = Callable[..., str]


@pytest.fixture
def make_token(signing_key: RSAKey) -> TokenFactory:
    """Signs a token from the test issuer; keyword arguments override or add claims."""

    def make(
        org: str | None = NAV_STAVANGER_ORG,
        scope: str = "klageapi:read klageapi:write",
        **claims: Any,
    ) -> str:
        # Real time, not the fixed clock: token expiry is checked against the real clock.
        now = int(dt.datetime.now(dt.UTC).timestamp())
        body: dict[str, Any] = {
            "iss": TEST_ISSUER,
            "aud": TEST_AUDIENCE,
            "iat": now,
            "exp": now + 600,
            "jti": str(uuid.uuid4()),
            "scope": scope,
        }
        if org is not None:
            body["consumer"] = {"authority": "iso6523-actorid-upis", "ID": f"0192:{org}"}
        body.update(claims)
        body = {key: value for key, value in body.items() if value is not None}
        return jwt.encode({"alg": "RS256", "kid": signing_key.kid}, body, signing_key)

    return make


@pytest.fixture
def auth(make_token: TokenFactory) -> Callable[..., dict[str, str]]:
    """Authorization headers: `auth()` for NAV Stavanger, `auth(org=..., scope=...)` otherwise."""

    def headers(**kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(**kwargs)}"}

    return headers


@dataclass
class CommittedApp:
    """The app on a database of its own where every request commits, as in production."""

    app: FastAPI
    engine: AsyncEngine
    client: httpx.AsyncClient


@asynccontextmanager
async def committed_app(
    database_template: DatabaseTemplate,
    settings: Settings,
    http_client: httpx.AsyncClient,
    *,
    prefix: str,
) -> AsyncIterator[CommittedApp]:
    """The app at the fixed clock on a migrated and seeded scratch database of its own, with
    the real session dependency (no rollback harness); the database is dropped afterwards."""
    async with database_template.copy(settings, prefix=prefix) as engine:
        app = create_app(settings, engine=engine, clock=FixedClock(NOW), http_client=http_client)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://klageapi.test"
        ) as client:
            yield CommittedApp(app=app, engine=engine, client=client)


@pytest.fixture
async def race_track(
    database_template: DatabaseTemplate, settings: Settings, http_client: httpx.AsyncClient
) -> AsyncIterator[CommittedApp]:
    """For tests of concurrency and commits: a committed app of the test's own."""
    async with committed_app(database_template, settings, http_client, prefix="race") as track:
        yield track
