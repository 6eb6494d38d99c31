"""Blobs in a folder on disk: `<root>/sha256/<aa>/<bb>/<sha256>`, written through `<root>/tmp/`.

A blob is written to a temporary file, fsynced, then renamed into place, so a crash leaves at
most a stray file in tmp/ (swept at start-up) and a blob under sha256/ is always whole. All disk
work runs in worker threads; the event loop never waits on the disk. A download is read by a
thread of its own, which also hashes what it reads when the read is verified (`_Reader`, with
the figure that chose it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from klageapi.core.errors import StorageUnavailable
from klageapi.document.blob import (
    READ_CHUNK_BYTES,
    BlobCorrupt,
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
# Pieces a download reads ahead of what it has sent: the memory a download holds, with the
# piece being sent and what the socket buffers.
_READ_AHEAD_CHUNKS = 4


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

    async def open(
        self, sha256: str, *, start: int = 0, end: int | None = None, verify: bool = False
    ) -> BlobStream:
        """The bytes [start, end) of a blob, read in chunks ahead of the consumer; with
        `verify`, checked against its sha256 (see BlobStore.open)."""
        path = self.path(sha256)
        size = await self.size(sha256)
        if size is None:
            raise BlobNotFound(sha256)
        first, stop = resolve_range(start=start, end=end, size=size)
        expected = sha256 if verify else None
        chunks = _read(path, first, stop, expected_sha256=expected)
        return BlobStream(size=size, start=first, end=stop, chunks=chunks)

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


async def _read(
    path: Path, start: int, end: int, *, expected_sha256: str | None
) -> AsyncGenerator[bytes, None]:
    """The bytes [start, end) of a file, read by a thread of its own while the pieces before are
    sent; with `expected_sha256`, hashed in that thread and checked at the end (BlobCorrupt)."""
    if start == end:
        return
    reader = _Reader(path, start, end, expected_sha256=expected_sha256)
    try:
        while (chunk := await reader.next()) is not None:
            yield chunk
    finally:
        reader.close()


class _Reader:
    """A thread that reads a file through in pieces, up to `_READ_AHEAD_CHUNKS` ahead of the
    consumer, and hands each to the event loop.

    One thread reads and, for a verified read, hashes: a piece is hashed while it is fresh in
    the cache, and the event loop takes one hand-over per piece and does nothing else for it
    but send it. Against a trip to a worker thread per piece with the bundle's hashing in a
    third thread, `bench/bundle.py --size 512MiB --rounds 3` (the two run in turn on a
    machine busy with other work) counted the service's CPU per MiB at 1.44-1.58 ms instead
    of 1.80-1.91, its event loop's at 0.44-0.49 instead of 0.65-0.70.
    """

    def __init__(self, path: Path, start: int, end: int, *, expected_sha256: str | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._chunks: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()
        self._room = threading.Semaphore(_READ_AHEAD_CHUNKS)
        self._stopped = False
        threading.Thread(
            target=self._run,
            args=(path, start, end, expected_sha256),
            name="blob-reader",
            daemon=True,
        ).start()

    async def next(self) -> bytes | None:
        """The next piece, or None at the end; raises what the reading raised."""
        item = await self._chunks.get()
        self._room.release()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        """Let the thread go, also when the consumer stops early (the file is closed there)."""
        self._stopped = True
        self._room.release()

    def _run(self, path: Path, start: int, end: int, expected_sha256: str | None) -> None:
        try:
            self._read(path, start, end, expected_sha256)
        except Exception as error:
            self._hand_over(error)
        else:
            self._hand_over(None)

    def _read(self, path: Path, start: int, end: int, expected_sha256: str | None) -> None:
        try:
            file = path.open("rb", buffering=0)
        except FileNotFoundError:
            raise BlobNotFound(path.name) from None
        digest = hashlib.sha256()
        with file:
            file.seek(start)
            remaining = end - start
            while remaining > 0:
                self._room.acquire()
                if self._stopped:
                    return
                chunk = file.read(min(READ_CHUNK_BYTES, remaining))
                if not chunk:
                    raise OSError(f"blob {path.name} ended {remaining} bytes early")
                remaining -= len(chunk)
                if expected_sha256 is not None:
                    digest.update(chunk)
                self._hand_over(chunk)
        if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
            raise BlobCorrupt(expected_sha256)

    def _hand_over(self, item: bytes | Exception | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody reads any more
            self._loop.call_soon_threadsafe(self._chunks.put_nowait, item)


@contextlib.contextmanager
def _unavailable_on_os_error() -> Iterator[None]:
    """The disk's failures (full, read-only, gone) as the store's: 503 storage_unavailable."""
    try:
        yield
    except OSError as error:
        raise StorageUnavailable() from error
