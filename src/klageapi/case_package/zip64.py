"""A streamed ZIP of stored (uncompressed) members whose sizes and CRC-32s are known up front.

Knowing them, each local header carries the real sizes and CRC-32 (in a ZIP64 extra field, so
no member is limited to 4 GiB), so no data descriptors follow the data, and the member's bytes
pass from the source to the client untouched: nothing is copied, compressed or hashed here.
Every member is written as ZIP64, as stream-zip's NO_COMPRESSION_64 did before this.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass

__all__ = [
    "Member",
    "MemberSizeMismatch",
    "central_directory",
    "local_header",
    "stored_zip",
    "stored_zip_size",
]

_VERSION = 45  # 4.5: ZIP64
_MADE_BY = (3 << 8) | _VERSION  # Unix, so that the external attributes carry the file mode
_UTF8_NAMES = 0x0800
_STORED = 0
_FULL32 = 0xFFFFFFFF
_FULL16 = 0xFFFF
_ZIP64_EXTRA = 0x0001

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_LOCAL_EXTRA = 20  # the ZIP64 field of a local header: id, length, two sizes
_CENTRAL_EXTRA = 28  # ... of a central directory record: id, length, two sizes, an offset


class MemberSizeMismatch(Exception):
    """A member's source gave another number of bytes than declared; the ZIP is cut off."""

    def __init__(self, name: str, *, declared: int, actual: int) -> None:
        super().__init__(f"{name}: {actual} bytes instead of the {declared} declared")


@dataclass(frozen=True)
class Member:
    """One file in the ZIP: its name, exact size and CRC-32, and its bytes."""

    name: str
    size: int
    crc32: int
    chunks: AsyncIterable[bytes | memoryview]  # a view is sent as it is, not copied


def _dos_time(when: dt.datetime) -> tuple[int, int]:
    """(time, date) in MS-DOS form, to two seconds, clamped to the years it can express."""
    year = min(max(when.year, 1980), 2107)
    date = ((year - 1980) << 9) | (when.month << 5) | when.day
    time = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
    return time, date


def local_header(name: bytes, *, size: int, crc32: int, modified_at: dt.datetime) -> bytes:
    """The local file header of a stored member, with its sizes in a ZIP64 extra field."""
    time, date = _dos_time(modified_at)
    extra = struct.pack("<HHQQ", _ZIP64_EXTRA, 16, size, size)
    fixed = _LOCAL.pack(
        0x04034B50,
        _VERSION,
        _UTF8_NAMES,
        _STORED,
        time,
        date,
        crc32,
        _FULL32,
        _FULL32,
        len(name),
        len(extra),
    )
    return fixed + name + extra


def central_directory(
    entries: Iterable[tuple[bytes, int, int, int]],
    *,
    starts_at: int,
    modified_at: dt.datetime,
    mode: int,
) -> bytes:
    """The central directory, at offset `starts_at`, and the end records, for members given as
    (name, size, CRC-32, offset of the local header)."""
    time, date = _dos_time(modified_at)
    records: list[bytes] = []
    count = 0
    for name, size, crc32, offset in entries:
        extra = struct.pack("<HHQQQ", _ZIP64_EXTRA, 24, size, size, offset)
        records.append(
            _CENTRAL.pack(
                0x02014B50,
                _MADE_BY,
                _VERSION,
                _UTF8_NAMES,
                _STORED,
                time,
                date,
                crc32,
                _FULL32,
                _FULL32,
                len(name),
                len(extra),
                0,  # comment length
                0,  # disk number
                0,  # internal attributes
                (mode & 0xFFFF) << 16,
                _FULL32,
            )
            + name
            + extra
        )
        count += 1
    directory = b"".join(records)
    zip64_end_at = starts_at + len(directory)
    zip64_end = _ZIP64_END.pack(
        0x06064B50,
        _ZIP64_END.size - 12,  # the record's size, not counting its first 12 bytes
        _MADE_BY,
        _VERSION,
        0,
        0,
        count,
        count,
        len(directory),
        starts_at,
    )
    locator = _ZIP64_LOCATOR.pack(0x07064B50, 0, zip64_end_at, 1)
    end = _END.pack(0x06054B50, 0, 0, _FULL16, _FULL16, _FULL32, _FULL32, 0)
    return directory + zip64_end + locator + end


def stored_zip_size(members: Iterable[tuple[str, int]]) -> int:
    """The length in bytes of the ZIP `stored_zip` makes of members given as (name, size),
    known before any of it is produced: a download can declare its Content-Length."""
    total = _ZIP64_END.size + _ZIP64_LOCATOR.size + _END.size
    for name, size in members:
        encoded = len(name.encode())
        total += _LOCAL.size + encoded + _LOCAL_EXTRA + size
        total += _CENTRAL.size + encoded + _CENTRAL_EXTRA
    return total


async def stored_zip(
    members: AsyncIterable[Member], *, modified_at: dt.datetime, mode: int
) -> AsyncIterator[bytes | memoryview]:
    """The ZIP's bytes as they are produced: each member's header, then its bytes as its source
    yields them, then the central directory. A source that yields more or fewer bytes than its
    member declared stops the ZIP before the directory (MemberSizeMismatch), so the client is
    left with no readable ZIP rather than a wrong one."""
    entries: list[tuple[bytes, int, int, int]] = []
    offset = 0
    async for member in members:
        name = member.name.encode()
        header = local_header(name, size=member.size, crc32=member.crc32, modified_at=modified_at)
        entries.append((name, member.size, member.crc32, offset))
        yield header
        written = 0
        async for chunk in member.chunks:
            written += len(chunk)
            if written > member.size:
                break
            yield chunk
        if written != member.size:
            raise MemberSizeMismatch(member.name, declared=member.size, actual=written)
        offset += len(header) + written
    yield central_directory(entries, starts_at=offset, modified_at=modified_at, mode=mode)
