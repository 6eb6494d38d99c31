"""What every blob store shares: the stored blob, the read stream, the refusals, the checks.

BlobError
├── BlobTooLarge                more than `max_size` bytes arrived
├── EmptyBlob                   no bytes arrived
├── BlobDigestMismatch          the bytes' sha256 is not the one the caller expected
├── BlobNotFound                no blob has that sha256
└── BlobRangeNotSatisfiable     the range lies outside the blob
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass

__all__ = [
    "READ_CHUNK_BYTES",
    "BlobDigestMismatch",
    "BlobDigests",
    "BlobError",
    "BlobNotFound",
    "BlobRangeNotSatisfiable",
    "BlobStream",
    "BlobTooLarge",
    "EmptyBlob",
    "StoredBlob",
    "TrackedChunks",
    "check_sha256",
    "resolve_range",
]

# Pieces of a download: each costs a trip to a worker thread (filesystem) and one send, so
# fewer, larger ones cost the CPU less; a download holds about two at a time.
READ_CHUNK_BYTES = 1024 * 1024

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class BlobError(Exception):
    """A blob store refused or could not find something."""


class BlobTooLarge(BlobError):
    """More than `limit` bytes arrived; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the blob is larger than the limit of {limit} bytes")
        self.limit = limit


class EmptyBlob(BlobError):
    """No bytes arrived; nothing was stored."""

    def __init__(self) -> None:
        super().__init__("the blob is empty")


class BlobDigestMismatch(BlobError):
    """The bytes that arrived do not have the sha256 the caller declared; nothing was stored."""

    def __init__(self, *, expected: str, actual: str) -> None:
        super().__init__(f"the blob's sha256 is {actual}, not the {expected} expected")
        self.expected = expected
        self.actual = actual


class BlobNotFound(BlobError):
    """No blob is stored under `sha256`."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no blob with sha256 {sha256}")
        self.sha256 = sha256


class BlobRangeNotSatisfiable(BlobError):
    """The range [start, end) does not fit in a blob of `size` bytes."""

    def __init__(self, *, start: int, end: int | None, size: int) -> None:
        shown = "end" if end is None else str(end)
        super().__init__(f"the range [{start}, {shown}) is outside a blob of {size} bytes")
        self.start = start
        self.end = end
        self.size = size


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob as stored: its sha256 (lowercase hex), its size in bytes and its CRC-32 (which a
    ZIP of it needs)."""

    sha256: str
    size: int
    crc32: int


class BlobDigests:
    """The sha256, CRC-32 and size of bytes on their way into a store, computed once.

    Both hashes release the GIL on large chunks, so a store that feeds this from a worker
    thread keeps the hashing off the event loop.
    """

    def __init__(self, *, expected_sha256: str | None = None) -> None:
        self._sha256 = hashlib.sha256()
        self._expected = expected_sha256
        self.crc32 = 0
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        self.crc32 = zlib.crc32(chunk, self.crc32)
        self.size += len(chunk)

    def stored(self) -> StoredBlob:
        """The blob these bytes make; raises BlobDigestMismatch if another was expected, and
        EmptyBlob if no bytes came."""
        if self.size == 0:
            raise EmptyBlob()
        sha256 = self._sha256.hexdigest()
        if self._expected is not None and sha256 != self._expected:
            raise BlobDigestMismatch(expected=self._expected, actual=sha256)
        return StoredBlob(sha256=sha256, size=self.size, crc32=self.crc32)


@dataclass(frozen=True, slots=True)
class BlobStream:
    """The bytes [start, end) of a blob of `size` bytes, as an async iterator of chunks."""

    size: int
    start: int
    end: int
    chunks: AsyncGenerator[bytes, None]

    @property
    def length(self) -> int:
        """How many bytes the stream yields."""
        return self.end - self.start

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks

    async def aclose(self) -> None:
        """Stop early and free the file or connection behind the stream."""
        await self.chunks.aclose()


def check_sha256(sha256: str) -> str:
    """The key itself if it is 64 lowercase hex digits; anything else could escape the store."""
    if not _SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex sha256: {sha256!r}")
    return sha256


def resolve_range(*, start: int, end: int | None, size: int) -> tuple[int, int]:
    """[start, end) within a blob of `size` bytes; an end past the blob is cut to its size."""
    stop = size if end is None else min(end, size)
    if start < 0 or start > size or stop < start:
        raise BlobRangeNotSatisfiable(start=start, end=end, size=size)
    return start, stop


class TrackedChunks:
    """The chunks of an upload, remembering what their source raised, so a store can tell the
    client's failure (passed on unchanged) from its own (503 storage_unavailable)."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = chunks
        self.error: BaseException | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        except BaseException as error:
            self.error = error
            raise

    def raised(self, error: BaseException) -> bool:
        """Whether `error` came from the chunks' source."""
        return error is self.error
