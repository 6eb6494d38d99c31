"""Key files in the data folder, made once even when several processes start together."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from klageapi.core.files import read_or_create


def _race(path: str, mine: bytes, start: multiprocessing.synchronize.Event) -> bytes:
    start.wait()
    return read_or_create(Path(path), lambda: mine)


def test_processes_racing_to_create_a_key_all_get_the_first_ones(tmp_path: Path) -> None:
    path = tmp_path / "folder" / "key"
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Event()
        with context.Pool(6) as pool:
            pending = [
                pool.apply_async(_race, (str(path), f"key {n}".encode(), start)) for n in range(6)
            ]
            start.set()
            got = {result.get(timeout=60) for result in pending}

    assert len(got) == 1
    assert got == {path.read_bytes()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["key"]  # no private copies left


def test_an_existing_key_is_read_and_never_made_again(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"kept")

    def fail() -> bytes:
        raise AssertionError("made a key that existed")

    assert read_or_create(path, fail) == b"kept"
