"""Files in the data folder that are made once and then only read (keys)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["read_or_create"]


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The file's bytes; if it does not exist yet, it is created with `make()` (mode 0600).

    Several processes starting at once on one data folder (`serve --workers`) all end up with
    the same bytes: the file appears whole (written under a private name, then hard-linked into
    place, which fails if another process got there first), and only the first one counts.
    """
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    private = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(make())
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(private, path)
    finally:
        private.unlink()
    return path.read_bytes()
