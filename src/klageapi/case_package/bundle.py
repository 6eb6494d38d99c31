"""A package as one ZIP, built while it is sent: `manifest.json` and every document.

Documents are stored, not compressed (PDFs and images barely shrink, and compressing would cost
the CPU the download needs). The CRC-32 and size kept at upload go into each member's header
up front (`zip64`), so the bytes pass from the store to the client as read. The ZIP is the same
bytes every time for the same package: fixed order, names, times and modes. Each document's
sha256 is checked on the way out, in a worker thread while the bytes are sent; a mismatch stops
the download before the ZIP's directory rather than send a file that differs from the manifest.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import zlib
from collections.abc import AsyncIterator, Sequence

from klageapi.case_package.zip64 import Member, stored_zip, stored_zip_size
from klageapi.core.logging import get_logger
from klageapi.document import service as documents
from klageapi.document.storage import BlobStore
from klageapi.models import CasePackage, Document

__all__ = ["BundleIntegrityError", "bundle", "bundle_size", "member_name"]

_log = get_logger(__name__)
_MODE = 0o100644
# Chunks are hashed in batches of about this size, one trip to a worker thread each.
_HASH_BATCH_BYTES = 1024 * 1024

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
    """The document's bytes as the store reads them, checked against its sha256.

    A batch is hashed in a worker thread while the next one is read and sent, so the hashing
    neither holds up the event loop nor waits for the socket.
    """
    stream = await documents.open_blob(store, document)
    digest = hashlib.sha256()
    hashing: asyncio.Future[None] | None = None
    batch: list[bytes] = []
    batch_size = 0
    try:
        async for chunk in stream:
            batch.append(chunk)
            batch_size += len(chunk)
            if batch_size >= _HASH_BATCH_BYTES:
                if hashing is not None:
                    await hashing
                hashing = asyncio.ensure_future(asyncio.to_thread(_hash, digest, batch))
                batch, batch_size = [], 0
            yield chunk
        if hashing is not None:
            await hashing
        _hash(digest, batch)
    finally:
        await stream.aclose()
    if digest.hexdigest() != document.sha256:
        _log.error("bundle_document_corrupt", document_id=str(document.id))
        raise BundleIntegrityError(str(document.id))


def _hash(digest: hashlib._Hash, batch: list[bytes]) -> None:
    for chunk in batch:
        digest.update(chunk)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def bundle(
    package: CasePackage, files: Sequence[Document], store: BlobStore
) -> AsyncIterator[bytes]:
    """The ZIP's bytes, produced as they are sent."""
    manifest = manifest_bytes(package)

    async def members() -> AsyncIterator[Member]:
        yield Member("manifest.json", len(manifest), zlib.crc32(manifest), _one(manifest))
        for position, document in enumerate(files):
            yield Member(
                member_name(position, document),
                document.size,
                document.crc32,
                _verified(store, document),
            )

    return stored_zip(members(), modified_at=package.frozen_at, mode=_MODE)


def bundle_size(package: CasePackage, files: Sequence[Document]) -> int:
    """The ZIP's length in bytes, before any of it is made: the download's Content-Length."""
    names = [("manifest.json", len(manifest_bytes(package)))]
    names += [(member_name(n, document), document.size) for n, document in enumerate(files)]
    return stored_zip_size(names)
