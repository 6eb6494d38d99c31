"""Blob storage, the same scenarios on both backends: a folder on disk and S3 (SeaweedFS)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
import tracemalloc
import uuid
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import obstore
import pytest

from klageapi.document import filesystem_store
from klageapi.document.seaweedfs import SeaweedFS
from klageapi.document.storage import (
    BlobDigestMismatch,
    BlobNotFound,
    BlobRangeNotSatisfiable,
    BlobStore,
    BlobTooLarge,
    EmptyBlob,
    FilesystemBlobStore,
)

MiB = 1024 * 1024


@dataclass
class Backend:
    """A store under test, and a look at everything it left (files or keys) that bypasses it."""

    store: BlobStore
    leftovers: Callable[[], list[str]]


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "filesystem":
        root = tmp_path / "documents"
        store = FilesystemBlobStore(root)
        return Backend(
            store, lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        )
    seaweedfs: SeaweedFS = request.getfixturevalue("seaweedfs")
    prefix = f"test-{uuid.uuid4().hex}"  # one bucket, a key prefix of its own for each test
    return Backend(
        seaweedfs.blob_store(prefix=prefix),
        lambda: seaweedfs.keys(prefix=prefix) + seaweedfs.unfinished_uploads(),
    )


def _pieces(size: int, *, seed: int = 0, chunk: int = 100_003) -> list[bytes]:
    """Deterministic bytes in uneven chunks, so chunk and part boundaries do not line up."""
    rng = random.Random(seed)
    sizes = [chunk] * (size // chunk) + ([size % chunk] if size % chunk else [])
    return [rng.randbytes(n) for n in sizes]


async def _stream(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def test_a_multi_chunk_blob_round_trips_with_its_sha256_and_size(backend: Backend) -> None:
    pieces = _pieces(6 * MiB + 12_345)
    data = b"".join(pieces)

    stored = await backend.store.put(_stream(pieces), max_size=10 * MiB)

    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert stored.crc32 == zlib.crc32(data)
    assert await backend.store.size(stored.sha256) == len(data)
    assert await backend.store.exists(stored.sha256)
    stream = await backend.store.open(stored.sha256)
    assert (stream.size, stream.start, stream.end, stream.length) == (
        len(data),
        0,
        len(data),
        len(data),
    )
    chunks = [chunk async for chunk in stream]
    assert b"".join(chunks) == data
    assert len(chunks) > 1 and max(map(len, chunks)) <= MiB


async def test_identical_content_is_stored_once(backend: Backend) -> None:
    pieces = _pieces(2 * MiB, seed=1)

    first = await backend.store.put(_stream(pieces), max_size=10 * MiB)
    second = await backend.store.put(_stream(pieces), max_size=10 * MiB)

    assert first == second
    assert backend.leftovers() == [_blob_path(backend, first.sha256)]


async def test_concurrent_puts_of_the_same_content_leave_one_blob(backend: Backend) -> None:
    pieces = _pieces(MiB, seed=2)

    results = await asyncio.gather(
        *(backend.store.put(_stream(pieces), max_size=10 * MiB) for _ in range(4))
    )

    assert len(set(results)) == 1
    assert backend.leftovers() == [_blob_path(backend, results[0].sha256)]


SIZE = 300_001


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, None, slice(0, SIZE)),  # whole
        (1000, 200_000, slice(1000, 200_000)),
        (SIZE - 1, None, slice(SIZE - 1, SIZE)),  # the last byte, open-ended
        (SIZE - 1, SIZE, slice(SIZE - 1, SIZE)),  # the last byte, closed
        (0, 1, slice(0, 1)),  # the first byte
        (250_000, SIZE + 999, slice(250_000, SIZE)),  # an end past the blob is cut to its size
        (SIZE, None, slice(SIZE, SIZE)),  # nothing, at the very end
        (500, 500, slice(500, 500)),  # nothing
    ],
)
async def test_a_range_reads_exactly_its_bytes(
    backend: Backend, start: int, end: int | None, expected: slice
) -> None:
    data = b"".join(_pieces(SIZE, seed=3))
    stored = await backend.store.put(_stream([data]), max_size=MiB)

    stream = await backend.store.open(stored.sha256, start=start, end=end)

    assert (stream.start, stream.end, stream.size) == (expected.start, expected.stop, SIZE)
    assert b"".join([chunk async for chunk in stream]) == data[expected]


@pytest.mark.parametrize(("start", "end"), [(SIZE + 1, None), (10, 5), (-1, None)])
async def test_a_range_outside_the_blob_is_refused(
    backend: Backend, start: int, end: int | None
) -> None:
    stored = await backend.store.put(_stream(_pieces(SIZE, seed=3)), max_size=MiB)

    with pytest.raises(BlobRangeNotSatisfiable) as caught:
        await backend.store.open(stored.sha256, start=start, end=end)

    assert caught.value.size == SIZE


async def test_too_large_is_refused_at_once_and_leaves_nothing(backend: Backend) -> None:
    consumed = 0

    async def eight_mib() -> AsyncIterator[bytes]:
        nonlocal consumed
        for piece in _pieces(8 * MiB, seed=4, chunk=64 * 1024):
            consumed += len(piece)
            yield piece

    with pytest.raises(BlobTooLarge) as caught:
        await backend.store.put(eight_mib(), max_size=3 * MiB)

    assert caught.value.limit == 3 * MiB
    assert consumed <= 3 * MiB + 64 * 1024  # stopped at the first chunk past the limit
    assert backend.leftovers() == []


async def test_exactly_the_limit_is_accepted(backend: Backend) -> None:
    stored = await backend.store.put(_stream(_pieces(MiB, seed=5)), max_size=MiB)

    assert stored.size == MiB


async def test_empty_is_refused_and_leaves_nothing(backend: Backend) -> None:
    with pytest.raises(EmptyBlob):
        await backend.store.put(_stream([]), max_size=MiB)
    with pytest.raises(EmptyBlob):
        await backend.store.put(_stream([b"", b""]), max_size=MiB)

    assert backend.leftovers() == []


async def test_the_expected_sha256_is_accepted(backend: Backend) -> None:
    pieces = _pieces(3 * MiB, seed=8)
    expected = hashlib.sha256(b"".join(pieces)).hexdigest()

    stored = await backend.store.put(_stream(pieces), max_size=10 * MiB, expected_sha256=expected)

    assert stored.sha256 == expected
    assert backend.leftovers() == [_blob_path(backend, expected)]


async def test_bytes_of_another_sha256_than_expected_are_refused_and_leave_nothing(
    backend: Backend,
) -> None:
    pieces = _pieces(3 * MiB, seed=9)
    other = hashlib.sha256(b"other bytes").hexdigest()

    with pytest.raises(BlobDigestMismatch) as caught:
        await backend.store.put(_stream(pieces), max_size=10 * MiB, expected_sha256=other)

    assert caught.value.actual == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert backend.leftovers() == []


async def test_a_large_upload_is_flushed_behind_the_writes_and_stored_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushes: list[int] = []
    real_fdatasync = os.fdatasync

    def counted(fd: int) -> None:
        flushes.append(fd)
        real_fdatasync(fd)

    monkeypatch.setattr(filesystem_store, "_SYNC_BEHIND_BYTES", 2 * MiB)
    monkeypatch.setattr(filesystem_store.os, "fdatasync", counted)
    store = FilesystemBlobStore(tmp_path / "documents")
    pieces = _pieces(12 * MiB, seed=10, chunk=256 * 1024)

    stored = await store.put(_stream(pieces), max_size=20 * MiB)

    assert flushes  # flushed while the upload went on, not only at the end
    assert store.path(stored.sha256).read_bytes() == b"".join(pieces)


async def test_a_failing_upload_leaves_nothing(backend: Backend) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * MiB
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await backend.store.put(broken(), max_size=10 * MiB)

    assert backend.leftovers() == []


async def test_a_missing_blob_has_no_size_and_cannot_be_opened(backend: Backend) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()

    assert await backend.store.size(missing) is None
    assert not await backend.store.exists(missing)
    with pytest.raises(BlobNotFound):
        await backend.store.open(missing)
    with pytest.raises(BlobNotFound):
        await backend.store.open(missing, start=5, end=5)


@pytest.mark.parametrize("key", ["../../etc/passwd", "A" * 64, "abc", ""])
async def test_a_key_that_is_not_a_sha256_is_refused(backend: Backend, key: str) -> None:
    with pytest.raises(ValueError, match="not a lowercase hex sha256"):
        await backend.store.size(key)
    with pytest.raises(ValueError, match="not a lowercase hex sha256"):
        await backend.store.open(key)


async def test_a_blob_is_invisible_until_its_upload_completes(backend: Backend) -> None:
    pieces = _pieces(6 * MiB, seed=6)
    sha256 = hashlib.sha256(b"".join(pieces)).hexdigest()
    halfway, resume = asyncio.Event(), asyncio.Event()

    async def paused() -> AsyncIterator[bytes]:
        for index, piece in enumerate(pieces):
            if index == len(pieces) // 2:
                halfway.set()
                await resume.wait()
            yield piece

    upload = asyncio.create_task(backend.store.put(paused(), max_size=10 * MiB))
    await halfway.wait()
    await asyncio.sleep(0.2)  # let the first part reach the disk or the server

    assert await backend.store.size(sha256) is None
    assert not await backend.store.exists(sha256)
    with pytest.raises(BlobNotFound):
        await backend.store.open(sha256)

    resume.set()
    assert (await upload).sha256 == sha256
    assert await backend.store.size(sha256) == 6 * MiB


async def test_a_stream_closed_early_can_be_closed_again(backend: Backend) -> None:
    stored = await backend.store.put(_stream(_pieces(2 * MiB, seed=7)), max_size=10 * MiB)
    stream = await backend.store.open(stored.sha256)

    first = await anext(aiter(stream))
    await stream.aclose()
    await stream.aclose()

    assert len(first) > 0


async def test_a_64_mib_upload_is_not_held_in_memory(backend: Backend) -> None:
    block = random.Random(8).randbytes(64 * 1024)
    count = 64 * MiB // len(block)
    expected = hashlib.sha256()

    async def sixty_four_mib() -> AsyncIterator[bytes]:
        for _ in range(count):
            chunk = bytes(memoryview(block))  # a fresh object, as from a socket
            expected.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        stored = await backend.store.put(sixty_four_mib(), max_size=100 * MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (stored.size, stored.sha256) == (64 * MiB, expected.hexdigest())
    # The filesystem store writes a 1 MiB batch while the next one arrives; the S3 store keeps
    # two 5 MiB parts in flight.
    bound = 6 * MiB if isinstance(backend.store, FilesystemBlobStore) else 16 * MiB
    assert peak < bound, f"peak Python allocation {peak / MiB:.1f} MiB for a 64 MiB blob"


async def test_the_filesystem_sweep_removes_stale_temp_files_only(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    stale, fresh = tmp_path / "tmp" / "stale.part", tmp_path / "tmp" / "fresh.part"
    stale.write_bytes(b"half an upload from before a crash")
    fresh.write_bytes(b"an upload going on right now")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(stale, (two_hours_ago, two_hours_ago))

    removed = await store.sweep_partial(older_than=timedelta(hours=1))

    assert removed == 1
    assert not stale.exists()
    assert fresh.exists()


async def test_a_filesystem_temp_file_is_never_served(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    data = b"a partial upload named after its hash"
    sha256 = hashlib.sha256(data).hexdigest()
    (tmp_path / "tmp" / sha256).write_bytes(data)
    (tmp_path / "tmp" / f"{sha256}.part").write_bytes(data)

    assert await store.size(sha256) is None
    with pytest.raises(BlobNotFound):
        await store.open(sha256)


async def test_a_filesystem_blob_lands_in_a_fanned_out_folder(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)

    stored = await store.put(_stream([b"fan out"]), max_size=MiB)

    path = tmp_path / "sha256" / stored.sha256[:2] / stored.sha256[2:4] / stored.sha256
    assert path.read_bytes() == b"fan out"
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_the_s3_sweep_removes_stale_temp_keys_only(seaweedfs: SeaweedFS) -> None:
    prefix = f"test-{uuid.uuid4().hex}"
    store = seaweedfs.blob_store(prefix=prefix)
    raw = seaweedfs.raw(prefix=prefix)
    await obstore.put_async(raw, "tmp/left-by-a-crash", b"half an upload")
    await asyncio.sleep(2.1)  # S3 keeps whole seconds: the two are two or more apart
    await obstore.put_async(raw, "tmp/going-on-now", b"an upload going on right now")
    stamps = {
        meta["path"]: meta["last_modified"]
        async for batch in obstore.list(raw, prefix="tmp/")
        for meta in batch
    }
    # The cutoff halfway between the two, however long the machine took to get here.
    first, second = stamps["tmp/left-by-a-crash"], stamps["tmp/going-on-now"]
    halfway = first + (second - first) / 2

    removed = await store.sweep_partial(older_than=datetime.now(UTC) - halfway)

    assert removed == 1
    assert seaweedfs.keys(prefix=prefix) == ["tmp/going-on-now"]


def _blob_path(backend: Backend, sha256: str) -> str:
    if isinstance(backend.store, FilesystemBlobStore):
        return f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"
    return f"sha256/{sha256}"
