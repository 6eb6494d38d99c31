"""Bundle throughput: a package's ZIP downloaded over HTTP, against reading and hashing its files.

A forwarded package's ZIP (20 PDFs, 1 GiB in all, with manifest.json, arkivmelding.xml and
sbd.json) is streamed over HTTP to the Statsforvalter, against reading and sha256-hashing the
same 20 files in one thread, and the service's memory is watched meanwhile.

The service runs under uvicorn (one worker) on a fresh data folder in a temporary directory
(embedded PostgreSQL, documents under <data_dir>/documents); the test files are written to the
same directory. NAV Stavanger registers an appeal, records its outcome (upheld), uploads the
documents (appeal, decision, forwarding_letter, the rest supporting_document) and forwards it;
Statsforvalteren i Rogaland then downloads GET /v1/packages/{id}/bundle with httpx, counting
the bytes and keeping none. Two baselines read the 20 source files in 1 MiB pieces in this
process: one only reads them, the other also hashes them with sha256 in the same thread, which
is what the service must do with every byte it sends (it checks each document's sha256 on the
way out), so a bundle cannot go faster than that on one core. By default every side reads files
in the page cache (just written); with `--cold` the source files and the stored documents are
dropped from the page cache (posix_fadvise) before each side reads them, and all read from the
disk. While downloading, the service's resident memory is sampled every 20 ms. `--verify`
downloads once more to a file and checks it with zipfile.

Goals: bundle download >= 0.8 x reading and hashing the files; peak RSS growth of the service
during a download <= 64 MiB. The ratio to reading alone is printed too (the goal was 0.5 of it
before the sha256 check was accepted as the limit).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from _bulk import (
    MIB,
    STATSFORVALTER_ORGANISATION,
    BulkService,
    ServiceLoad,
    evict,
    exit_on_sigterm,
    mib_per_s,
    oslo_today,
    parse_size,
    read_all,
    registration,
    require_free_space,
    running_service_in,
    write_pdf,
)

RATIO_GOAL = 0.8  # of reading and hashing
RSS_GOAL_MIB = 64.0
_REQUIRED = ("appeal", "decision", "forwarding_letter", "application")
_LEADING = ("manifest.json", "arkivmelding.xml", "sbd.json")
_TIMEOUT = httpx.Timeout(300.0)


@dataclass(frozen=True)
class _Source:
    path: Path
    category: str
    size: int
    sha256: str


def _check(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response


def _write_sources(folder: Path, *, total: int, count: int) -> list[_Source]:
    categories = [*_REQUIRED, *["supporting_document"] * (count - len(_REQUIRED))]
    sources = []
    for index, category in enumerate(categories):
        size = total // count + (1 if index < total % count else 0)
        path = folder / f"{index + 1:03d}-{category}.pdf"
        sha256 = write_pdf(path, size, label=f"bundle {index + 1}")
        sources.append(_Source(path=path, category=category, size=size, sha256=sha256))
    return sources


def _read_and_hash(paths: list[Path], *, chunk_bytes: int = MIB) -> int:
    """Read the files through in `chunk_bytes` pieces and sha256 each, in this one thread; the
    bytes read."""
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    total = 0
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb", buffering=0) as file:
            while count := file.readinto(view):
                digest.update(view[:count])
                total += count
        digest.hexdigest()
    return total


def _forwarded_package(client: httpx.Client, sources: list[_Source]) -> str:
    """Register an appeal, record NAV's outcome, upload `sources` and forward; the package id."""
    appeal_id = _check(client.post("/v1/appeals", json=registration()), 201).json()["id"]
    _check(client.post(f"/v1/appeals/{appeal_id}/nav-review"), 200)
    current = _check(client.get(f"/v1/appeals/{appeal_id}"), 200).headers["ETag"]
    outcome = {"outcome": "upheld", "decided_on": oslo_today().isoformat(), "reasoning": "bench"}
    _check(
        client.post(
            f"/v1/appeals/{appeal_id}/nav-outcome", json=outcome, headers={"If-Match": current}
        ),
        200,
    )
    started = time.perf_counter()
    for source in sources:
        with source.path.open("rb") as file:
            stored = _check(
                client.post(
                    f"/v1/appeals/{appeal_id}/documents",
                    params={"category": source.category, "title": source.path.stem},
                    headers={"Content-Type": "application/pdf"},
                    content=file,
                ),
                201,
            ).json()
        if stored["sha256"] != source.sha256:
            raise RuntimeError(f"{source.path.name} stored with another sha256")
    seconds = time.perf_counter() - started
    total = sum(source.size for source in sources)
    print(
        f"  uploaded {len(sources)} documents, {total / MIB:.0f} MiB, in {seconds:.1f} s "
        f"({mib_per_s(total, seconds):.1f} MiB/s)",
        flush=True,
    )
    package = _check(client.post(f"/v1/appeals/{appeal_id}/packages", json={}), 201).json()
    return str(package["id"])


def _download(
    service: BulkService, package_id: str, target: Path | None = None
) -> tuple[int, float, float, ServiceLoad]:
    """GET the bundle, to `target` or nowhere: (bytes, seconds, client CPU seconds, load).

    With the standard library's http.client, reading into one reusable buffer: the client
    spends a fifth of the CPU per MiB that httpx's iteration does, which on a small machine
    would otherwise be taken from the service being measured."""
    url = urlsplit(service.base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=300)
    buffer = memoryview(bytearray(MIB))
    received = 0
    try:
        with ServiceLoad(service.pid) as load:
            started, cpu = time.perf_counter(), time.process_time()
            connection.request(
                "GET",
                f"/v1/packages/{package_id}/bundle",
                headers=service.headers(STATSFORVALTER_ORGANISATION),
            )
            answer = connection.getresponse()
            if answer.status != 200:
                raise RuntimeError(f"the bundle answered {answer.status}: {answer.read()[:500]!r}")
            with contextlib.ExitStack() as stack:
                file = None if target is None else stack.enter_context(target.open("wb"))
                while count := answer.readinto(buffer):
                    received += count
                    if file is not None:
                        file.write(buffer[:count])
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        connection.close()
    return received, seconds, cpu, load


def _verify(path: Path, sources: list[_Source]) -> None:
    """The ZIP lists the manifest, the archive files and every document in order, with the right
    sizes, CRCs and sha256s, and the arkivmelding names exactly the documents."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        leading = [member.filename for member in members[: len(_LEADING)]]
        if len(members) != len(sources) + len(_LEADING) or leading != list(_LEADING):
            raise RuntimeError(f"unexpected members: {[m.filename for m in members][:5]} ...")
        manifest = json.loads(archive.read("manifest.json"))
        listed = [document["sha256"] for document in manifest["documents"]]
        if listed != [source.sha256 for source in sources]:
            raise RuntimeError("the manifest lists other documents")
        documents = members[len(_LEADING) :]
        referenced = re.findall(
            r"<referanseDokumentfil>([^<]+)</referanseDokumentfil>",
            archive.read("arkivmelding.xml").decode(),
        )
        if sorted(referenced) != sorted(member.filename for member in documents):
            raise RuntimeError("the arkivmelding names other files than the ZIP's documents")
        for member, source in zip(documents, sources, strict=True):
            if member.compress_type != zipfile.ZIP_STORED or member.file_size != source.size:
                raise RuntimeError(f"{member.filename}: not stored, or {member.file_size} bytes")
            digest = hashlib.sha256()
            with archive.open(member) as data:  # zipfile checks the CRC-32 at the end
                while chunk := data.read(MIB):
                    digest.update(chunk)
            if digest.hexdigest() != source.sha256:
                raise RuntimeError(f"{member.filename}: sha256 differs from its source")
    print(
        f"  verified: {len(sources) + len(_LEADING)} members ({', '.join(_LEADING)} first), "
        "stored, CRC-32, sizes and sha256 as uploaded, every document named in the arkivmelding"
    )


def _run(folder: Path, *, total: int, count: int, rounds: int, verify: bool, cold: bool) -> bool:
    files = folder / "files"
    files.mkdir()
    largest = total // count + 1
    with (
        running_service_in(folder / "service", max_document_bytes=largest) as service,
        httpx.Client(
            base_url=service.base_url, headers=service.headers(), timeout=_TIMEOUT
        ) as client,
    ):
        print(f"  service pid {service.pid}, folder {folder}", flush=True)
        started = time.perf_counter()
        sources = _write_sources(files, total=total, count=count)
        os.sync()
        print(f"  wrote {count} test files in {time.perf_counter() - started:.1f} s", flush=True)
        package_id = _forwarded_package(client, sources)
        paths = [source.path for source in sources]
        stored = [path for path in (service.data_dir / "documents").rglob("*") if path.is_file()]
        if len(stored) != count:
            raise RuntimeError(f"{len(stored)} files in the store, expected {count}")

        read_seconds = hash_seconds = bundle_seconds = 0.0
        cpu = {"service": 0.0, "client": 0.0, "read": 0.0, "read+sha256": 0.0}
        growth = 0
        size = 0
        for index in range(1, rounds + 1):
            if cold:
                evict(paths)
            started, read_cpu = time.perf_counter(), time.process_time()
            read = read_all(paths)
            seconds = time.perf_counter() - started
            cpu["read"] += time.process_time() - read_cpu
            read_seconds += seconds
            if cold:
                evict(paths)
            started, hash_cpu = time.perf_counter(), time.process_time()
            hashed = _read_and_hash(paths)
            hashing = time.perf_counter() - started
            cpu["read+sha256"] += time.process_time() - hash_cpu
            hash_seconds += hashing
            if cold:
                evict(stored)
            size, sent, client_cpu, load = _download(service, package_id)
            if size <= total:
                raise RuntimeError(f"the bundle has {size} bytes, the documents {total}")
            bundle_seconds += sent
            cpu["service"] += load.cpu_seconds
            cpu["client"] += client_cpu
            growth = max(growth, load.rss_growth)
            print(
                f"  round {index}: bundle {mib_per_s(size, sent):.1f} MiB/s "
                f"({size / MIB:.1f} MiB in {sent:.1f} s; RSS {load.rss_before / MIB:.0f} MiB "
                f"+{load.rss_growth / MIB:.1f} MiB in {load.samples} samples), "
                f"read {mib_per_s(read, seconds):.1f} MiB/s ({seconds:.2f} s), "
                f"read+sha256 {mib_per_s(hashed, hashing):.1f} MiB/s ({hashing:.2f} s); "
                f"ratio {mib_per_s(size, sent) / mib_per_s(hashed, hashing):.2f} to read+sha256, "
                f"{mib_per_s(size, sent) / mib_per_s(read, seconds):.2f} to read",
                flush=True,
            )
        if verify:
            target = folder / "bundle.zip"
            _download(service, package_id, target)
            _verify(target, sources)
            target.unlink()

    mib = total * rounds / MIB
    print("  CPU ms per MiB: " + ", ".join(f"{k} {v * 1000 / mib:.2f}" for k, v in cpu.items()))
    bundle_rate = mib_per_s(size * rounds, bundle_seconds)
    read_rate = mib_per_s(total * rounds, read_seconds)
    hash_rate = mib_per_s(total * rounds, hash_seconds)
    ratio = bundle_rate / hash_rate
    growth_mib = growth / MIB
    ratio_met = ratio >= RATIO_GOAL
    rss_met = growth_mib <= RSS_GOAL_MIB
    print(
        f"bundle: service {bundle_rate:.1f} MiB/s, read+sha256 {hash_rate:.1f} MiB/s, "
        f"read {read_rate:.1f} MiB/s; ratio to read+sha256 {ratio:.2f} "
        f"(goal >= {RATIO_GOAL}: {'met' if ratio_met else 'MISSED'}), "
        f"ratio to read {bundle_rate / read_rate:.2f}; "
        f"peak RSS growth {growth_mib:.1f} MiB "
        f"(goal <= {RSS_GOAL_MIB:.0f}: {'met' if rss_met else 'MISSED'})"
    )
    return ratio_met and rss_met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=parse_size, default=1024 * MIB, help="all documents (default 1GiB)"
    )
    parser.add_argument("--documents", type=int, default=20, help="how many (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="read-then-bundle rounds (default 2)")
    parser.add_argument(
        "--verify", action="store_true", help="download once more to a file and check the ZIP"
    )
    parser.add_argument(
        "--cold", action="store_true", help="both sides read from the disk, not the page cache"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where the temporary folder goes (default the system's temporary directory)",
    )
    args = parser.parse_args()
    if args.documents < len(_REQUIRED) or args.rounds < 1:
        parser.error(f"need --documents >= {len(_REQUIRED)} and --rounds >= 1")
    if args.size < 8 * args.documents:
        parser.error("need --size of at least 8 bytes per document")
    if args.size // args.documents >= 5 * 1024 * MIB:
        parser.error("the service accepts documents up to 5 GiB")
    exit_on_sigterm()
    print(
        f"bundle: {args.documents} documents, {args.size / MIB:.0f} MiB in all, "
        f"{args.rounds} rounds{', cold' if args.cold else ''}{', verify' if args.verify else ''}"
    )
    require_free_space(args.dir, 3 * args.size)
    folder = Path(tempfile.mkdtemp(prefix="klageapi-bench-bundle-", dir=args.dir))
    try:
        met = _run(
            folder,
            total=args.size,
            count=args.documents,
            rounds=args.rounds,
            verify=args.verify,
            cold=args.cold,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
