"""Blobs in a folder on disk: `<root>/sha256/<aa>/<bb>/<sha256>`, written through `<root>/tmp/`.

A blob is written to a temporary file, fsynced, then renamed into place, so a crash leaves at
most a stray file in tmp/ (swept at start-up) and a blob under sha256/ is always whole. All disk
work runs in worker threads; the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from klageapi.core.errors import StorageUnavailable
from klageapi.document.blob import (
    READ_CHUNK_BYTES,
    BlobDigests,
    BlobNotFound,
    BlobStream,
    BlobTooLarge,
    StoredBlob,
    TrackedChunks,
    check_sha256,
    resolve_range,
)

__all__ = ["FilesystemBlobStore"]

# Chunks from an upload are gathered up to this size before one trip to a worker thread.
_WRITE_BATCH_BYTES = 1024 * 1024
# Written bytes are flushed to the disk, while the upload goes on, once this many are waiting.
_SYNC_BEHIND_BYTES = 64 * 1024 * 1024
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

    def local_path(self, sha256: str) -> Path:
        return self.path(sha256)

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        max_size: int,
        expected_sha256: str | None = None,
    ) -> StoredBlob:
        """Stream `chunks` into the store; the same content is kept once."""
        digests = BlobDigests(expected_sha256=expected_sha256)
        batches = _Batches(max_size)
        source = TrackedChunks(chunks)
        incoming = aiter(source)
        # The first batch is gathered before the disk is touched: a file that ends within it
        # (most letters and scans) is hashed, written and committed in one trip to a worker.
        async for chunk in incoming:
            if (first := batches.add(chunk)) is not None:
                break
        else:
            with _unavailable_on_os_error():
                return await asyncio.to_thread(self._put_whole, batches.rest(), digests)
        with _unavailable_on_os_error():
            file, temp = await asyncio.to_thread(self._create_temp)
        writer = _Writer(file, digests)
        try:
            await writer.write(first)
            async for chunk in incoming:
                if (batch := batches.add(chunk)) is not None:
                    await writer.write(batch)
            await writer.write(batches.rest())
            await writer.finish()
            blob = writer.digests.stored()
            await asyncio.to_thread(self._commit, file, temp, self.path(blob.sha256))
        except asyncio.CancelledError:
            # A cancelled task may not get to await anything more: the file goes as soon as
            # the work in flight (a moment's) has let go of it.
            writer.then(lambda: _discard(file, temp))
            raise
        except BaseException as error:
            with contextlib.suppress(BaseException):
                await writer.finish()
            _discard(file, temp)
            if isinstance(error, OSError) and not source.raised(error):
                # The disk, not the request: full, read-only, gone.
                raise StorageUnavailable() from error
            raise
        return blob

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
        except OSError as error:
            raise StorageUnavailable() from error
        return stat.st_size

    async def exists(self, sha256: str) -> bool:
        """Whether a blob with this sha256 is stored."""
        return await self.size(sha256) is not None

    async def delete(self, sha256: str) -> bool:
        """Remove the blob; True when it was there."""
        path = self.path(sha256)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise StorageUnavailable() from error
        return True

    async def sweep_partial(self, *, older_than: timedelta) -> int:
        """Remove temporary files left by interrupted uploads; returns how many."""
        return await asyncio.to_thread(self._sweep, time.time() - older_than.total_seconds())

    def _create_temp(self) -> tuple[BinaryIO, Path]:
        descriptor, name = tempfile.mkstemp(dir=self._temp, suffix=_TEMP_SUFFIX)
        return os.fdopen(descriptor, "wb"), Path(name)

    def _put_whole(self, chunks: list[bytes], digests: BlobDigests) -> StoredBlob:
        """A whole (small) file at once: nothing is written when it is refused or stored."""
        for chunk in chunks:
            digests.update(chunk)
        blob = digests.stored()
        target = self.path(blob.sha256)
        if target.exists():
            return blob
        file, temp = self._create_temp()
        try:
            file.writelines(chunks)
            self._commit(file, temp, target)
        except BaseException:
            _discard(file, temp)
            raise
        return blob

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


class _Batches:
    """Gathers an upload's chunks into batches of at least `_WRITE_BATCH_BYTES`, refusing the
    upload once it grows past `max_size`."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._size = 0
        self._batch: list[bytes] = []
        self._batch_size = 0

    def add(self, chunk: bytes) -> list[bytes] | None:
        """The batch this chunk completes, if it does."""
        self._size += len(chunk)
        if self._size > self._max_size:
            raise BlobTooLarge(self._max_size)
        self._batch.append(chunk)
        self._batch_size += len(chunk)
        if self._batch_size < _WRITE_BATCH_BYTES:
            return None
        return self.rest()

    def rest(self) -> list[bytes]:
        """What is gathered and not yet handed out (at the end, the last batch)."""
        batch, self._batch, self._batch_size = self._batch, [], 0
        return batch


class _Writer:
    """Fills a temporary file: each batch is hashed and written in a worker thread while the
    next one arrives, and what is written is flushed to the disk behind it (fdatasync in
    another thread), so the fsync before the commit finds little left to do instead of
    seconds' worth of a large file."""

    def __init__(self, file: BinaryIO, digests: BlobDigests) -> None:
        self.file = file
        self.digests = digests
        self._writing: asyncio.Future[None] | None = None
        self._syncing: asyncio.Future[None] | None = None
        self._unsynced = 0

    async def write(self, batch: list[bytes]) -> None:
        """Wait for the previous batch, then start writing this one."""
        if self._writing is not None:
            await self._writing
        if self._syncing is not None and self._syncing.done():
            self._syncing.result()  # a failed flush fails the upload
            self._syncing = None
        if self._syncing is None and self._unsynced >= _SYNC_BEHIND_BYTES:
            self._syncing = asyncio.ensure_future(asyncio.to_thread(os.fdatasync, self.file))
            self._unsynced = 0
        self._unsynced += sum(len(chunk) for chunk in batch)
        self._writing = asyncio.ensure_future(
            asyncio.to_thread(_write, self.file, self.digests, batch)
        )

    async def finish(self) -> None:
        """Wait for all the work in flight (so the file is free to close); raises what it
        raised."""
        pending = [future for future in (self._writing, self._syncing) if future is not None]
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        self._writing = self._syncing = None
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def then(self, action: Callable[[], None]) -> None:
        """Run `action` once no work is in flight, without waiting for it here."""
        pending = [f for f in (self._writing, self._syncing) if f is not None and not f.done()]
        if not pending:
            action()
            return
        gathered = asyncio.gather(*pending, return_exceptions=True)
        gathered.add_done_callback(lambda _: action())


def _write(file: BinaryIO, digests: BlobDigests, batch: list[bytes]) -> None:
    for chunk in batch:
        digests.update(chunk)
        file.write(chunk)
    file.flush()  # into the kernel, where the flush behind the writes finds it


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
    """The bytes [start, end) of a file, the next piece read in a worker thread while the one
    before is being sent, so the disk and the network take turns less."""
    if start == end:
        return
    try:
        file = await asyncio.to_thread(_open_at, path, start)
    except FileNotFoundError:
        raise BlobNotFound(path.name) from None
    remaining = end - start
    reading = asyncio.ensure_future(asyncio.to_thread(file.read, min(READ_CHUNK_BYTES, remaining)))
    try:
        while True:
            chunk = await reading
            if not chunk:
                raise OSError(f"blob {path.name} ended {remaining} bytes early")
            remaining -= len(chunk)
            if remaining <= 0:
                yield chunk
                return
            reading = asyncio.ensure_future(
                asyncio.to_thread(file.read, min(READ_CHUNK_BYTES, remaining))
            )
            yield chunk
    finally:
        # Closed once the read in flight, if any, has let go of it; not waited for here, as a
        # stream closed early (the client went away) may not get to await anything more.
        _close_after(reading, file)


def _close_after(reading: asyncio.Future[bytes], file: BinaryIO) -> None:
    def close(done: asyncio.Future[bytes]) -> None:
        if not done.cancelled():
            done.exception()  # nobody wants this piece any more, nor its error
        file.close()

    if reading.done():
        close(reading)
    else:
        reading.add_done_callback(close)


def _open_at(path: Path, start: int) -> BinaryIO:
    file = path.open("rb")
    file.seek(start)
    return file


@contextlib.contextmanager
def _unavailable_on_os_error() -> Iterator[None]:
    """The disk's failures (full, read-only, gone) as the store's: 503 storage_unavailable."""
    try:
        yield
    except OSError as error:
        raise StorageUnavailable() from error
