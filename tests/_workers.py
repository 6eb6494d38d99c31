"""The run's checks across pytest-xdist's workers.

The suite runs in two worker processes (`-n 2` in pyproject.toml). A check of the whole run (the
leak scan, the problem codes) is made by each worker on what its own tests did; the worker hands
its result to the controller, which joins them, prints one summary and fails the run on any
finding. Run in one process (`-n 0`), the same process makes the check and reads it back.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["hand_over", "handed_over", "is_worker"]

_received: dict[str, list[Any]] = {}


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workeroutput")


def hand_over(config: pytest.Config, key: str, result: Any) -> None:
    """Give the controller `result` (plain JSON data), or keep it here without workers."""
    if is_worker(config):
        config.workeroutput[key] = result  # type: ignore[attr-defined]
    else:
        _received.setdefault(key, []).append(result)


def handed_over(key: str) -> list[Any]:
    """The results handed over under `key`: one per worker that ran tests."""
    return _received.get(key, [])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """A worker ended: keep what it handed over (the controller's end of `hand_over`)."""
    for key, result in getattr(node, "workeroutput", {}).items():
        if key.startswith("klageapi-"):
            _received.setdefault(key, []).append(result)
