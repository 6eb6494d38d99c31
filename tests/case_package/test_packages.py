"""Forwarding and the Statsforvalter's side over HTTP: the frozen package, the pull feed, the
bundle, receipts, rejections, documentation requests and the decision; what each step stores,
and what each refusal leaves untouched."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import threading
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.case_package import bundle
from klageapi.case_package.bundle import BundleIntegrityError
from klageapi.core.clock import FixedClock
from klageapi.document.blob import BlobNotFound
from klageapi.models import (
    Appeal,
    AppealHistory,
    AuditEntry,
    CasePackage,
    Document,
    DocumentationRequest,
    Event,
)
from tests.conftest import NAV_OSLO_ORG, NAV_STAVANGER_ORG, NOW, OTHER_ORG, SF_ROGALAND_ORG
from tests.factories import NATIONAL_ID
from tests.journey import (
    REQUIRED,
    SF_OSLO_ORG,
    AuthHeaders,
    Json,
    acknowledge,
    carries_national_id,
    events_of,
    forward,
    forwarded,
    pdf,
    ready_to_forward,
    record_nav_outcome,
    register,
    request_documentation,
    start_nav_review,
    under_statsforvalter_review,
    upload,
)

ROGALAND = "sf-rogaland"
OSLO = "sf-oslo-akershus-ostfold-buskerud"


# -- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """Everything a refused request must leave as it was."""

    appeal: tuple[Any, ...]
    history: int
    events: int
    audit: int
    documents: int
    packages: list[tuple[Any, ...]]
    requests: list[tuple[Any, ...]]


async def state_of(session: AsyncSession, appeal_id: str) -> State:
    # Column queries, not the identity map: the database as it is now.
    key = uuid.UUID(appeal_id)
    appeal = (
        await session.execute(
            select(
                Appeal.status,
                Appeal.version,
                Appeal.statsforvalter_office_id,
                Appeal.statsforvalter_case_number,
                Appeal.statsforvalter_outcome,
            ).where(Appeal.id == key)
        )
    ).one()
    packages = await session.execute(
        select(
            CasePackage.id,
            CasePackage.status,
            CasePackage.statsforvalter_office_id,
            CasePackage.statsforvalter_case_number,
            CasePackage.rejection_reason,
        )
        .where(CasePackage.appeal_id == key)
        .order_by(CasePackage.frozen_at, CasePackage.id)
    )
    requests = await session.execute(
        select(DocumentationRequest.id, DocumentationRequest.status)
        .where(DocumentationRequest.appeal_id == key)
        .order_by(DocumentationRequest.requested_at)
    )

    async def rows(model: type[Any], *where: Any) -> int:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return State(
        appeal=tuple(appeal),
        history=await rows(AppealHistory, AppealHistory.appeal_id == key),
        events=await rows(Event, Event.appeal_id == key),
        audit=await rows(AuditEntry),
        documents=await rows(Document, Document.appeal_id == key),
        packages=[tuple(row) for row in packages.all()],
        requests=[tuple(row) for row in requests.all()],
    )


async def get_appeal(client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str) -> Json:
    response = await client.get(f"/v1/appeals/{appeal_id}", headers=auth())
    assert response.status_code == 200, response.text
    appeal: Json = response.json()
    return appeal


async def feed(
    client: httpx.AsyncClient, auth: AuthHeaders, org: str = SF_ROGALAND_ORG, **params: str
) -> list[Json]:
    response = await client.get("/v1/packages", params=params, headers=auth(org=org))
    assert response.status_code == 200, response.text
    items: list[Json] = response.json()["items"]
    return items


async def bundle_of(
    client: httpx.AsyncClient, auth: AuthHeaders, package_id: str, org: str = SF_ROGALAND_ORG
) -> bytes:
    response = await client.get(f"/v1/packages/{package_id}/bundle", headers=auth(org=org))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return response.content


def by_id(documents: list[Json]) -> dict[str, Json]:
    return {document["id"]: document for document in documents}


async def reject(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    package_id: str,
    org: str = SF_ROGALAND_ORG,
    **body: Any,
) -> httpx.Response:
    return await client.post(
        f"/v1/packages/{package_id}/rejection", json=body, headers=auth(org=org)
    )


async def fulfil(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    request_id: str,
    document_ids: list[str],
    org: str = NAV_STAVANGER_ORG,
) -> httpx.Response:
    return await client.post(
        f"/v1/documentation-requests/{request_id}/fulfilment",
        json={"document_ids": document_ids},
        headers=auth(org=org),
    )


async def decide(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    appeal_id: str,
    document_id: str,
    *,
    if_match: str | None,
    outcome: str = "upheld",
    org: str = SF_ROGALAND_ORG,
) -> httpx.Response:
    headers = auth(org=org) | ({"If-Match": if_match} if if_match is not None else {})
    return await client.post(
        f"/v1/appeals/{appeal_id}/decision",
        json={"outcome": outcome, "decided_on": "2026-11-02", "document_id": document_id},
        headers=headers,
    )


async def etag_of(client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str) -> str:
    response = await client.get(f"/v1/appeals/{appeal_id}", headers=auth(org=SF_ROGALAND_ORG))
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def blob_path(app: FastAPI, sha256: str) -> Path:
    root: Path = app.state.blob_store.root
    return root / "sha256" / sha256[:2] / sha256[2:4] / sha256


# -- forwarding ------------------------------------------------------------------------------


async def test_forward_before_navs_outcome_is_refused_with_409(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)
    await start_nav_review(client, auth, appeal["id"])
    for category in REQUIRED:
        await upload(client, auth, appeal["id"], category=category)
    before = await state_of(session, appeal["id"])

    response = await client.post(f"/v1/appeals/{appeal['id']}/packages", headers=auth())

    assert response.status_code == 409
    assert response.json()["code"] == "nav_outcome_required"
    assert await state_of(session, appeal["id"]) == before
    assert before.packages == []


async def test_forward_of_an_appeal_nav_reversed_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)
    await start_nav_review(client, auth, appeal["id"])
    for category in REQUIRED:
        await upload(client, auth, appeal["id"], category=category)
    await record_nav_outcome(client, auth, appeal["id"], outcome="full_reversal")
    before = await state_of(session, appeal["id"])

    response = await client.post(f"/v1/appeals/{appeal['id']}/packages", headers=auth())

    assert response.status_code == 409
    assert response.json()["code"] == "transition_not_allowed"
    assert response.json()["current_status"] == "closed_by_nav"
    assert await state_of(session, appeal["id"]) == before


async def test_forward_with_a_missing_required_document_is_refused_with_422(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)
    await start_nav_review(client, auth, appeal["id"])
    await upload(client, auth, appeal["id"], category="appeal")
    await upload(client, auth, appeal["id"], category="supporting_document")
    await record_nav_outcome(client, auth, appeal["id"])
    before = await state_of(session, appeal["id"])

    response = await client.post(f"/v1/appeals/{appeal['id']}/packages", headers=auth())

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "required_documents_missing"
    assert problem["missing_categories"] == ["decision", "forwarding_letter", "application"]
    assert [e["field"] for e in problem["errors"]] == ["documents"] * 3
    assert await state_of(session, appeal["id"]) == before


async def test_forwarding_twice_is_refused_with_409(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, _ = await forwarded(client, auth)
    before = await state_of(session, appeal["id"])

    response = await client.post(f"/v1/appeals/{appeal['id']}/packages", headers=auth())

    assert response.status_code == 409
    assert response.json()["code"] == "transition_not_allowed"
    assert await state_of(session, appeal["id"]) == before
    assert len(before.packages) == 1


async def test_forward_with_a_stale_if_match_is_refused_with_412(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _ = await ready_to_forward(client, auth)
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/packages", headers={**auth(), "If-Match": '"1"'}
    )

    assert response.status_code == 412
    assert await state_of(session, appeal["id"]) == before


async def test_a_retried_forward_with_the_same_idempotency_key_answers_the_same(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _ = await ready_to_forward(client, auth)
    headers = {**auth(), "Idempotency-Key": "forward-1"}

    first = await client.post(f"/v1/appeals/{appeal['id']}/packages", headers=headers)
    second = await client.post(f"/v1/appeals/{appeal['id']}/packages", headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert len((await state_of(session, appeal["id"])).packages) == 1


async def test_forward_freezes_a_package_for_the_routed_office(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal, _ = await ready_to_forward(client, auth)

    response = await client.post(f"/v1/appeals/{appeal['id']}/packages", headers=auth())

    assert response.status_code == 201, response.text
    package = response.json()
    assert response.headers["location"] == f"/v1/packages/{package['id']}"
    assert (package["appeal_id"], package["kind"], package["status"]) == (
        appeal["id"],
        "initial",
        "awaiting_receipt",
    )
    assert package["statsforvalter_office_id"] == ROGALAND
    assert dt.datetime.fromisoformat(package["frozen_at"]) == NOW
    assert (package["waited_working_days"], package["overdue"]) == (0, False)
    assert (package["received_at"], package["statsforvalter_case_number"]) == (None, None)
    after = await get_appeal(client, auth, appeal["id"])
    assert (after["status"], after["nav_status"]) == ("forwarded", "VIDERESENDT")


async def test_the_manifest_holds_the_appeal_navs_assessment_and_the_documents(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal, documents = await ready_to_forward(client, auth)

    package = await forward(client, auth, appeal["id"])

    manifest = package["manifest"]
    assert manifest["package_id"] == package["id"]
    assert manifest["kind"] == "initial"
    assert dt.datetime.fromisoformat(manifest["frozen_at"]) == NOW
    snapshot = manifest["appeal"]
    assert snapshot["id"] == appeal["id"]
    assert snapshot["national_id"] == NATIONAL_ID
    assert (snapshot["nav_office_unit_number"], snapshot["municipality_number"]) == (
        "1103",
        "1103",
    )
    assert snapshot["statsforvalter_office_id"] == ROGALAND
    assert snapshot["decision"] == appeal["decision"]
    assert snapshot["external_reference"] == appeal["external_reference"]
    assert (snapshot["received_on"], snapshot["appeal_deadline_on"], snapshot["late"]) == (
        appeal["received_on"],
        appeal["appeal_deadline_on"],
        appeal["late"],
    )
    assert manifest["nav_assessment"] == {
        "outcome": "upheld",
        "decided_on": "2026-11-02",
        "reasoning": "Vedtaket står.",
    }
    assert manifest["documentation_request"] is None
    assert by_id(manifest["documents"]) == {
        d["id"]: {
            key: d[key]
            for key in ("id", "category", "title", "file_name", "media_type", "size", "sha256")
        }
        for d in documents
    }


async def test_forward_writes_a_package_forwarded_event_without_the_national_id(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _ = await ready_to_forward(client, auth)

    package = await forward(client, auth, appeal["id"])

    events = [e for e in await events_of(session, appeal["id"]) if e.type.startswith("package.")]
    assert [(e.type, e.status, e.statsforvalter_visible) for e in events] == [
        ("package.forwarded", "forwarded", True)
    ]
    assert events[0].data["package_id"] == package["id"]
    assert not carries_national_id(events[0])


async def test_a_statsforvalter_does_not_find_an_appeal_to_forward(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _ = await ready_to_forward(client, auth)
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/packages", headers=auth(org=SF_ROGALAND_ORG)
    )

    assert response.status_code == 404
    assert await state_of(session, appeal["id"]) == before


async def test_another_nav_office_does_not_find_an_appeal_to_forward(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _ = await ready_to_forward(client, auth)
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/packages", headers=auth(org=NAV_OSLO_ORG)
    )

    assert response.status_code == 404
    assert response.json()["code"] == "appeal_not_found"
    assert await state_of(session, appeal["id"]) == before


# -- the feed --------------------------------------------------------------------------------


async def test_the_package_is_in_the_routed_offices_feed_only(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    _, _, package = await forwarded(client, auth)

    rogaland = await feed(client, auth)
    oslo = await feed(client, auth, org=SF_OSLO_ORG)

    assert [p["id"] for p in rogaland] == [package["id"]]
    assert "manifest" not in rogaland[0]
    assert (rogaland[0]["waited_working_days"], rogaland[0]["overdue"]) == (0, False)
    assert oslo == []


async def test_a_nav_office_has_an_empty_feed(client: httpx.AsyncClient, auth: AuthHeaders) -> None:
    await forwarded(client, auth)

    assert await feed(client, auth, org=NAV_STAVANGER_ORG) == []


async def test_the_feed_is_oldest_first_and_pages_with_a_cursor(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    packages = []
    for _ in range(3):
        packages.append((await forwarded(client, auth))[2])
        clock.advance(dt.timedelta(minutes=5))

    first = await client.get("/v1/packages?limit=2", headers=auth(org=SF_ROGALAND_ORG))
    second = await client.get(
        "/v1/packages",
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=auth(org=SF_ROGALAND_ORG),
    )

    ids = [p["id"] for p in first.json()["items"] + second.json()["items"]]
    assert ids == [p["id"] for p in packages]
    assert second.json()["next_cursor"] is None


async def test_a_package_waiting_more_than_two_working_days_is_overdue(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    _, _, package = await forwarded(client, auth)  # Monday 2 November
    assert await feed(client, auth, overdue="true") == []

    clock.advance(dt.timedelta(days=2))  # Wednesday: two working days
    [waiting] = await feed(client, auth)
    assert (waiting["waited_working_days"], waiting["overdue"]) == (2, False)
    assert await feed(client, auth, overdue="true") == []

    clock.advance(dt.timedelta(days=1))  # Thursday: three
    [late] = await feed(client, auth, overdue="true")
    assert (late["id"], late["waited_working_days"], late["overdue"]) == (package["id"], 3, True)


async def test_a_weekend_does_not_count_as_waiting(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    clock.advance(dt.timedelta(days=4))  # Friday 6 November
    await forwarded(client, auth)

    clock.advance(dt.timedelta(days=3))  # Monday 9 November
    [package] = await feed(client, auth)

    assert (package["waited_working_days"], package["overdue"]) == (1, False)


async def test_a_received_package_stops_waiting_and_is_never_overdue(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    _, _, package = await forwarded(client, auth)
    clock.advance(dt.timedelta(days=1))
    await acknowledge(client, auth, package["id"])

    clock.advance(dt.timedelta(days=14))
    [received] = await feed(client, auth)

    assert (received["status"], received["waited_working_days"], received["overdue"]) == (
        "received",
        1,
        False,
    )
    assert await feed(client, auth, overdue="true") == []


async def test_the_feed_filters_by_status(client: httpx.AsyncClient, auth: AuthHeaders) -> None:
    _, _, waiting = await forwarded(client, auth)
    _, _, received = await forwarded(client, auth)
    await acknowledge(client, auth, received["id"])

    awaiting = await feed(client, auth, status="awaiting_receipt")
    done = await feed(client, auth, status="received")

    assert [p["id"] for p in awaiting] == [waiting["id"]]
    assert [p["id"] for p in done] == [received["id"]]


# -- reading a package -----------------------------------------------------------------------


async def test_later_changes_never_change_the_frozen_manifest(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    appeal, _, package = await forwarded(client, auth)

    clock.advance(dt.timedelta(hours=1))
    await upload(client, auth, appeal["id"], category="citizen_comment")
    reply = await client.post(
        f"/v1/appeals/{appeal['id']}/preliminary-replies",
        json={"expected_decision_on": "2027-01-15"},
        headers=auth(org=SF_ROGALAND_ORG),
    )
    assert reply.status_code == 200, reply.text
    await acknowledge(client, auth, package["id"])

    response = await client.get(f"/v1/packages/{package['id']}", headers=auth())
    assert response.json()["manifest"] == package["manifest"]
    assert len(response.json()["manifest"]["documents"]) == len(REQUIRED)


async def test_nav_and_the_statsforvalter_read_the_package_and_the_reads_are_audited(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)

    for org in (NAV_STAVANGER_ORG, SF_ROGALAND_ORG):
        response = await client.get(f"/v1/packages/{package['id']}", headers=auth(org=org))
        assert response.status_code == 200, response.text
        assert response.json() == package

    query = (
        select(AuditEntry.action, AuditEntry.actor_organisation)
        .where(AuditEntry.appeal_id == uuid.UUID(appeal["id"]), AuditEntry.action == "package.read")
        .order_by(AuditEntry.id)
    )
    assert (await session.execute(query)).all() == [
        ("package.read", "0192:977777771"),
        ("package.read", "0192:922222223"),
    ]


@pytest.mark.parametrize("org", [NAV_OSLO_ORG, SF_OSLO_ORG, OTHER_ORG])
async def test_other_organisations_do_not_find_the_package(
    client: httpx.AsyncClient, auth: AuthHeaders, org: str
) -> None:
    _, _, package = await forwarded(client, auth)

    response = await client.get(f"/v1/packages/{package['id']}", headers=auth(org=org))
    answer = await client.get(f"/v1/packages/{package['id']}/bundle", headers=auth(org=org))

    assert (response.status_code, response.json()["code"]) == (404, "package_not_found")
    assert (answer.status_code, answer.json()["code"]) == (404, "package_not_found")


async def test_an_unknown_package_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.get(f"/v1/packages/{uuid.uuid4()}", headers=auth())

    assert (response.status_code, response.json()["code"]) == (404, "package_not_found")


# -- the bundle ------------------------------------------------------------------------------


async def test_the_bundle_is_a_zip_of_the_manifest_and_every_document_as_uploaded(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal, documents = await ready_to_forward(client, auth)
    extra = pdf(1_300_000)  # more than one read chunk
    documents.append(
        await upload(client, auth, appeal["id"], category="supporting_document", data=extra)
    )
    package = await forward(client, auth, appeal["id"])

    with zipfile.ZipFile(io.BytesIO(await bundle_of(client, auth, package["id"]))) as archive:
        assert archive.testzip() is None  # every member's CRC-32 checks out
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        members = {name: archive.read(name) for name in names[3:]}

    assert manifest == package["manifest"]
    listed = manifest["documents"]
    assert names == [
        "manifest.json",
        "arkivmelding.xml",
        "sbd.json",
        *(f"documents/{n:03d}-{d['category']}-{d['id']}.pdf" for n, d in enumerate(listed, 1)),
    ]
    for name, document in zip(names[3:], listed, strict=True):
        member = members[name]
        assert (len(member), hashlib.sha256(member).hexdigest()) == (
            document["size"],
            document["sha256"],
        )
    assert {d["id"]: d["sha256"] for d in listed} == {d["id"]: d["sha256"] for d in documents}
    assert members[names[3 + [d["id"] for d in listed].index(documents[-1]["id"])]] == extra


async def test_the_bundle_is_the_same_bytes_every_time(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    _, _, package = await forwarded(client, auth)

    first = await bundle_of(client, auth, package["id"])
    clock.advance(dt.timedelta(days=1))
    second = await bundle_of(client, auth, package["id"], org=NAV_STAVANGER_ORG)

    assert second == first


async def test_the_bundle_declares_its_length_before_it_is_made(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    _, _, package = await forwarded(client, auth)

    response = await client.get(
        f"/v1/packages/{package['id']}/bundle", headers=auth(org=SF_ROGALAND_ORG)
    )

    assert int(response.headers["content-length"]) == len(response.content)
    assert "transfer-encoding" not in response.headers


async def test_the_bundle_is_neither_sniffed_nor_run_by_a_browser(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    _, _, package = await forwarded(client, auth)

    response = await client.get(
        f"/v1/packages/{package['id']}/bundle", headers=auth(org=SF_ROGALAND_ORG)
    )

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"


class _AsIfRemote:
    """The run's store on disk, telling the bundle that its blobs are not on this machine (as
    S3's are not), so that the bundle reads them as a stream."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def local_path(self, sha256: str) -> None:
        return None


def _never_mapped(path: Path, document: Any) -> None:
    raise AssertionError("a streamed bundle mapped a file")


@pytest.mark.parametrize("read", ["mapped", "streamed"])
@pytest.mark.parametrize("corrupted", [False, True], ids=["intact", "corrupted"])
async def test_a_download_that_waits_for_the_sha256_check_at_every_chunk(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    corrupted: bool,
    read: str,
) -> None:
    """With no room to hash ahead (or behind), every piece waits for the check's thread; the
    bundle is the same, a corrupted document still stops it, and no thread is left behind.
    Mapped (the store on disk), the documents go in pieces of 1,000 bytes, so each takes
    several; streamed (as from S3), they are hashed behind the sending."""
    _, documents, package = await forwarded(client, auth)
    url = f"/v1/packages/{package['id']}/bundle"
    expected = (await client.get(url, headers=auth(org=SF_ROGALAND_ORG))).content
    monkeypatch.setattr(bundle, "_HASH_AHEAD_BYTES", 1)
    monkeypatch.setattr(bundle, "_MAPPED_PIECE_BYTES", 1000)
    if read == "streamed":
        monkeypatch.setattr(bundle, "_map", _never_mapped)
        app.state.blob_store = _AsIfRemote(app.state.blob_store)
    if corrupted:
        path = blob_path(app, documents[-1]["sha256"])
        path.write_bytes(path.read_bytes()[:-1] + b"\x00")

    if corrupted:
        with pytest.raises(BundleIntegrityError):
            await client.get(url, headers=auth(org=SF_ROGALAND_ORG))
    else:
        response = await client.get(url, headers=auth(org=SF_ROGALAND_ORG))
        assert response.content == expected
    await asyncio.sleep(0.05)  # a stopping thread wakes the loop once more
    assert not [t for t in threading.enumerate() if t.name == "bundle-sha256"]


async def test_a_corrupted_blob_stops_the_bundle_download(
    client: httpx.AsyncClient, auth: AuthHeaders, app: FastAPI
) -> None:
    _, documents, package = await forwarded(client, auth)
    path = blob_path(app, documents[1]["sha256"])
    corrupted = bytearray(path.read_bytes())
    corrupted[-1] ^= 0xFF  # same size, one bit pattern changed
    path.write_bytes(bytes(corrupted))

    with pytest.raises(BundleIntegrityError):
        await client.get(f"/v1/packages/{package['id']}/bundle", headers=auth(org=SF_ROGALAND_ORG))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda path: path.unlink(), BlobNotFound),
        (lambda path: path.write_bytes(path.read_bytes() + b"\x00"), BundleIntegrityError),
    ],
    ids=["gone", "longer"],
)
async def test_a_document_whose_file_is_gone_or_of_another_size_stops_the_bundle(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    app: FastAPI,
    change: Callable[[Path], object],
    error: type[Exception],
) -> None:
    # Found before the file is mapped: a mapping past a file's end would end the process.
    _, documents, package = await forwarded(client, auth)
    change(blob_path(app, documents[2]["sha256"]))

    with pytest.raises(error):
        await client.get(f"/v1/packages/{package['id']}/bundle", headers=auth(org=SF_ROGALAND_ORG))
    await asyncio.sleep(0.05)  # a stopping thread wakes the loop once more
    assert not [t for t in threading.enumerate() if t.name == "bundle-sha256"]


async def test_a_client_never_gets_a_readable_zip_with_a_corrupted_document(
    auth: AuthHeaders, app: FastAPI
) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client:
        _, documents, package = await forwarded(client, auth)
        path = blob_path(app, documents[0]["sha256"])
        corrupted = bytearray(path.read_bytes())
        corrupted[100] ^= 0xFF
        path.write_bytes(bytes(corrupted))

        response = await client.get(
            f"/v1/packages/{package['id']}/bundle", headers=auth(org=SF_ROGALAND_ORG)
        )

    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(response.content))


# -- receipt ---------------------------------------------------------------------------------


async def test_receipt_moves_the_appeal_to_received_by_statsforvalter_with_the_case_number(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    appeal, _, package = await forwarded(client, auth)
    clock.advance(dt.timedelta(hours=2))

    received = await acknowledge(client, auth, package["id"], case_number="2026/77")

    assert (received["status"], received["statsforvalter_case_number"]) == ("received", "2026/77")
    assert dt.datetime.fromisoformat(received["received_at"]) == NOW + dt.timedelta(hours=2)
    assert received["manifest"] == package["manifest"]
    after = await get_appeal(client, auth, appeal["id"])
    assert (after["status"], after["statsforvalter_case_number"]) == (
        "received_by_statsforvalter",
        "2026/77",
    )


async def test_the_same_receipt_again_answers_the_same(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    appeal, _, package = await forwarded(client, auth)
    first = await acknowledge(client, auth, package["id"])
    before = await state_of(session, appeal["id"])
    clock.advance(dt.timedelta(hours=1))

    again = await acknowledge(client, auth, package["id"])

    assert again == first
    assert await state_of(session, appeal["id"]) == before


async def test_a_receipt_with_another_case_number_is_refused_with_409(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)
    await acknowledge(client, auth, package["id"], case_number="2026/1")
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/packages/{package['id']}/receipt",
        json={"statsforvalter_case_number": "2026/2"},
        headers=auth(org=SF_ROGALAND_ORG),
    )

    assert response.status_code == 409
    problem = response.json()
    assert (problem["code"], problem["statsforvalter_case_number"]) == (
        "receipt_conflict",
        "2026/1",
    )
    assert await state_of(session, appeal["id"]) == before


@pytest.mark.parametrize(
    "org", [SF_OSLO_ORG, NAV_STAVANGER_ORG, NAV_OSLO_ORG], ids=["other-sf", "nav", "other-nav"]
)
async def test_only_the_office_it_was_sent_to_acknowledges_a_package(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, org: str
) -> None:
    appeal, _, package = await forwarded(client, auth)
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/packages/{package['id']}/receipt",
        json={"statsforvalter_case_number": "2026/1"},
        headers=auth(org=org),
    )

    assert (response.status_code, response.json()["code"]) == (404, "package_not_found")
    assert await state_of(session, appeal["id"]) == before


async def test_a_case_number_starting_with_a_space_is_refused_with_422(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/packages/{package['id']}/receipt",
        json={"statsforvalter_case_number": " 2026/1"},
        headers=auth(org=SF_ROGALAND_ORG),
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["statsforvalter_case_number"]
    assert await state_of(session, appeal["id"]) == before


async def test_receipt_writes_a_package_received_event_without_the_national_id(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)

    await acknowledge(client, auth, package["id"])

    [event] = [e for e in await events_of(session, appeal["id"]) if e.type == "package.received"]
    assert (event.status, event.data["package_id"]) == ("received_by_statsforvalter", package["id"])
    assert not carries_national_id(event)


# -- rejection -------------------------------------------------------------------------------


async def test_not_ours_moves_the_package_to_the_office_named(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal, _, package = await forwarded(client, auth)

    response = await reject(
        client, auth, package["id"], reason="not_ours", statsforvalter_office_id=OSLO
    )

    assert response.status_code == 200, response.text
    moved = response.json()
    assert (moved["status"], moved["statsforvalter_office_id"], moved["rejection_reason"]) == (
        "awaiting_receipt",
        OSLO,
        "not_ours",
    )
    assert await feed(client, auth) == []
    assert [p["id"] for p in await feed(client, auth, org=SF_OSLO_ORG)] == [package["id"]]
    for path in (f"/v1/packages/{package['id']}", f"/v1/appeals/{appeal['id']}"):
        gone = await client.get(path, headers=auth(org=SF_ROGALAND_ORG))
        assert gone.status_code == 404, path
    after = await get_appeal(client, auth, appeal["id"])
    assert (after["status"], after["statsforvalter_office_id"]) == ("forwarded", OSLO)


async def test_the_office_a_package_was_moved_to_acknowledges_it(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal, _, package = await forwarded(client, auth)
    await reject(client, auth, package["id"], reason="not_ours", statsforvalter_office_id=OSLO)

    received = await acknowledge(client, auth, package["id"], org=SF_OSLO_ORG, case_number="O-9")

    assert (received["status"], received["statsforvalter_office_id"]) == ("received", OSLO)
    after = await get_appeal(client, auth, appeal["id"])
    assert (after["status"], after["statsforvalter_case_number"]) == (
        "received_by_statsforvalter",
        "O-9",
    )
    refused = await client.post(
        f"/v1/packages/{package['id']}/receipt",
        json={"statsforvalter_case_number": "R-1"},
        headers=auth(org=SF_ROGALAND_ORG),
    )
    assert refused.status_code == 404


@pytest.mark.parametrize("office", ["sf-atlantis", ROGALAND], ids=["unknown", "its-own"])
async def test_not_ours_to_an_office_that_is_not_another_is_refused_with_nothing_changed(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, office: str
) -> None:
    appeal, _, package = await forwarded(client, auth)
    before = await state_of(session, appeal["id"])

    response = await reject(
        client, auth, package["id"], reason="not_ours", statsforvalter_office_id=office
    )

    assert response.status_code == 422
    assert response.json()["code"] == "unknown_statsforvalter_office"
    assert await state_of(session, appeal["id"]) == before


@pytest.mark.parametrize(
    "body",
    [{"reason": "not_ours"}, {"reason": "incomplete"}, {"reason": "lost"}],
    ids=["not-ours-without-office", "incomplete-without-description", "unknown-reason"],
)
async def test_a_rejection_without_what_its_reason_needs_is_refused_with_422(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, body: dict[str, str]
) -> None:
    appeal, _, package = await forwarded(client, auth)
    before = await state_of(session, appeal["id"])

    response = await reject(client, auth, package["id"], **body)

    assert (response.status_code, response.json()["code"]) == (422, "validation_failed")
    assert await state_of(session, appeal["id"]) == before


async def test_incomplete_sends_the_appeal_back_to_nav(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)

    response = await reject(
        client, auth, package["id"], reason="incomplete", description="Vedtaket mangler side 2."
    )

    assert response.status_code == 200, response.text
    rejected = response.json()
    assert (rejected["status"], rejected["rejection_reason"]) == ("rejected", "incomplete")
    assert rejected["rejection_description"] == "Vedtaket mangler side 2."
    assert (await get_appeal(client, auth, appeal["id"]))["status"] == "under_nav_review"
    [event] = [e for e in await events_of(session, appeal["id"]) if e.type == "package.rejected"]
    assert (event.status, event.data["reason"]) == ("under_nav_review", "incomplete")
    assert not carries_national_id(event)


async def test_after_an_incomplete_package_nav_forwards_a_new_one(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    appeal, _, first = await forwarded(client, auth)
    await reject(client, auth, first["id"], reason="incomplete", description="Mangler side 2.")
    clock.advance(dt.timedelta(days=1))
    missing = await upload(client, auth, appeal["id"], category="decision")

    second = await forward(client, auth, appeal["id"])

    assert (second["kind"], second["status"]) == ("initial", "awaiting_receipt")
    assert second["id"] != first["id"]
    assert missing["id"] in by_id(second["manifest"]["documents"])
    assert len(second["manifest"]["documents"]) == len(REQUIRED) + 1
    assert [(p["id"], p["status"]) for p in await feed(client, auth)] == [
        (first["id"], "rejected"),
        (second["id"], "awaiting_receipt"),
    ]
    assert (await get_appeal(client, auth, appeal["id"]))["status"] == "forwarded"


async def test_a_received_package_cannot_be_rejected(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)
    await acknowledge(client, auth, package["id"])
    before = await state_of(session, appeal["id"])

    response = await reject(client, auth, package["id"], reason="incomplete", description="x")

    assert (response.status_code, response.json()["code"]) == (409, "package_not_awaiting_receipt")
    assert await state_of(session, appeal["id"]) == before


@pytest.mark.parametrize(
    "org", [SF_OSLO_ORG, NAV_STAVANGER_ORG, NAV_OSLO_ORG], ids=["other-sf", "nav", "other-nav"]
)
async def test_only_the_office_it_was_sent_to_rejects_a_package(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, org: str
) -> None:
    appeal, _, package = await forwarded(client, auth)
    before = await state_of(session, appeal["id"])

    response = await reject(
        client, auth, package["id"], org=org, reason="incomplete", description="x"
    )

    assert (response.status_code, response.json()["code"]) == (404, "package_not_found")
    assert await state_of(session, appeal["id"]) == before


# -- the Statsforvalter's review -------------------------------------------------------------


async def test_statsforvalter_review_starts_the_work(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)
    await acknowledge(client, auth, package["id"])

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/statsforvalter-review", headers=auth(org=SF_ROGALAND_ORG)
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "under_statsforvalter_review"
    assert response.headers["etag"] == f'"{response.json()["version"]}"'
    audit = await session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "appeal.start_statsforvalter_review")
    )
    assert audit == 1


async def test_statsforvalter_review_before_receipt_is_refused_with_409(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, _ = await forwarded(client, auth)
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/statsforvalter-review", headers=auth(org=SF_ROGALAND_ORG)
    )

    assert (response.status_code, response.json()["code"]) == (409, "transition_not_allowed")
    assert await state_of(session, appeal["id"]) == before


# -- documentation requests ------------------------------------------------------------------


async def test_a_documentation_request_due_in_the_past_is_refused_with_422(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/documentation-requests",
        json={"description": "Send kontrakten.", "due_on": "2026-11-01"},
        headers=auth(org=SF_ROGALAND_ORG),
    )

    assert response.status_code == 422
    assert [(e["field"], e["type"]) for e in response.json()["errors"]] == [
        ("due_on", "date_in_past")
    ]
    assert await state_of(session, appeal["id"]) == before


async def test_a_documentation_request_moves_the_appeal_to_awaiting_documentation(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)

    request = await request_documentation(client, auth, appeal["id"], due_on="2026-11-02")

    assert (request["status"], request["overdue"], request["due_on"]) == (
        "open",
        False,
        "2026-11-02",
    )
    assert request["requested_by_organisation"] == "0192:922222223"
    assert (await get_appeal(client, auth, appeal["id"]))["status"] == "awaiting_documentation"
    [event] = [
        e for e in await events_of(session, appeal["id"]) if e.type == "documentation.requested"
    ]
    assert (event.status, event.data["documentation_request_id"]) == (
        "awaiting_documentation",
        request["id"],
    )
    assert not carries_national_id(event)


async def test_an_open_request_past_its_due_date_is_listed_as_overdue(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"], due_on="2026-11-04")
    url = f"/v1/appeals/{appeal['id']}/documentation-requests"

    clock.advance(dt.timedelta(days=2))  # the due date itself
    on_the_day = (await client.get(url, headers=auth())).json()["items"]
    clock.advance(dt.timedelta(days=1))
    after = (await client.get(url, headers=auth(org=SF_ROGALAND_ORG))).json()["items"]

    assert [(r["id"], r["status"], r["overdue"]) for r in on_the_day] == [
        (request["id"], "open", False)
    ]
    assert [(r["id"], r["status"], r["overdue"]) for r in after] == [(request["id"], "open", True)]


async def test_withdrawing_an_appeal_cancels_its_open_documentation_request(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"], due_on="2026-11-04")
    url = f"/v1/appeals/{appeal['id']}/documentation-requests"

    withdrawn = await client.post(f"/v1/appeals/{appeal['id']}/withdrawal", headers=auth())
    clock.advance(dt.timedelta(days=3))  # past the due date: a cancelled request is not overdue
    listed = (await client.get(url, headers=auth(org=SF_ROGALAND_ORG))).json()["items"]
    answer = await upload(client, auth, appeal["id"], category="documentation_response")

    assert withdrawn.status_code == 200, withdrawn.text
    assert [(r["id"], r["status"], r["overdue"]) for r in listed] == [
        (request["id"], "cancelled", False)
    ]
    response = await fulfil(client, auth, request["id"], [answer["id"]])
    assert (response.status_code, response.json()["code"]) == (
        409,
        "documentation_request_not_open",
    )


async def test_fulfilment_freezes_a_supplementary_package_in_the_feed(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    appeal, _, initial = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    clock.advance(dt.timedelta(days=1))
    answer = await upload(client, auth, appeal["id"], category="documentation_response")

    response = await fulfil(client, auth, request["id"], [answer["id"]])

    assert response.status_code == 201, response.text
    package = response.json()
    assert response.headers["location"] == f"/v1/packages/{package['id']}"
    assert (package["kind"], package["status"]) == ("supplementary", "awaiting_receipt")
    assert [d["id"] for d in package["manifest"]["documents"]] == [answer["id"]]
    assert package["manifest"]["documentation_request"] == {
        "id": request["id"],
        "description": "Send husleiekontrakten.",
    }
    assert [p["id"] for p in await feed(client, auth, status="awaiting_receipt")] == [package["id"]]
    assert [p["id"] for p in await feed(client, auth)] == [initial["id"], package["id"]]
    requests = await client.get(
        f"/v1/appeals/{appeal['id']}/documentation-requests", headers=auth()
    )
    [fulfilled] = requests.json()["items"]
    assert (fulfilled["status"], fulfilled["overdue"]) == ("fulfilled", False)
    assert dt.datetime.fromisoformat(fulfilled["fulfilled_at"]) == NOW + dt.timedelta(days=1)
    assert (await get_appeal(client, auth, appeal["id"]))["status"] == "under_statsforvalter_review"
    [event] = [
        e for e in await events_of(session, appeal["id"]) if e.type == "documentation.fulfilled"
    ]
    assert (event.status, event.data["package_id"]) == (
        "under_statsforvalter_review",
        package["id"],
    )
    assert not carries_national_id(event)


async def test_the_supplementary_package_is_acknowledged_and_bundled(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    clock.advance(dt.timedelta(hours=3))
    data = pdf(20_000)
    answer = await upload(client, auth, appeal["id"], category="documentation_response", data=data)
    package = (await fulfil(client, auth, request["id"], [answer["id"]])).json()

    received = await acknowledge(client, auth, package["id"], case_number="2026/1234")

    assert received["status"] == "received"
    after = await get_appeal(client, auth, appeal["id"])
    assert (after["status"], after["statsforvalter_case_number"]) == (
        "under_statsforvalter_review",
        "2026/1234",
    )
    with zipfile.ZipFile(io.BytesIO(await bundle_of(client, auth, package["id"]))) as archive:
        assert archive.namelist() == [
            "manifest.json",
            "arkivmelding.xml",
            "sbd.json",
            f"documents/001-documentation_response-{answer['id']}.pdf",
        ]
        assert archive.read(archive.namelist()[3]) == data


async def test_a_supplementary_package_cannot_be_rejected(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    clock.advance(dt.timedelta(hours=1))
    answer = await upload(client, auth, appeal["id"], category="documentation_response")
    package = (await fulfil(client, auth, request["id"], [answer["id"]])).json()
    before = await state_of(session, appeal["id"])

    response = await reject(client, auth, package["id"], reason="incomplete", description="x")

    assert (response.status_code, response.json()["code"]) == (409, "package_not_awaiting_receipt")
    assert await state_of(session, appeal["id"]) == before


async def test_fulfilment_naming_a_document_uploaded_before_the_request_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    early = await upload(client, auth, appeal["id"], category="supporting_document")
    clock.advance(dt.timedelta(minutes=1))
    request = await request_documentation(client, auth, appeal["id"])
    clock.advance(dt.timedelta(minutes=1))
    late = await upload(client, auth, appeal["id"], category="documentation_response")
    before = await state_of(session, appeal["id"])

    response = await fulfil(client, auth, request["id"], [late["id"], early["id"]])

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "documents_not_eligible"
    assert [e["field"] for e in problem["errors"]] == ["document_ids"]
    assert early["id"] in problem["errors"][0]["message"]
    assert await state_of(session, appeal["id"]) == before
    assert before.requests == [(uuid.UUID(request["id"]), "open")]


async def test_fulfilment_naming_another_appeals_document_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    other = await register(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    clock.advance(dt.timedelta(minutes=1))
    elsewhere = await upload(client, auth, other["id"], category="documentation_response")
    before = await state_of(session, appeal["id"])

    response = await fulfil(client, auth, request["id"], [elsewhere["id"]])

    assert (response.status_code, response.json()["code"]) == (422, "documents_not_eligible")
    assert await state_of(session, appeal["id"]) == before


async def test_a_fulfilled_request_cannot_be_fulfilled_again(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    clock.advance(dt.timedelta(minutes=1))
    answer = await upload(client, auth, appeal["id"], category="documentation_response")
    await fulfil(client, auth, request["id"], [answer["id"]])
    before = await state_of(session, appeal["id"])

    response = await fulfil(client, auth, request["id"], [answer["id"]])

    assert (response.status_code, response.json()["code"]) == (
        409,
        "documentation_request_not_open",
    )
    assert await state_of(session, appeal["id"]) == before


@pytest.mark.parametrize(
    "org",
    [SF_ROGALAND_ORG, NAV_OSLO_ORG, SF_OSLO_ORG],
    ids=["statsforvalter", "other-nav", "other-sf"],
)
async def test_only_the_appeals_nav_office_fulfils_a_request(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock, org: str
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    clock.advance(dt.timedelta(minutes=1))
    answer = await upload(client, auth, appeal["id"], category="documentation_response")
    before = await state_of(session, appeal["id"])

    response = await fulfil(client, auth, request["id"], [answer["id"]], org=org)

    assert (response.status_code, response.json()["code"]) == (
        404,
        "documentation_request_not_found",
    )
    assert await state_of(session, appeal["id"]) == before


# -- the decision ----------------------------------------------------------------------------


async def _ready_to_decide(client: httpx.AsyncClient, auth: AuthHeaders) -> tuple[Json, Json]:
    """An appeal under the Statsforvalter's review, and its uploaded decision document."""
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    document = await upload(
        client, auth, appeal["id"], category="statsforvalter_decision", org=SF_ROGALAND_ORG
    )
    return appeal, document


async def test_a_decision_without_if_match_is_refused_with_428(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, document = await _ready_to_decide(client, auth)
    before = await state_of(session, appeal["id"])

    response = await decide(client, auth, appeal["id"], document["id"], if_match=None)

    assert (response.status_code, response.json()["code"]) == (428, "precondition_required")
    assert await state_of(session, appeal["id"]) == before


async def test_a_decision_with_a_stale_if_match_is_refused_with_412(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, document = await _ready_to_decide(client, auth)
    before = await state_of(session, appeal["id"])

    response = await decide(client, auth, appeal["id"], document["id"], if_match='"2"')

    assert response.status_code == 412
    assert await state_of(session, appeal["id"]) == before


async def test_a_decision_naming_navs_decision_document_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, documents, _ = await under_statsforvalter_review(client, auth)
    [navs] = [d for d in documents if d["category"] == "decision"]
    etag = await etag_of(client, auth, appeal["id"])
    before = await state_of(session, appeal["id"])

    response = await decide(client, auth, appeal["id"], navs["id"], if_match=etag)

    assert (response.status_code, response.json()["code"]) == (422, "decision_document_required")
    assert await state_of(session, appeal["id"]) == before


async def test_a_decision_naming_the_statsforvalters_correspondence_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    letter = await upload(
        client, auth, appeal["id"], category="correspondence", org=SF_ROGALAND_ORG
    )
    etag = await etag_of(client, auth, appeal["id"])
    before = await state_of(session, appeal["id"])

    response = await decide(client, auth, appeal["id"], letter["id"], if_match=etag)

    assert (response.status_code, response.json()["code"]) == (422, "decision_document_required")
    assert await state_of(session, appeal["id"]) == before


async def test_a_decision_naming_another_appeals_decision_document_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _ = await _ready_to_decide(client, auth)
    _, elsewhere = await _ready_to_decide(client, auth)
    etag = await etag_of(client, auth, appeal["id"])
    before = await state_of(session, appeal["id"])

    response = await decide(client, auth, appeal["id"], elsewhere["id"], if_match=etag)

    assert (response.status_code, response.json()["code"]) == (422, "decision_document_required")
    assert await state_of(session, appeal["id"]) == before


@pytest.mark.parametrize(
    ("outcome", "klage_outcome"),
    [
        ("upheld", "STADFESTER"),
        ("new_decision", "NYTT_VEDTAK"),
        ("annulled", "OPPHEVER"),
        ("dismissed", "AVVIST"),
    ],
)
async def test_a_decision_records_the_outcome_and_closes_the_appeal(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    outcome: str,
    klage_outcome: str,
) -> None:
    appeal, document = await _ready_to_decide(client, auth)
    etag = await etag_of(client, auth, appeal["id"])

    response = await decide(
        client, auth, appeal["id"], document["id"], if_match=etag, outcome=outcome
    )

    assert response.status_code == 200, response.text
    decided = response.json()
    assert (decided["status"], decided["nav_status"]) == ("decided", "FERDIGBEHANDLET")
    assert (decided["statsforvalter_outcome"], decided["statsforvalter_klage_outcome"]) == (
        outcome,
        klage_outcome,
    )
    assert decided["statsforvalter_decided_on"] == "2026-11-02"
    assert decided["statsforvalter_decision_document_id"] == document["id"]
    assert response.headers["etag"] == f'"{decided["version"]}"'
    [event] = [e for e in await events_of(session, appeal["id"]) if e.type == "appeal.decided"]
    assert (event.status, event.data["outcome"]) == ("decided", outcome)
    assert not carries_national_id(event)


async def test_a_decision_dated_in_the_future_is_refused_with_422(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, document = await _ready_to_decide(client, auth)
    etag = await etag_of(client, auth, appeal["id"])
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/decision",
        json={"outcome": "upheld", "decided_on": "2026-11-03", "document_id": document["id"]},
        headers={**auth(org=SF_ROGALAND_ORG), "If-Match": etag},
    )

    assert response.status_code == 422
    assert [(e["field"], e["type"]) for e in response.json()["errors"]] == [
        ("decided_on", "date_in_future")
    ]
    assert await state_of(session, appeal["id"]) == before


# -- the wrong party -------------------------------------------------------------------------

# NAV sees the appeal, so a Statsforvalter's step is 403 for it (the lifecycle's roles); an
# organisation that does not see the appeal finds nothing.
NOT_THE_STATSFORVALTER = [
    pytest.param(NAV_STAVANGER_ORG, 403, "not_permitted_for_role", id="its-nav-office"),
    pytest.param(NAV_OSLO_ORG, 404, "appeal_not_found", id="other-nav"),
    pytest.param(SF_OSLO_ORG, 404, "appeal_not_found", id="other-sf"),
]


@pytest.mark.parametrize(("org", "status", "code"), NOT_THE_STATSFORVALTER)
async def test_only_the_statsforvalter_starts_its_review(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    org: str,
    status: int,
    code: str,
) -> None:
    appeal, _, package = await forwarded(client, auth)
    await acknowledge(client, auth, package["id"])
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/statsforvalter-review", headers=auth(org=org)
    )

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert await state_of(session, appeal["id"]) == before


@pytest.mark.parametrize(("org", "status", "code"), NOT_THE_STATSFORVALTER)
async def test_only_the_statsforvalter_asks_for_documentation(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    org: str,
    status: int,
    code: str,
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/documentation-requests",
        json={"description": "Send mer.", "due_on": "2026-11-20"},
        headers=auth(org=org),
    )

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert await state_of(session, appeal["id"]) == before


@pytest.mark.parametrize(("org", "status", "code"), NOT_THE_STATSFORVALTER)
async def test_only_the_statsforvalter_decides(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    org: str,
    status: int,
    code: str,
) -> None:
    appeal, document = await _ready_to_decide(client, auth)
    etag = await etag_of(client, auth, appeal["id"])
    before = await state_of(session, appeal["id"])

    response = await decide(client, auth, appeal["id"], document["id"], if_match=etag, org=org)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert await state_of(session, appeal["id"]) == before


async def test_a_statsforvalter_may_not_forward_an_appeal_it_sent_back(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, package = await forwarded(client, auth)
    await reject(client, auth, package["id"], reason="incomplete", description="Mangler side 2.")
    before = await state_of(session, appeal["id"])

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/packages", headers=auth(org=SF_ROGALAND_ORG)
    )

    assert (response.status_code, response.json()["code"]) == (403, "not_permitted_for_role")
    assert await state_of(session, appeal["id"]) == before


# -- events ----------------------------------------------------------------------------------


async def test_every_step_writes_its_event_and_none_carries_the_national_id(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    appeal, _, first = await forwarded(client, auth)
    await reject(client, auth, first["id"], reason="incomplete", description="Mangler side 2.")
    second = await forward(client, auth, appeal["id"])
    await acknowledge(client, auth, second["id"])
    await client.post(
        f"/v1/appeals/{appeal['id']}/statsforvalter-review", headers=auth(org=SF_ROGALAND_ORG)
    )
    request = await request_documentation(client, auth, appeal["id"])
    clock.advance(dt.timedelta(hours=1))
    answer = await upload(client, auth, appeal["id"], category="documentation_response")
    supplementary = (await fulfil(client, auth, request["id"], [answer["id"]])).json()
    await acknowledge(client, auth, supplementary["id"])
    decision = await upload(
        client, auth, appeal["id"], category="statsforvalter_decision", org=SF_ROGALAND_ORG
    )
    etag = await etag_of(client, auth, appeal["id"])
    decided = await decide(client, auth, appeal["id"], decision["id"], if_match=etag)
    assert decided.status_code == 200, decided.text

    events = await events_of(session, appeal["id"])
    assert [
        (e.type, e.status)
        for e in events
        if e.type not in {"appeal.status_changed", "document.added"}
    ] == [
        ("appeal.received", "received"),
        ("appeal.nav_outcome_recorded", "under_nav_review"),
        ("package.forwarded", "forwarded"),
        ("package.rejected", "under_nav_review"),
        ("package.forwarded", "forwarded"),
        ("package.received", "received_by_statsforvalter"),
        ("documentation.requested", "awaiting_documentation"),
        # The supplementary package enters the feed announced as every package is.
        ("documentation.fulfilled", "under_statsforvalter_review"),
        ("package.forwarded", "under_statsforvalter_review"),
        ("package.received", "under_statsforvalter_review"),
        ("appeal.decided", "decided"),
    ]
    assert [e.type for e in events].count("document.added") == 6
    assert not [e.type for e in events if carries_national_id(e)]


# -- loose ends ------------------------------------------------------------------------------


async def test_nav_may_not_attach_the_statsforvalter_s_decision(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    documents_before = await session.scalar(select(func.count()).select_from(Document))

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/documents",
        params={"category": "statsforvalter_decision", "title": "Vedtak"},
        content=pdf(),
        headers={**auth(), "Content-Type": "application/pdf"},
    )

    assert (response.status_code, response.json()["code"]) == (403, "not_permitted_for_role")
    assert await session.scalar(select(func.count()).select_from(Document)) == documents_before


async def test_no_decision_while_nav_s_documentation_waits_to_be_received(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal, document = await _ready_to_decide(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    sent = await upload(client, auth, appeal["id"], category="documentation_response")
    fulfilled = await fulfil(client, auth, request["id"], [sent["id"]])
    assert fulfilled.status_code == 201, fulfilled.text
    etag = await etag_of(client, auth, appeal["id"])
    before = await state_of(session, appeal["id"])

    response = await decide(client, auth, appeal["id"], document["id"], if_match=etag)

    assert (response.status_code, response.json()["code"]) == (409, "supplementary_package_waiting")
    assert response.json()["package_id"] == fulfilled.json()["id"]
    assert await state_of(session, appeal["id"]) == before


async def test_a_withdrawn_appeal_s_package_leaves_the_feed(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal, _, package = await forwarded(client, auth)
    withdrawn = await client.post(f"/v1/appeals/{appeal['id']}/withdrawal", headers=auth())
    assert withdrawn.status_code == 200, withdrawn.text

    response = await client.get("/v1/packages", headers=auth(org=SF_ROGALAND_ORG))

    assert package["id"] not in [item["id"] for item in response.json()["items"]]
