"""What upload.py and bundle.py share: the service on a data folder of their own, large files
made quickly, a free-space check, and the service's memory and CPU while it moves bytes.

Unlike `_harness.running_service`, the caller chooses the data folder, so the test files, the
stored documents and the baseline copies are all on one disk, and tokens of any organisation can
be minted from that folder's development issuer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from _harness import free_port, postmaster_pid, stop_process, wait_ready

from klageapi.core.dev_issuer import DevIssuer

__all__ = [
    "MIB",
    "NAV_ORGANISATION",
    "STATSFORVALTER_ORGANISATION",
    "BulkService",
    "ServiceLoad",
    "evict",
    "exit_on_sigterm",
    "make_new",
    "mib_per_s",
    "oslo_today",
    "parse_size",
    "read_all",
    "registration",
    "require_free_space",
    "running_service_in",
    "write_pdf",
]

MIB = 1024 * 1024
NAV_ORGANISATION = "0192:977777771"
"""NAV Stavanger in the demo registry."""
STATSFORVALTER_ORGANISATION = "0192:922222223"
"""Statsforvalteren i Rogaland (sf-rogaland), where NAV Stavanger's appeals go."""
NATIONAL_ID = "15076500565"
"""Made up, with valid check digits (as in tests/factories.py)."""

_SCOPES = "klageapi:read klageapi:write"
_WRITE_BLOCK_BYTES = 4 * MIB
_ID_OFFSET = len(b"%PDF-1.7\n%")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB, "T": 1024 * 1024 * MIB}


def parse_size(text: str) -> int:
    """Bytes from `2GiB`, `512M`, `1.5G` or a plain number (binary units)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def mib_per_s(size: int, seconds: float) -> float:
    return size / MIB / seconds


def require_free_space(folder: Path, needed: int) -> None:
    """Stop (exit status 2) when the disk holding `folder` has less than `needed` bytes free."""
    free = shutil.disk_usage(folder).free
    print(f"  df {folder}: {free / MIB / 1024:.1f} GiB free, {needed / MIB / 1024:.1f} GiB needed")
    if free < needed:
        raise SystemExit(2)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that `finally` blocks stop the service and remove the
    temporary files."""

    def leave(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)


def write_pdf(path: Path, size: int, *, label: str) -> str:
    """Write `size` bytes starting with `%PDF-` (the rest random, unique to `label`); returns
    their sha256 in hex."""
    header = f"%PDF-1.7\n%{uuid.uuid4().hex} klageapi bench {label}\n".encode()
    block = os.urandom(_WRITE_BLOCK_BYTES)
    digest = hashlib.sha256()
    with path.open("wb") as file:
        first = (header + block)[: min(size, _WRITE_BLOCK_BYTES)]
        written = len(first)
        digest.update(first)
        file.write(first)
        while written < size:
            piece = block[: min(_WRITE_BLOCK_BYTES, size - written)]
            digest.update(piece)
            file.write(piece)
            written += len(piece)
    return digest.hexdigest()


def make_new(path: Path) -> str:
    """Give a file from `write_pdf` other content (a new id in its first line), so that the store
    keeps it as a new blob; returns its sha256 in hex."""
    with path.open("r+b") as file:
        file.seek(_ID_OFFSET)
        file.write(uuid.uuid4().hex.encode()[: max(0, path.stat().st_size - _ID_OFFSET)])
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_WRITE_BLOCK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def evict(paths: Iterable[Path]) -> None:
    """Drop the files' pages from the page cache, so that the next read comes from the disk.
    Only clean pages go: call os.sync() after writing them."""
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def read_all(paths: list[Path], *, chunk_bytes: int = MIB) -> int:
    """Read the files through in `chunk_bytes` pieces, as a server sending them would; returns
    the bytes read."""
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    total = 0
    for path in paths:
        with path.open("rb", buffering=0) as file:
            while count := file.readinto(view):
                total += count
    return total


def oslo_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Oslo")).date()


def registration() -> dict[str, Any]:
    """A valid POST /v1/appeals body for NAV Stavanger, dated relative to today."""
    today = oslo_today()
    notified = today - dt.timedelta(days=20)
    return {
        "nav_office_unit_number": "1103",
        "municipality_number": "1103",
        "national_id": NATIONAL_ID,
        "decision": {
            "reference": "VEDTAK-BENCH",
            "decided_on": (notified - dt.timedelta(days=1)).isoformat(),
            "notified_on": notified.isoformat(),
        },
        "received_on": (today - dt.timedelta(days=3)).isoformat(),
        "channel": "digital",
        "grounds": "Jeg mener vedtaket er feil.",
        "external_reference": f"BENCH-{uuid.uuid4().hex[:12]}",
    }


@dataclass(frozen=True)
class BulkService:
    """A running service: its URL, process id (uvicorn serves in that process) and folder."""

    base_url: str
    pid: int
    data_dir: Path

    def headers(self, organisation: str = NAV_ORGANISATION) -> dict[str, str]:
        """Authorization for `organisation` (0192:<orgnr>), read and write."""
        token = DevIssuer(self.data_dir).organisation_token(organisation, _SCOPES)
        return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def running_service_in(data_dir: Path, *, max_document_bytes: int) -> Iterator[BulkService]:
    """The service under uvicorn on a free loopback port with `data_dir` as its data folder
    (embedded PostgreSQL, documents on disk under `data_dir/documents`); stopped on exit, along
    with its PostgreSQL should that outlive it. The folder itself is the caller's to remove."""
    env = {
        **os.environ,
        "KLAGEAPI_ENVIRONMENT": "development",
        "KLAGEAPI_DATA_DIR": str(data_dir),
        "KLAGEAPI_DOCUMENT_STORAGE": "filesystem",
        "KLAGEAPI_DOCUMENT_MAX_BYTES": str(max_document_bytes),
        "KLAGEAPI_LOG_LEVEL": "WARNING",
    }
    env.pop("KLAGEAPI_DATABASE_URL", None)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    process: subprocess.Popen[bytes] | None = None
    postmaster: int | None = None
    try:
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "klageapi", "serve", "--port", str(port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_ready(process, base_url, log)
        postmaster = postmaster_pid(data_dir / "postgres")
        yield BulkService(base_url=base_url, pid=process.pid, data_dir=data_dir)
    finally:
        if process is not None:
            stop_process(process)
        if postmaster is not None:
            _stop_postmaster(postmaster)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_postmaster(pid: int) -> None:
    """The service stops its embedded PostgreSQL on the way out; if it was killed instead, ask
    PostgreSQL for a fast shutdown (SIGINT), then an immediate one (SIGQUIT)."""
    for signum in (signal.SIGINT, signal.SIGQUIT):
        deadline = time.monotonic() + 15.0
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _alive(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _vm_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class ServiceLoad:
    """The service's resident memory, sampled every `interval` seconds in a thread, and its CPU
    seconds, between entering and leaving. `rss_growth` is the peak minus the value on entering.
    Linux only (/proc)."""

    pid: int
    interval: float = 0.02
    rss_before: int = 0
    rss_peak: int = 0
    cpu_seconds: float = 0.0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _cpu_before: float = 0.0

    @property
    def rss_growth(self) -> int:
        return self.rss_peak - self.rss_before

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(OSError):
                self.rss_peak = max(self.rss_peak, _vm_rss_bytes(self.pid))
                self.samples += 1

    def __enter__(self) -> ServiceLoad:
        self.rss_before = self.rss_peak = _vm_rss_bytes(self.pid)
        self._cpu_before = _cpu_seconds(self.pid)
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(OSError):
            self.rss_peak = max(self.rss_peak, _vm_rss_bytes(self.pid))
            self.cpu_seconds = _cpu_seconds(self.pid) - self._cpu_before
