"""Start `klageapi serve` (embedded defaults, fresh data folder, free loopback port), mint the
three parties' tokens with `klageapi dev-token`, and run each client scenario against it.

    python3 -m uv run python clients/serve_and_run.py NAME=COMMAND [NAME=COMMAND ...]

Each COMMAND (split like a shell line) gets the service's address and the tokens in its
environment (see `_scenario_env`) and its own citizen. Exits 1 when any scenario fails.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from _harness import Service, national_ids, running_service

NAV_ORGANISATION = "977777771"
"""NAV Stavanger (unit 1103, municipality 1103) in the demo registry."""
SF_ORGANISATION = "922222223"
"""Statsforvalteren i Rogaland, where appeals from Stavanger are routed."""
SCOPES = "klageapi:read klageapi:write"


def _dev_token(service: Service, *arguments: str) -> str:
    minted = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "klageapi", "dev-token", *arguments],
        env={**os.environ, "KLAGEAPI_DATA_DIR": str(service.data_dir)},
        capture_output=True,
        text=True,
        check=True,
    )
    return minted.stdout.strip()


def _scenario_env(service: Service, national_id: str) -> dict[str, str]:
    return {
        **os.environ,
        "KLAGEAPI_BASE_URL": service.base_url,
        "KLAGEAPI_NAV_TOKEN": _dev_token(
            service, "--org", f"0192:{NAV_ORGANISATION}", "--scope", SCOPES
        ),
        "KLAGEAPI_SF_TOKEN": _dev_token(
            service, "--org", f"0192:{SF_ORGANISATION}", "--scope", SCOPES
        ),
        "KLAGEAPI_CITIZEN_TOKEN": _dev_token(service, "--citizen", national_id),
        "KLAGEAPI_CITIZEN_NATIONAL_ID": national_id,
    }


def _parse(arguments: list[str]) -> list[tuple[str, list[str]]]:
    scenarios = []
    for argument in arguments:
        name, separator, command = argument.partition("=")
        if not separator or not name or not command.strip():
            raise SystemExit(f"expected NAME=COMMAND, got {argument!r}")
        scenarios.append((name, shlex.split(command)))
    if not scenarios:
        raise SystemExit(__doc__)
    return scenarios


def main(arguments: list[str]) -> int:
    scenarios = _parse(arguments)
    started = time.monotonic()
    results: list[tuple[str, int, float]] = []
    with running_service() as service:
        print(
            f"== klageapi serve is ready at {service.base_url} ({time.monotonic() - started:.1f} s)"
        )
        # One citizen per scenario, so each one's /v1/me/appeals holds only its own appeal.
        for (name, command), national_id in zip(
            scenarios, national_ids(len(scenarios)), strict=True
        ):
            print(f"== scenario: {name}", flush=True)
            env = _scenario_env(service, national_id)
            began = time.monotonic()
            finished = subprocess.run(command, env=env, check=False)  # noqa: S603
            results.append((name, finished.returncode, time.monotonic() - began))
    for name, code, seconds in results:
        print(f"   {name}: {'passed' if code == 0 else f'FAILED (exit {code})'} in {seconds:.1f} s")
    failed = [name for name, code, _ in results if code != 0]
    print(f"== scenarios failed: {', '.join(failed)}" if failed else "== every scenario passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
