"""A package as one ZIP, built while it is sent: `manifest.json`, eFormidling's `arkivmelding.xml`
and `sbd.json` (`archive`), then every document.

Documents are stored, not compressed (PDFs and images barely shrink, and compressing would cost
the CPU the download needs). The CRC-32 and size kept at upload go into each member's header
up front (`zip64`), so the bytes pass from the store to the client as read. The ZIP is the same
bytes every time for the same package: fixed order, names, times and modes. Each document's
sha256 is checked on the way out, in a thread of its own; a mismatch stops the download before
the ZIP's directory rather than send a file that differs from the manifest.

From a store on this machine's disk (`BlobStore.local_path`) the documents are mapped into
memory and hashed ahead of the sending, which sends each piece once it is hashed: the pages
hashed are the bytes sent, with no copy in the service and no trip to a reading thread
(`_Mapped`; bench/bundle.py: 0.84-0.89 of reading and hashing the files in one thread, against
0.62-0.75 when they were read in pieces by a worker thread and hashed behind the sending). From
S3 the pieces are still hashed behind the sending (`_Streamed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import mmap
import os
import queue
import threading
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

from klageapi.case_package import archive
from klageapi.case_package.archive import ArchiveContext
from klageapi.case_package.zip64 import Member, stored_zip, stored_zip_size
from klageapi.core.logging import get_logger
from klageapi.document import service as documents
from klageapi.document.blob import BlobNotFound
from klageapi.document.storage import BlobStore
from klageapi.models import CasePackage, Document

__all__ = ["BundleIntegrityError", "bundle", "bundle_size", "member_name"]

_log = get_logger(__name__)
_MODE = 0o100644
# How far the hashing may fall behind the sending (streamed: the bytes held for it at most), or
# run ahead of it (mapped: the pages held in memory for it at most).
_HASH_AHEAD_BYTES = 8 * 1024 * 1024
# What a mapped document is hashed and sent in: one hand-over between the threads per piece.
_MAPPED_PIECE_BYTES = 4 * 1024 * 1024

_EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/tiff": "tif",
    "text/plain; charset=utf-8": "txt",
}


class BundleIntegrityError(Exception):
    """A stored document no longer has the sha256 the manifest promises."""


def member_name(position: int, document: Document) -> str:
    """A safe, stable name inside the ZIP: position, category and id, never the client's name."""
    extension = _EXTENSIONS.get(document.media_type, "bin")
    return f"documents/{position + 1:03d}-{document.category.value}-{document.id}.{extension}"


def manifest_bytes(package: CasePackage) -> bytes:
    return json.dumps(package.manifest, indent=2, sort_keys=True, ensure_ascii=False).encode()


class _Checks(Protocol):
    """How a bundle's documents reach it, each checked against its sha256 on the way."""

    def pieces(self, position: int) -> AsyncIterator[bytes | memoryview]:
        """The document's bytes; a mismatch raises BundleIntegrityError before the ZIP ends."""
        ...

    async def finish(self) -> None:
        """Wait for every check; raises BundleIntegrityError if one failed."""
        ...

    def close(self) -> None:
        """Let the thread go, also when the download ends early."""
        ...


class _Streamed:
    """Checks the documents' sha256s, as the store streams them, in a thread of its own while
    the bundle is sent (the documents are in S3).

    The thread takes the chunks in order from a queue and never waits for the event loop, so
    the hashing runs without a gap; the download waits for it only when it falls more than
    `_HASH_AHEAD_BYTES` behind. `finish` waits for every check, so a mismatch still stops
    the download before the ZIP's directory.
    """

    def __init__(self, store: BlobStore, files: Sequence[Document]) -> None:
        self._store = store
        self._files = files
        self._loop = asyncio.get_running_loop()
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._behind = 0  # bytes queued and not yet hashed
        self._caught_up: asyncio.Future[None] | None = None
        self._failed: BundleIntegrityError | None = None
        self._stopped = False
        self._finished: asyncio.Future[None] = self._loop.create_future()
        threading.Thread(target=self._run, name="bundle-sha256", daemon=True).start()

    def pieces(self, position: int) -> AsyncIterator[bytes]:
        return _verified(self._store, self._files[position], self)

    async def add(self, digest: hashlib._Hash, chunk: bytes) -> None:
        if self._failed is not None:
            raise self._failed
        caught_up = None
        with self._lock:
            self._behind += len(chunk)
            if self._behind > _HASH_AHEAD_BYTES:
                self._caught_up = caught_up = self._loop.create_future()
        self._queue.put((digest, chunk))
        if caught_up is not None:
            await caught_up

    def check(self, document: Document, digest: hashlib._Hash) -> None:
        """Compare `digest` with the document's sha256 once its bytes are hashed."""
        self._queue.put(_Check(document, digest))

    async def finish(self) -> None:
        self._queue.put(None)
        await asyncio.shield(self._finished)
        if self._failed is not None:
            raise self._failed

    def close(self) -> None:
        """Let the thread go, also when the download ends early (it drops what is queued)."""
        self._stopped = True
        self._queue.put(None)

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not None and not self._stopped:
                if isinstance(item, _Check):
                    if item.digest.hexdigest() != item.document.sha256:
                        self._failed = _corrupt(item.document)
                        return
                    continue
                digest, chunk = item
                digest.update(chunk)
                with self._lock:
                    self._behind -= len(chunk)
                    wake = self._caught_up if self._behind <= _HASH_AHEAD_BYTES // 2 else None
                    if wake is not None:
                        self._caught_up = None
                if wake is not None:
                    self._wake(wake)
        finally:
            with self._lock:
                wake, self._caught_up = self._caught_up, None
            for future in (wake, self._finished):
                if future is not None:
                    self._wake(future)

    def _wake(self, future: asyncio.Future[None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(frozen=True)
class _Check:
    document: Document
    digest: hashlib._Hash


if TYPE_CHECKING:  # hashlib._Hash exists only for the type checker
    _Item: TypeAlias = tuple[hashlib._Hash, bytes] | _Check | None
    """A chunk for a document's digest, a document's check, or the end."""


class _Mapped:
    """Checks the documents' sha256s from their files, mapped into memory, in a thread of its own
    that runs ahead of the sending by at most `_HASH_AHEAD_BYTES`; the sending takes each piece
    only once it is hashed, and a document's last piece only once its sha256 matched.

    The thread maps the files itself (opening one may wait for the disk), one after the other,
    and is the first to touch their pages, so the event loop sends pages already in memory; the
    pages sent are let go (`MADV_DONTNEED`: the file's mapping reads them again if a write still
    pending needs them), so the service holds about `_HASH_AHEAD_BYTES` of them at a time.
    Mapping relies on the store never shortening a file in place: a file of another size than
    its document says is a mismatch, found before it is mapped.
    """

    def __init__(self, files: Sequence[tuple[Path, Document]]) -> None:
        self._loop = asyncio.get_running_loop()
        self._files = files
        self._starts = [0]
        for _, document in files:
            self._starts.append(self._starts[-1] + document.size)
        self._condition = threading.Condition()
        self._maps: dict[int, mmap.mmap] = {}
        self._hashed = 0  # bytes of the bundle's documents hashed, in order
        self._sent = 0  # ... taken by the sending
        self._failed: Exception | None = None
        self._waiting: tuple[int, asyncio.Future[None]] | None = None
        self._stopped = False
        threading.Thread(target=self._run, name="bundle-sha256", daemon=True).start()

    async def pieces(self, position: int) -> AsyncIterator[memoryview]:
        start, size = self._starts[position], self._files[position][1].size
        try:
            for offset in range(0, size, _MAPPED_PIECE_BYTES):
                length = min(_MAPPED_PIECE_BYTES, size - offset)
                await self._hashed_past(start + offset + length)
                mapped = self._maps[position]
                with memoryview(mapped) as whole:
                    yield whole[offset : offset + length]
                # From the page this piece begins in: a page it shares with the next piece
                # is read again if need be.
                first_page = offset - offset % mmap.PAGESIZE
                mapped.madvise(mmap.MADV_DONTNEED, first_page, offset + length - first_page)
                with self._condition:
                    self._sent = start + offset + length
                    self._condition.notify()
        except BaseException:
            self.close()  # now, not when the bundle's generators are collected
            raise
        with self._condition:
            self._maps.pop(position, None)  # unmapped once no write holds a piece of it

    async def finish(self) -> None:
        await self._hashed_past(self._starts[-1])

    def close(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()

    async def _hashed_past(self, target: int) -> None:
        while True:
            with self._condition:
                if self._hashed >= target:
                    return
                if self._failed is not None:
                    raise self._failed
                waiting = self._loop.create_future()
                self._waiting = (target, waiting)
            await waiting

    def _run(self) -> None:
        try:
            for position, (path, document) in enumerate(self._files):
                mapped = _map(path, document)
                with self._condition:
                    self._maps[position] = mapped
                digest = hashlib.sha256()
                with memoryview(mapped) as whole:
                    for offset in range(0, document.size, _MAPPED_PIECE_BYTES):
                        with self._condition:
                            while self._hashed - self._sent > _HASH_AHEAD_BYTES:
                                if self._stopped:
                                    return
                                self._condition.wait()
                            if self._stopped:
                                return
                        piece = whole[offset : offset + _MAPPED_PIECE_BYTES]
                        digest.update(piece)
                        last = offset + len(piece) == document.size
                        if last and digest.hexdigest() != document.sha256:
                            raise _corrupt(document)
                        self._advance(len(piece))
        except Exception as failure:  # handed to the sending, which raises it
            with self._condition:
                self._failed = failure
        finally:
            self._advance(0)

    def _advance(self, hashed: int) -> None:
        """Count `hashed` more bytes as checked, and wake the sending if it waits for them (or
        for the thread's end)."""
        with self._condition:
            self._hashed += hashed
            waiting = self._waiting
            if waiting is None or (self._hashed < waiting[0] and hashed):
                return
            self._waiting = None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(_resolve, waiting[1])


def _map(path: Path, document: Document) -> mmap.mmap:
    """The document's file mapped read-only, when it has the document's size."""
    try:
        with path.open("rb") as file:
            if os.fstat(file.fileno()).st_size != document.size:
                raise _corrupt(document)
            return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise BlobNotFound(document.sha256) from None


def _corrupt(document: Document) -> BundleIntegrityError:
    _log.error("bundle_document_corrupt", document_id=str(document.id))
    return BundleIntegrityError(str(document.id))


async def _verified(
    store: BlobStore, document: Document, checks: _Streamed
) -> AsyncIterator[bytes]:
    """The document's bytes as the store reads them, each handed to `checks` as it goes."""
    stream = await documents.open_blob(store, document)
    digest = hashlib.sha256()
    try:
        async for chunk in stream:
            await checks.add(digest, chunk)
            yield chunk
    finally:
        await stream.aclose()
    checks.check(document, digest)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _leading(
    package: CasePackage, files: Sequence[Document], context: ArchiveContext
) -> list[tuple[str, bytes]]:
    """The members before the documents, made whole: the manifest and the archive files."""
    named = [(member_name(n, document), document) for n, document in enumerate(files)]
    return [
        ("manifest.json", manifest_bytes(package)),
        (archive.ARKIVMELDING, archive.arkivmelding_xml(package, named, context)),
        (archive.SBD, archive.sbd_json(package, named, context)),
    ]


def bundle(
    package: CasePackage,
    files: Sequence[Document],
    store: BlobStore,
    *,
    context: ArchiveContext,
) -> AsyncIterator[bytes | memoryview]:
    """The ZIP's bytes, produced as they are sent."""
    leading = _leading(package, files, context)
    paths = [store.local_path(document.sha256) for document in files]
    local = [(path, doc) for path, doc in zip(paths, files, strict=True) if path is not None]

    async def members() -> AsyncIterator[Member]:
        checks: _Checks = _Mapped(local) if len(local) == len(files) else _Streamed(store, files)
        try:
            for name, data in leading:
                yield Member(name, len(data), zlib.crc32(data), _one(data))
            for position, document in enumerate(files):
                yield Member(
                    member_name(position, document),
                    document.size,
                    document.crc32,
                    checks.pieces(position),
                )
            await checks.finish()
        finally:
            checks.close()

    return stored_zip(members(), modified_at=package.frozen_at, mode=_MODE)


def bundle_size(package: CasePackage, files: Sequence[Document], *, context: ArchiveContext) -> int:
    """The ZIP's length in bytes, before any of it is made: the download's Content-Length."""
    names = [(name, len(data)) for name, data in _leading(package, files, context)]
    names += [(member_name(n, document), document.size) for n, document in enumerate(files)]
    return stored_zip_size(names)
