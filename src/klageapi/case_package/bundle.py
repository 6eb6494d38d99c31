"""A package as one ZIP, built while it is sent: `manifest.json` and every document.

Documents are stored, not compressed (PDFs and images barely shrink, and compressing would cost
the CPU the download needs), using the CRC-32 kept at upload, so each file is read once. The
ZIP is the same bytes every time for the same package: fixed order, names, times and modes.
Each document's sha256 is checked on the way out; a mismatch stops the download rather than
send a file that differs from the manifest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence

from stream_zip import NO_COMPRESSION_64, Method, async_stream_zip

from klageapi.core.logging import get_logger
from klageapi.document import service as documents
from klageapi.document.storage import BlobStore
from klageapi.models import CasePackage, Document

__all__ = ["BundleIntegrityError", "bundle", "member_name"]

_log = get_logger(__name__)
_MODE = 0o100644
# async_stream_zip zips in a worker thread and crosses between it and the event loop once per
# chunk each way, so chunk sizes set the number of hand-offs: 1 MiB pieces in and out, rather
# than the store's 256 KiB reads and stream_zip's 64 KiB default, cut a download's CPU by half
# (bench/bundle.py). A download holds a few of them at a time.
_CHUNK_BYTES = 1024 * 1024
_Member = tuple[str, dt.datetime, int, Method, AsyncIterable[bytes]]

_EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/tiff": "tif",
}


class BundleIntegrityError(Exception):
    """A stored document no longer has the sha256 the manifest promises."""


def member_name(position: int, document: Document) -> str:
    """A safe, stable name inside the ZIP: position, category and id, never the client's name."""
    extension = _EXTENSIONS.get(document.media_type, "bin")
    return f"documents/{position + 1:03d}-{document.category.value}-{document.id}.{extension}"


def manifest_bytes(package: CasePackage) -> bytes:
    return json.dumps(package.manifest, indent=2, sort_keys=True, ensure_ascii=False).encode()


async def _verified(store: BlobStore, document: Document) -> AsyncIterator[bytes]:
    """The document's bytes in pieces of about `_CHUNK_BYTES`, checked against its sha256."""
    stream = await documents.open_blob(store, document)
    digest = hashlib.sha256()
    pending: list[bytes] = []
    pending_size = 0
    try:
        async for chunk in stream:
            digest.update(chunk)
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= _CHUNK_BYTES:
                yield b"".join(pending)
                pending, pending_size = [], 0
        if pending:
            yield b"".join(pending)
    finally:
        await stream.aclose()
    if digest.hexdigest() != document.sha256:
        _log.error("bundle_document_corrupt", document_id=str(document.id))
        raise BundleIntegrityError(str(document.id))


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def bundle(
    package: CasePackage, files: Sequence[Document], store: BlobStore
) -> AsyncIterator[bytes]:
    """The ZIP's bytes, produced as they are sent."""
    modified = package.frozen_at
    manifest = manifest_bytes(package)

    async def members() -> AsyncIterator[_Member]:
        yield (
            "manifest.json",
            modified,
            _MODE,
            NO_COMPRESSION_64(len(manifest), zlib.crc32(manifest)),
            _one(manifest),
        )
        for position, document in enumerate(files):
            yield (
                member_name(position, document),
                modified,
                _MODE,
                NO_COMPRESSION_64(document.size, document.crc32),
                _verified(store, document),
            )

    async def zipped() -> AsyncIterator[bytes]:
        async for chunk in async_stream_zip(
            members(), chunk_size=_CHUNK_BYTES, extended_timestamps=False
        ):
            yield chunk

    return zipped()
