"""The stored ZIP64 writer on its own: readable by zipfile, sizes past 4 GiB in its headers."""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator

import pytest

from klageapi.case_package.zip64 import (
    Member,
    MemberSizeMismatch,
    central_directory,
    local_header,
    stored_zip,
    stored_zip_size,
)

MODIFIED = dt.datetime(2026, 11, 23, 14, 30, 58, tzinfo=dt.UTC)
FIVE_GIB = 5 * 1024**3


async def _chunks(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _members(*members: Member) -> AsyncIterator[Member]:
    for member in members:
        yield member


def _member(name: str, *pieces: bytes) -> Member:
    data = b"".join(pieces)
    return Member(name, len(data), zlib.crc32(data), _chunks(*pieces))


async def _zip(*members: Member) -> bytes:
    return b"".join(
        [
            chunk
            async for chunk in stored_zip(_members(*members), modified_at=MODIFIED, mode=0o100644)
        ]
    )


async def test_members_come_out_stored_whole_and_in_order() -> None:
    first = _member("manifest.json", b'{"a": 1}')
    second = _member("documents/001-appeal.pdf", b"%PDF-1.7 ", b"x" * 300_000, b"%%EOF")
    empty = _member("documents/002-empty.bin")

    with zipfile.ZipFile(io.BytesIO(await _zip(first, second, empty))) as archive:
        assert archive.testzip() is None  # every CRC-32 checks out
        infos = archive.infolist()
        assert [info.filename for info in infos] == [
            "manifest.json",
            "documents/001-appeal.pdf",
            "documents/002-empty.bin",
        ]
        assert {info.compress_type for info in infos} == {zipfile.ZIP_STORED}
        assert archive.read("manifest.json") == b'{"a": 1}'
        assert archive.read("documents/001-appeal.pdf") == b"%PDF-1.7 " + b"x" * 300_000 + b"%%EOF"
        assert archive.read("documents/002-empty.bin") == b""
        assert {info.date_time for info in infos} == {(2026, 11, 23, 14, 30, 58)}
        assert {info.external_attr >> 16 for info in infos} == {0o100644}


async def test_the_size_is_known_before_the_zip_is_made() -> None:
    members = [("manifest.json", b"{}"), ("documents/001-å.pdf", b"%PDF" * 1000), ("e", b"")]

    produced = await _zip(*(_member(name, data) for name, data in members))

    assert stored_zip_size((name, len(data)) for name, data in members) == len(produced)


async def test_the_same_members_make_the_same_bytes() -> None:
    assert await _zip(_member("a.txt", b"abc")) == await _zip(_member("a.txt", b"abc"))


@pytest.mark.parametrize("given", [b"too short", b"far too long for what was declared"])
async def test_a_source_of_another_size_stops_the_zip_before_its_directory(given: bytes) -> None:
    member = Member("a.pdf", 20, zlib.crc32(given), _chunks(given))
    produced: list[bytes] = []

    with pytest.raises(MemberSizeMismatch):
        async for chunk in stored_zip(_members(member), modified_at=MODIFIED, mode=0o100644):
            produced.append(chunk)

    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(b"".join(produced)))


def test_a_local_header_carries_sizes_past_4_gib_in_its_zip64_field() -> None:
    header = local_header(b"big.pdf", size=FIVE_GIB, crc32=0x12345678, modified_at=MODIFIED)

    fields = struct.unpack("<IHHHHHIIIHH", header[:30])
    signature, version, _, method, _, _, crc32, compressed, size, name_length, extra_length = fields
    assert (signature, version, method, crc32) == (0x04034B50, 45, 0, 0x12345678)
    assert (compressed, size) == (0xFFFFFFFF, 0xFFFFFFFF)  # see the ZIP64 field
    assert header[30 : 30 + name_length] == b"big.pdf"
    extra = header[30 + name_length :]
    assert extra_length == len(extra) == 20
    assert struct.unpack("<HHQQ", extra) == (0x0001, 16, FIVE_GIB, FIVE_GIB)


def test_a_directory_past_4_gib_is_read_by_zipfile_with_its_sizes_and_offsets() -> None:
    # A 5 GiB member followed by a small one, without the 5 GiB: zipfile reads the directory
    # from the end, so the member offsets and sizes it reports are what the records say.
    small_at = 30 + len(b"big.pdf") + 20 + FIVE_GIB
    directory_at = small_at + 30 + len(b"small.txt") + 20 + 3
    entries = [
        (b"big.pdf", FIVE_GIB, 0x12345678, 0),
        (b"small.txt", 3, zlib.crc32(b"abc"), small_at),
    ]
    tail = central_directory(entries, starts_at=directory_at, modified_at=MODIFIED, mode=0o100644)

    class _Sparse(io.RawIOBase):
        """The ZIP's tail placed at its real offset, with nothing but zeros before it."""

        def __init__(self) -> None:
            self.position = 0

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def seek(self, offset: int, whence: int = 0) -> int:
            end = directory_at + len(tail)
            self.position = {0: offset, 1: self.position + offset, 2: end + offset}[whence]
            return self.position

        def tell(self) -> int:
            return self.position

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            start = self.position - directory_at
            zeros = bytes(min(len(buffer), -start)) if start < 0 else b""
            data = zeros or tail[start : start + len(buffer)]
            buffer[: len(data)] = data
            self.position += len(data)
            return len(data)

    with zipfile.ZipFile(_Sparse()) as archive:
        big, small = archive.infolist()

    assert (big.filename, big.file_size, big.compress_size, big.header_offset) == (
        "big.pdf",
        FIVE_GIB,
        FIVE_GIB,
        0,
    )
    assert (big.CRC, big.compress_type) == (0x12345678, zipfile.ZIP_STORED)
    assert (small.filename, small.file_size, small.header_offset) == ("small.txt", 3, small_at)
