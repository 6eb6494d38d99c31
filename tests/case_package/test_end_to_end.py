"""The whole journey of an appeal over HTTP, from NAV's registration to the Statsforvalter's
decision, on both blob stores: a folder on disk and S3 (SeaweedFS)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from klageapi.core.clock import FixedClock
from tests.case_package.eformidling import checked
from tests.conftest import SF_ROGALAND_ORG
from tests.document.conftest import Backend, backend_of
from tests.document.conftest import seaweedfs as s3_server  # noqa: F401  (the fixture, renamed)
from tests.factories import NATIONAL_ID, appeal_body
from tests.journey import AuthHeaders, Json, pdf, png

SF = SF_ROGALAND_ORG


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest, app: FastAPI) -> Backend:
    return backend_of(request, app, prefix="journey")


async def _chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _ok(response: httpx.Response, status: int = 200) -> Json:
    assert response.status_code == status, response.text
    body: Json = response.json()
    return body


def _unzipped(bundle: bytes) -> tuple[Json, list[bytes]]:
    """The manifest and the documents of a bundle, each document checked against the
    manifest's size and sha256, and its archive files as eFormidling would check them."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        names = archive.namelist()
        assert names[:3] == ["manifest.json", "arkivmelding.xml", "sbd.json"]
        checked(archive)
        manifest: Json = json.loads(archive.read("manifest.json"))
        files = [archive.read(name) for name in names[3:]]
    listed: list[dict[str, Any]] = manifest["documents"]
    assert len(files) == len(listed)
    for data, document in zip(files, listed, strict=True):
        assert len(data) == document["size"]
        assert hashlib.sha256(data).hexdigest() == document["sha256"]
    return manifest, files


async def test_an_appeal_travels_from_nav_to_the_statsforvalters_decision(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock, backend: Backend
) -> None:
    # NAV registers the appeal and starts its preparatory review.
    appeal = _ok(await client.post("/v1/appeals", json=appeal_body(), headers=auth()), 201)
    appeal_id = appeal["id"]
    assert appeal["statsforvalter_office_id"] == "sf-rogaland"
    clock.advance(dt.timedelta(hours=1))
    _ok(await client.post(f"/v1/appeals/{appeal_id}/nav-review", headers=auth()))

    # NAV uploads the four required documents, one streamed in chunks.
    uploads: dict[str, bytes] = {}
    sizes = {
        "appeal": 40_000,
        "decision": 6 * 1024 * 1024 + 1,
        "forwarding_letter": 90_000,
        "application": 20_000,
    }
    for category, size in sizes.items():
        data = pdf(size)
        document = _ok(
            await client.post(
                f"/v1/appeals/{appeal_id}/documents",
                params={"category": category, "title": category.replace("_", " ")},
                content=_chunks(data),
                headers={**auth(), "Content-Type": "application/pdf"},
            ),
            201,
        )
        assert document["sha256"] == hashlib.sha256(data).hexdigest()
        uploads[document["id"]] = data

    # NAV keeps its decision and forwards the case.
    clock.advance(dt.timedelta(days=1))
    current = await client.get(f"/v1/appeals/{appeal_id}", headers=auth())
    _ok(
        await client.post(
            f"/v1/appeals/{appeal_id}/nav-outcome",
            json={"outcome": "upheld", "decided_on": "2026-11-03", "reasoning": "Riktig."},
            headers={**auth(), "If-Match": current.headers["etag"]},
        )
    )
    package = _ok(await client.post(f"/v1/appeals/{appeal_id}/packages", headers=auth()), 201)

    # The Statsforvalter pulls its feed and downloads the bundle.
    clock.advance(dt.timedelta(days=1))
    feed = _ok(await client.get("/v1/packages?status=awaiting_receipt", headers=auth(org=SF)))
    assert [p["id"] for p in feed["items"]] == [package["id"]]
    assert feed["items"][0]["waited_working_days"] == 1
    read = _ok(await client.get(f"/v1/packages/{package['id']}", headers=auth(org=SF)))
    assert read["manifest"]["appeal"]["national_id"] == NATIONAL_ID
    bundle = await client.get(f"/v1/packages/{package['id']}/bundle", headers=auth(org=SF))
    assert bundle.status_code == 200
    manifest, files = _unzipped(bundle.content)
    assert manifest == read["manifest"]
    assert {d["id"]: f for d, f in zip(manifest["documents"], files, strict=True)} == uploads
    assert all(backend.holds(d["sha256"]) for d in manifest["documents"])

    # It acknowledges under its own case number, starts work and asks for more.
    received = _ok(
        await client.post(
            f"/v1/packages/{package['id']}/receipt",
            json={"statsforvalter_case_number": "2026/4711"},
            headers=auth(org=SF),
        )
    )
    assert received["status"] == "received"
    clock.advance(dt.timedelta(hours=2))
    _ok(await client.post(f"/v1/appeals/{appeal_id}/statsforvalter-review", headers=auth(org=SF)))
    request = _ok(
        await client.post(
            f"/v1/appeals/{appeal_id}/documentation-requests",
            json={"description": "Send husleiekontrakten.", "due_on": "2026-11-18"},
            headers=auth(org=SF),
        ),
        201,
    )

    # NAV sees the open request, uploads the answer and fulfils it.
    clock.advance(dt.timedelta(days=2))
    requests = _ok(
        await client.get(f"/v1/appeals/{appeal_id}/documentation-requests", headers=auth())
    )
    assert [(r["id"], r["status"]) for r in requests["items"]] == [(request["id"], "open")]
    contract = png(150_000)
    answer = _ok(
        await client.post(
            f"/v1/appeals/{appeal_id}/documents",
            params={"category": "documentation_response", "title": "Husleiekontrakt"},
            content=contract,
            headers={**auth(), "Content-Type": "image/png"},
        ),
        201,
    )
    supplementary = _ok(
        await client.post(
            f"/v1/documentation-requests/{request['id']}/fulfilment",
            json={"document_ids": [answer["id"]]},
            headers=auth(),
        ),
        201,
    )

    # The Statsforvalter finds the supplementary package, downloads and acknowledges it.
    clock.advance(dt.timedelta(hours=1))
    feed = _ok(await client.get("/v1/packages?status=awaiting_receipt", headers=auth(org=SF)))
    assert [(p["id"], p["kind"]) for p in feed["items"]] == [(supplementary["id"], "supplementary")]
    bundle = await client.get(f"/v1/packages/{supplementary['id']}/bundle", headers=auth(org=SF))
    manifest, files = _unzipped(bundle.content)
    assert [d["id"] for d in manifest["documents"]] == [answer["id"]]
    assert files == [contract]
    _ok(
        await client.post(
            f"/v1/packages/{supplementary['id']}/receipt",
            json={"statsforvalter_case_number": "2026/4711"},
            headers=auth(org=SF),
        )
    )

    # It uploads its decision document and decides.
    clock.advance(dt.timedelta(days=1))
    letter = pdf(25_000)
    decision_document = _ok(
        await client.post(
            f"/v1/appeals/{appeal_id}/documents",
            params={"category": "statsforvalter_decision", "title": "Vedtak"},
            content=letter,
            headers={**auth(org=SF), "Content-Type": "application/pdf"},
        ),
        201,
    )
    current = await client.get(f"/v1/appeals/{appeal_id}", headers=auth(org=SF))
    decided = _ok(
        await client.post(
            f"/v1/appeals/{appeal_id}/decision",
            json={
                "outcome": "upheld",
                "decided_on": clock.today().isoformat(),
                "document_id": decision_document["id"],
            },
            headers={**auth(org=SF), "If-Match": current.headers["etag"]},
        )
    )
    assert (decided["status"], decided["statsforvalter_klage_outcome"]) == (
        "decided",
        "STADFESTER",
    )
    assert decided["statsforvalter_case_number"] == "2026/4711"
    content = await client.get(f"/v1/documents/{decision_document['id']}/content", headers=auth())
    assert content.content == letter
    assert backend.holds(answer["sha256"]) and backend.holds(decision_document["sha256"])

    history = _ok(await client.get(f"/v1/appeals/{appeal_id}/history", headers=auth()))
    assert [entry["action"] for entry in history["entries"]] == [
        "register",
        "start_nav_review",
        "record_nav_outcome",
        "forward",
        "acknowledge_receipt",
        "start_statsforvalter_review",
        "request_documentation",
        "fulfil_documentation",
        "acknowledge_supplementary",
        "decide",
    ]
    assert [span["status"] for span in history["time_in_states"]] == [
        "received",
        "under_nav_review",
        "forwarded",
        "received_by_statsforvalter",
        "under_statsforvalter_review",
        "awaiting_documentation",
        "under_statsforvalter_review",
        "decided",
    ]
