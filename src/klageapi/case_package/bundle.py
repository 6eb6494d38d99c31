"""A package as one ZIP, built while it is sent: `manifest.json`, eFormidling's `arkivmelding.xml`
and `sbd.json` (`archive`), then every document.

Documents are stored, not compressed (PDFs and images barely shrink, and compressing would cost
the CPU the download needs). The CRC-32 and size kept at upload go into each member's header
up front (`zip64`), so the bytes pass from the store to the client as read. The ZIP is the same
bytes every time for the same package: fixed order, names, times and modes. Each document's
sha256 is checked on the way out, in a worker thread while the bytes are sent; a mismatch stops
the download before the ZIP's directory rather than send a file that differs from the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import queue
import threading
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from klageapi.case_package import archive
from klageapi.case_package.archive import ArchiveContext
from klageapi.case_package.zip64 import Member, stored_zip, stored_zip_size
from klageapi.core.logging import get_logger
from klageapi.document import service as documents
from klageapi.document.storage import BlobStore
from klageapi.models import CasePackage, Document

__all__ = ["BundleIntegrityError", "bundle", "bundle_size", "member_name"]

_log = get_logger(__name__)
_MODE = 0o100644
# How far the hashing may fall behind the sending: the bytes held for it at most.
_HASH_AHEAD_BYTES = 8 * 1024 * 1024

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


class _Verifier:
    """Checks the documents' sha256s in a thread of its own while the bundle is sent.

    The thread takes the chunks in order from a queue and never waits for the event loop, so
    the hashing runs without a gap; the download waits for it only when it falls more than
    `_HASH_AHEAD_BYTES` behind. `finish` waits for every check, so a mismatch still stops
    the download before the ZIP's directory.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._behind = 0  # bytes queued and not yet hashed
        self._caught_up: asyncio.Future[None] | None = None
        self._failed: BundleIntegrityError | None = None
        self._stopped = False
        self._finished: asyncio.Future[None] = self._loop.create_future()
        threading.Thread(target=self._run, name="bundle-sha256", daemon=True).start()

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
                        _log.error("bundle_document_corrupt", document_id=str(item.document.id))
                        self._failed = BundleIntegrityError(str(item.document.id))
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


async def _verified(
    store: BlobStore, document: Document, verifier: _Verifier
) -> AsyncIterator[bytes]:
    """The document's bytes as the store reads them, each handed to `verifier` as it goes."""
    stream = await documents.open_blob(store, document)
    digest = hashlib.sha256()
    try:
        async for chunk in stream:
            await verifier.add(digest, chunk)
            yield chunk
    finally:
        await stream.aclose()
    verifier.check(document, digest)


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
) -> AsyncIterator[bytes]:
    """The ZIP's bytes, produced as they are sent."""
    leading = _leading(package, files, context)

    async def members() -> AsyncIterator[Member]:
        verifier = _Verifier()
        try:
            for name, data in leading:
                yield Member(name, len(data), zlib.crc32(data), _one(data))
            for position, document in enumerate(files):
                yield Member(
                    member_name(position, document),
                    document.size,
                    document.crc32,
                    _verified(store, document, verifier),
                )
            await verifier.finish()
        finally:
            verifier.close()

    return stored_zip(members(), modified_at=package.frozen_at, mode=_MODE)


def bundle_size(package: CasePackage, files: Sequence[Document], *, context: ArchiveContext) -> int:
    """The ZIP's length in bytes, before any of it is made: the download's Content-Length."""
    names = [(name, len(data)) for name, data in _leading(package, files, context)]
    names += [(member_name(n, document), document.size) for n, document in enumerate(files)]
    return stored_zip_size(names)
