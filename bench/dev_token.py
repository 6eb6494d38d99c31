"""How long `klageapi dev-token` takes to answer, against the floor any command of the CLI has.

Each round runs, as fresh processes one after the other: the bare interpreter (`python -c
pass`), the import of typer (which every `klageapi` command pays, with the pydantic it brings),
`klageapi version` (the CLI's own floor) and `klageapi dev-token --org ...` against a data folder
that already holds the development key, as after `klageapi serve`. It prints the median wall time
and the median CPU time (user + system, of the process) of each, and dev-token's as a ratio to
the floors. Wall times follow the machine's load; CPU times much less.

    python3 -m uv run python bench/dev_token.py [--rounds 9]

Goal: dev-token's median wall time under 0.5 s on a quiet machine; exits 1 when its median CPU
time is over 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 0.5

_COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import typer": [sys.executable, "-c", "import typer"],
    "klageapi version": [sys.executable, "-m", "klageapi", "version"],
    "klageapi dev-token": [
        sys.executable,
        "-m",
        "klageapi",
        "dev-token",
        "--org",
        "0192:977777771",
    ],
}


def _median(values: list[float]) -> float:
    # Not the statistics module: bench/statistics.py is first on this script's path.
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 (ours)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    rounds = parser.parse_args().rounds

    with tempfile.TemporaryDirectory(prefix="klageapi-bench-dev-token-") as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KLAGEAPI_")}
        env["KLAGEAPI_DATA_DIR"] = folder
        # As on a developer's machine, where modules are compiled once: this workplace sets
        # PYTHONDONTWRITEBYTECODE, under which every run compiled pydantic's and typer's
        # modules again (1.2 s of `klageapi version`). The cache is the run's own.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "pycache")
        # The key, as `klageapi serve` leaves it; and every module's bytecode, compiled once.
        for command in _COMMANDS.values():
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        assert (Path(folder) / "dev-issuer-key.json").is_file()

        walls: dict[str, list[float]] = {name: [] for name in _COMMANDS}
        cpus: dict[str, list[float]] = {name: [] for name in _COMMANDS}
        for _ in range(rounds):  # interleaved, so a change in the machine's load hits all
            for name, command in _COMMANDS.items():
                wall, cpu = _timed(command, env)
                walls[name].append(wall)
                cpus[name].append(cpu)

    load = os.getloadavg()[0]
    print(f"{rounds} rounds, load average {load:.1f} on {os.cpu_count()} cores")
    print(f"{'':22} {'wall (median)':>14} {'cpu (median)':>14}")
    wall = {name: _median(values) for name, values in walls.items()}
    cpu = {name: _median(values) for name, values in cpus.items()}
    for name in _COMMANDS:
        print(f"{name:22} {wall[name]:>12.3f} s {cpu[name]:>12.3f} s")
    measured = "klageapi dev-token"
    for floor in ("python -c pass", "import typer", "klageapi version"):
        print(
            f"dev-token / {floor}: wall {wall[measured] / wall[floor]:.2f},"
            f" cpu {cpu[measured] / cpu[floor]:.2f}"
        )
    met = cpu[measured] <= GOAL_SECONDS
    print(f"goal: dev-token's CPU time ≤ {GOAL_SECONDS} s: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
