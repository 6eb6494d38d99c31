"""Blobs in a folder on disk: `<root>/sha256/<aa>/<bb>/<sha256>`, written through `<root>/tmp/`.

A blob is written to a temporary file, fsynced, then renamed into place, so a crash leaves at
most a stray file in tmp/ (swept at start-up) and a blob under sha256/ is always whole. All disk
work runs in worker threads; the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterable
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from klageapi.document.blob import (
    READ_CHUNK_BYTES,
    BlobNotFound,
    BlobStream,
    BlobTooLarge,
    EmptyBlob,
    StoredBlob,
    check_sha256,
    resolve_range,
)

__all__ = ["FilesystemBlobStore"]

# Chunks from an upload are gathered up to this size before one trip to a worker thread.
_WRITE_BATCH_BYTES = 1024 * 1024
_TEMP_SUFFIX = ".part"


class FilesystemBlobStore:
    """Content-addressed blobs under `root`, for a single machine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "sha256"
        self._temp = root / "tmp"
        # Once, at start-up: creating two folders is not worth a thread.
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._temp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob with this sha256 lives (whether or not it is there)."""
        check_sha256(sha256)
        return self._blobs / sha256[:2] / sha256[2:4] / sha256

    async def put(self, chunks: AsyncIterable[bytes], *, max_size: int) -> StoredBlob:
        """Stream `chunks` into the store; the same content is kept once."""
        file, temp = await asyncio.to_thread(self._create_temp)
        try:
            digest = hashlib.sha256()
            size = 0
            batch: list[bytes] = []
            batch_size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > max_size:
                    raise BlobTooLarge(max_size)
                batch.append(chunk)
                batch_size += len(chunk)
                if batch_size >= _WRITE_BATCH_BYTES:
                    await asyncio.to_thread(_write, file, digest, batch)
                    batch, batch_size = [], 0
            if size == 0:
                raise EmptyBlob()
            await asyncio.to_thread(_write, file, digest, batch)
            sha256 = digest.hexdigest()
            await asyncio.to_thread(self._commit, file, temp, self.path(sha256))
        except BaseException:
            # Synchronously, on purpose: a cancelled task may not get to await anything more,
            # and closing and unlinking one file is quick.
            _discard(file, temp)
            raise
        return StoredBlob(sha256=sha256, size=size)

    async def open(self, sha256: str, *, start: int = 0, end: int | None = None) -> BlobStream:
        """The bytes [start, end) of a blob, read in chunks as they are consumed."""
        path = self.path(sha256)
        size = await self.size(sha256)
        if size is None:
            raise BlobNotFound(sha256)
        first, stop = resolve_range(start=start, end=end, size=size)
        return BlobStream(size=size, start=first, end=stop, chunks=_read(path, first, stop))

    async def size(self, sha256: str) -> int | None:
        """The blob's size in bytes, or None when it is not stored."""
        path = self.path(sha256)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            return None
        return stat.st_size

    async def exists(self, sha256: str) -> bool:
        """Whether a blob with this sha256 is stored."""
        return await self.size(sha256) is not None

    async def sweep_partial(self, *, older_than: timedelta) -> int:
        """Remove temporary files left by interrupted uploads; returns how many."""
        return await asyncio.to_thread(self._sweep, time.time() - older_than.total_seconds())

    def _create_temp(self) -> tuple[BinaryIO, Path]:
        descriptor, name = tempfile.mkstemp(dir=self._temp, suffix=_TEMP_SUFFIX)
        return os.fdopen(descriptor, "wb"), Path(name)

    def _commit(self, file: BinaryIO, temp: Path, target: Path) -> None:
        if target.exists():
            # The same bytes are stored, and durable, already: making this copy durable first
            # would cost a large file's fsync (seconds) only to delete it.
            _discard(file, temp)
            return
        file.flush()
        os.fsync(file.fileno())
        file.close()
        _make_folders(target.parent, stop=self._blobs)
        temp.rename(target)
        _fsync_folder(target.parent)

    def _sweep(self, cutoff: float) -> int:
        removed = 0
        for entry in self._temp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
        return removed


def _write(file: BinaryIO, digest: hashlib._Hash, batch: list[bytes]) -> None:
    for chunk in batch:
        digest.update(chunk)
        file.write(chunk)


def _discard(file: BinaryIO, temp: Path) -> None:
    file.close()
    temp.unlink(missing_ok=True)


def _make_folders(folder: Path, *, stop: Path) -> None:
    """Create `folder` and its missing parents below `stop`, each made durable in its parent."""
    if folder == stop or folder.is_dir():
        return
    _make_folders(folder.parent, stop=stop)
    with contextlib.suppress(FileExistsError):
        folder.mkdir()
    _fsync_folder(folder.parent)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


async def _read(path: Path, start: int, end: int) -> AsyncGenerator[bytes, None]:
    if start == end:
        return
    try:
        file = await asyncio.to_thread(path.open, "rb")
    except FileNotFoundError:
        raise BlobNotFound(path.name) from None
    try:
        await asyncio.to_thread(file.seek, start)
        remaining = end - start
        while remaining > 0:
            chunk = await asyncio.to_thread(file.read, min(READ_CHUNK_BYTES, remaining))
            if not chunk:
                raise OSError(f"blob {path.name} ended {remaining} bytes early")
            remaining -= len(chunk)
            yield chunk
    finally:
        file.close()
