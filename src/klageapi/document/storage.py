"""Content-addressed blob storage for document bytes: one protocol, a filesystem and an S3 backend.

A blob is named by the sha256 of its bytes, so the same content is stored once and a stored blob
never changes. Bytes stream in and out in chunks; no backend holds a whole blob in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from klageapi.core.config import Settings
from klageapi.document.blob import (
    BlobDigestMismatch,
    BlobError,
    BlobNotFound,
    BlobRangeNotSatisfiable,
    BlobStream,
    BlobTooLarge,
    EmptyBlob,
    StoredBlob,
)
from klageapi.document.filesystem_store import FilesystemBlobStore
from klageapi.document.s3_store import S3BlobStore

__all__ = [
    "BlobDigestMismatch",
    "BlobError",
    "BlobNotFound",
    "BlobRangeNotSatisfiable",
    "BlobStore",
    "BlobStream",
    "BlobTooLarge",
    "EmptyBlob",
    "FilesystemBlobStore",
    "S3BlobStore",
    "StoredBlob",
    "blob_store_from_settings",
]


class BlobStore(Protocol):
    """Where document bytes live, keyed by their sha256 (64 lowercase hex digits)."""

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        max_size: int,
        expected_sha256: str | None = None,
    ) -> StoredBlob:
        """Stream `chunks` in, hashing them (sha256 and CRC-32) once as they come; raises
        BlobTooLarge, EmptyBlob, or BlobDigestMismatch when `expected_sha256` is not the
        bytes' sha256. Whatever it raises, and whatever the chunks raise, nothing is kept."""
        ...

    async def open(self, sha256: str, *, start: int = 0, end: int | None = None) -> BlobStream:
        """The bytes [start, end) in chunks; raises BlobNotFound or BlobRangeNotSatisfiable."""
        ...

    async def size(self, sha256: str) -> int | None:
        """The blob's size in bytes, or None when it is not stored."""
        ...

    def local_path(self, sha256: str) -> Path | None:
        """The file that holds the blob, whether or not it is there, when this store keeps
        blobs on this machine's disk and never rewrites one in place (a new blob is renamed
        into place, a removed one unlinked), so that a bundle may map it into memory; None for
        a remote store."""
        ...

    async def exists(self, sha256: str) -> bool:
        """Whether a blob with this sha256 is stored."""
        ...

    async def delete(self, sha256: str) -> bool:
        """Remove the blob; True when it was there. The caller makes sure nothing refers to
        it any more."""
        ...

    async def sweep_partial(self, *, older_than: timedelta) -> int:
        """Remove leftovers of interrupted uploads older than `older_than`; returns how many."""
        ...


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """The configured store: a folder under the data folder, or an S3 bucket."""
    if settings.document_storage == "filesystem":
        return FilesystemBlobStore(settings.data_dir / "documents")
    assert settings.s3_bucket is not None  # the settings refuse s3 without a bucket
    secret = settings.s3_secret_access_key
    return S3BlobStore(
        bucket=settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
        path_style=settings.s3_path_style,
        allow_http=settings.s3_allow_http,
        prefix=settings.s3_key_prefix,
    )
