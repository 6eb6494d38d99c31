"""compose.yaml documents a production-like set-up; no container engine runs here, so this
checks that it parses and that every klageapi command in it is one the CLI has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.main import get_command

from klageapi.cli import app
from klageapi.core.config import Settings

COMPOSE = Path(__file__).resolve().parent.parent / "compose.yaml"


def _services() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, Any] = document["services"]
    return services


def test_the_services_are_database_store_migrations_api_and_worker() -> None:
    assert set(_services()) == {"postgres", "seaweedfs", "migrate", "api", "worker"}


def test_every_klageapi_command_and_option_exists_in_the_cli() -> None:
    commands = get_command(app).commands  # type: ignore[attr-defined]
    for name, service in _services().items():
        command = service.get("command", [])
        if not command or command[0] != "klageapi":
            continue
        sub = commands.get(command[1])
        assert sub is not None, f"{name}: no command {command[1]!r}"
        options = {option for param in sub.params for option in getattr(param, "opts", [])}
        for word in command[2:]:
            if word.startswith("--"):
                assert word in options, f"{name}: {command[1]} has no option {word}"


def test_the_api_and_worker_share_one_database_and_one_store_and_wait_for_migrations() -> None:
    services = _services()
    api, worker = services["api"], services["worker"]
    assert api["environment"] == worker["environment"]
    assert api["environment"]["KLAGEAPI_DOCUMENT_STORAGE"] == "s3"
    assert api["environment"]["KLAGEAPI_RUN_WORKER"] == "false"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "postgres:5432" in api["environment"]["KLAGEAPI_DATABASE_URL"]


def test_postgres_has_room_for_every_pool_at_its_largest() -> None:
    services = _services()
    command = services["postgres"]["command"]
    max_connections = int(command[command.index("-c") + 1].removeprefix("max_connections="))
    api = services["api"]["command"]
    processes = int(api[api.index("--workers") + 1]) + 1  # the API's workers and the worker
    fields = Settings.model_fields
    per_process = fields["db_pool_size"].default + fields["db_max_overflow"].default

    assert processes * per_process < max_connections
