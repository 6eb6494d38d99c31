"""Upload throughput: one large PDF streamed over HTTP into the service's filesystem store, against
`cp` of the same file on the same disk, and the service's memory meanwhile.

The service runs under uvicorn (one worker) on a fresh data folder in a temporary directory
(embedded PostgreSQL, documents under <data_dir>/documents); the test file is written to the same
directory, so upload and cp read and write one disk. Each round uploads the file with httpx,
streamed from disk in 1 MiB chunks with a Content-Length, then times `cp` of it to another path
there; from the second round on the file first gets a new first line, so that every upload
stores new bytes. Both read a file that is in the page cache (just written, or just read): the
figure is what the service adds to a copy, not the disk's read speed. The service fsyncs what it
stores and cp does not, so the fsync of cp's copy is timed and shown too, but left out of the
ratio. While uploading, the service's resident memory is sampled every 20 ms. Each round also
shows how long the answer took after the last byte was sent (the service's fsync and commit),
and the run the CPU milliseconds per MiB of the service, this process and cp, which hardly
depend on the noise on the machine.

Goals: upload throughput >= 0.5 x cp; peak RSS growth of the service during an upload <= 64 MiB.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from _bulk import (
    MIB,
    BulkService,
    ServiceLoad,
    exit_on_sigterm,
    make_new,
    mib_per_s,
    parse_size,
    registration,
    require_free_space,
    running_service_in,
    write_pdf,
)

RATIO_GOAL = 0.5
RSS_GOAL_MIB = 64.0
_CHUNK_BYTES = MIB
_TIMEOUT = httpx.Timeout(300.0)


class _Body:
    """The file in 1 MiB chunks; notes when the last one has been handed to the socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sent_at = 0.0

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as file:
            while chunk := file.read(_CHUNK_BYTES):
                yield chunk
        self.sent_at = time.perf_counter()


@dataclass
class _Times:
    """Wall and CPU seconds of one step; the CPU of the client (this process) or of cp. For an
    upload, `tail_seconds` is the wait for the answer after the last byte was sent: the
    service's last write, fsync, rename and database commit."""

    seconds: float
    cpu_seconds: float
    tail_seconds: float = 0.0


def _upload(
    client: httpx.Client, service: BulkService, appeal_id: str, source: Path, sha256: str
) -> tuple[_Times, ServiceLoad]:
    """Upload `source` once; its times and the service's load, after checking the answer."""
    size = source.stat().st_size
    headers = {"Content-Type": "application/pdf", "Content-Length": str(size)}
    params = {"category": "appeal", "title": "Klage (bench)", "file_name": source.name}
    body = _Body(source)
    with ServiceLoad(service.pid) as load:
        started, cpu = time.perf_counter(), time.process_time()
        response = client.post(
            f"/v1/appeals/{appeal_id}/documents", params=params, headers=headers, content=body
        )
        answered = time.perf_counter()
        times = _Times(answered - started, time.process_time() - cpu, answered - body.sent_at)
    if response.status_code != 201:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:500]}")
    document = response.json()
    if document["sha256"] != sha256 or document["size"] != size:
        raise RuntimeError(
            f"stored sha256 {document['sha256']} size {document['size']}, "
            f"but the file has sha256 {sha256} size {size}"
        )
    return times, load


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _copy(source: Path, target: Path) -> tuple[_Times, float]:
    """`cp source target`: its times, and the seconds of an fsync of the copy afterwards."""
    cp = shutil.which("cp")
    if cp is None:
        raise RuntimeError("no cp on PATH")
    started, cpu = time.perf_counter(), _children_cpu_seconds()
    subprocess.run([cp, str(source), str(target)], check=True)  # noqa: S603
    times = _Times(time.perf_counter() - started, _children_cpu_seconds() - cpu)
    synced = time.perf_counter()
    descriptor = os.open(target, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return times, time.perf_counter() - synced


def _run(folder: Path, *, size: int, rounds: int) -> bool:
    files = folder / "files"
    files.mkdir()
    source = files / "upload.pdf"
    copy = files / "copy.pdf"
    with (
        running_service_in(folder / "service", max_document_bytes=size) as service,
        httpx.Client(
            base_url=service.base_url, headers=service.headers(), timeout=_TIMEOUT
        ) as client,
    ):
        print(f"  service pid {service.pid}, folder {folder}", flush=True)
        registered = client.post("/v1/appeals", json=registration())
        registered.raise_for_status()
        appeal_id = registered.json()["id"]

        started = time.perf_counter()
        sha256 = write_pdf(source, size, label="upload")
        os.sync()
        print(
            f"  wrote {size / MIB:.0f} MiB test file in {time.perf_counter() - started:.1f} s",
            flush=True,
        )

        upload_seconds = cp_seconds = fsync_seconds = 0.0
        cpu = {"service": 0.0, "client": 0.0, "cp": 0.0}
        growth = 0
        for index in range(1, rounds + 1):
            if index > 1:
                # New bytes, as a new document would be: the store keeps the same bytes once
                # and skips their fsync, which would flatter the service.
                sha256 = make_new(source)
            os.sync()  # no writeback left over from the previous step
            sent, load = _upload(client, service, appeal_id, source, sha256)
            upload_seconds += sent.seconds
            cpu["service"] += load.cpu_seconds
            cpu["client"] += sent.cpu_seconds
            growth = max(growth, load.rss_growth)
            os.sync()
            copied, synced = _copy(source, copy)
            copy.unlink()
            cp_seconds += copied.seconds
            cpu["cp"] += copied.cpu_seconds
            fsync_seconds += synced
            print(
                f"  round {index}: upload {mib_per_s(size, sent.seconds):.1f} MiB/s "
                f"({sent.seconds:.1f} s, {sent.tail_seconds:.1f} s of it after the last byte; "
                f"RSS {load.rss_before / MIB:.0f} MiB "
                f"+{load.rss_growth / MIB:.1f} MiB in {load.samples} samples), "
                f"cp {mib_per_s(size, copied.seconds):.1f} MiB/s "
                f"({copied.seconds:.1f} s, then fsync {synced:.1f} s); "
                f"ratio {copied.seconds / sent.seconds:.2f}",
                flush=True,
            )

    mib = size * rounds / MIB
    print("  CPU ms per MiB: " + ", ".join(f"{k} {v * 1000 / mib:.2f}" for k, v in cpu.items()))
    upload_rate = mib_per_s(size * rounds, upload_seconds)
    cp_rate = mib_per_s(size * rounds, cp_seconds)
    cp_fsync_rate = mib_per_s(size * rounds, cp_seconds + fsync_seconds)
    ratio = upload_rate / cp_rate
    growth_mib = growth / MIB
    ratio_met = ratio >= RATIO_GOAL
    rss_met = growth_mib <= RSS_GOAL_MIB
    print(
        f"  cp then fsync of the copy: {cp_fsync_rate:.1f} MiB/s, "
        f"ratio {upload_rate / cp_fsync_rate:.2f}"
    )
    print(
        f"upload: service {upload_rate:.1f} MiB/s, cp {cp_rate:.1f} MiB/s, ratio {ratio:.2f} "
        f"(goal >= {RATIO_GOAL}: {'met' if ratio_met else 'MISSED'}); "
        f"peak RSS growth {growth_mib:.1f} MiB "
        f"(goal <= {RSS_GOAL_MIB:.0f}: {'met' if rss_met else 'MISSED'})"
    )
    return ratio_met and rss_met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=parse_size, default=2 * 1024 * MIB, help="file size (default 2GiB)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="upload-then-cp rounds (default 2)")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where the temporary folder goes (default the system's temporary directory)",
    )
    args = parser.parse_args()
    if args.size < 8 or args.rounds < 1:
        parser.error("need --size >= 8 bytes and --rounds >= 1")
    if args.size > 5 * 1024 * MIB:
        parser.error("the service accepts documents up to 5 GiB")
    exit_on_sigterm()
    print(f"upload: {args.size / MIB:.0f} MiB file, {args.rounds} rounds")
    # The file, a stored copy per round and cp's copy.
    require_free_space(args.dir, max(3, args.rounds + 2) * args.size)
    folder = Path(tempfile.mkdtemp(prefix="klageapi-bench-upload-", dir=args.dir))
    try:
        met = _run(folder, size=args.size, rounds=args.rounds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
