"""A package as one ZIP, built while it is sent: `manifest.json`, eFormidling's `arkivmelding.xml`
and `sbd.json` (`archive`), then every document.

Documents are stored, not compressed (PDFs and images barely shrink, and compressing would cost
the CPU the download needs). The CRC-32 and size kept at upload go into each member's header
up front (`zip64`), so the bytes pass from the store to the client as read. The ZIP is the same
bytes every time for the same package: fixed order, names, times and modes. Each document's
sha256 is checked on the way out by the store as it reads (off the event loop, see
`BlobStore.open`); a mismatch stops the download at the document's end, before the ZIP's
directory, rather than send a file that differs from the manifest.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator, Sequence

from klageapi.case_package import archive
from klageapi.case_package.archive import ArchiveContext
from klageapi.case_package.zip64 import Member, stored_zip, stored_zip_size
from klageapi.core.logging import get_logger
from klageapi.document import service as documents
from klageapi.document.storage import BlobCorrupt, BlobStore
from klageapi.models import CasePackage, Document

__all__ = ["BundleIntegrityError", "bundle", "bundle_size", "member_name"]

_log = get_logger(__name__)
_MODE = 0o100644

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


async def _checked(store: BlobStore, document: Document) -> AsyncIterator[bytes]:
    """The document's bytes as the store reads them, checked against its sha256 on the way."""
    stream = await documents.open_blob(store, document, verify=True)
    try:
        async for chunk in stream:
            yield chunk
    except BlobCorrupt:
        _log.error("bundle_document_corrupt", document_id=str(document.id))
        raise BundleIntegrityError(str(document.id)) from None
    finally:
        await stream.aclose()


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
        for name, data in leading:
            yield Member(name, len(data), zlib.crc32(data), _one(data))
        for position, document in enumerate(files):
            yield Member(
                member_name(position, document),
                document.size,
                document.crc32,
                _checked(store, document),
            )

    return stored_zip(members(), modified_at=package.frozen_at, mode=_MODE)


def bundle_size(package: CasePackage, files: Sequence[Document], *, context: ArchiveContext) -> int:
    """The ZIP's length in bytes, before any of it is made: the download's Content-Length."""
    names = [(name, len(data)) for name, data in _leading(package, files, context)]
    names += [(member_name(n, document), document.size) for n, document in enumerate(files)]
    return stored_zip_size(names)
