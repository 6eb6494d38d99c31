"""Packages the Statsforvalter's archive can take in without hands, over HTTP on both blob
stores: an urgent appeal first in the feed, archive files that pass the official schemas and
name exactly the ZIP's files, the download told to NAV, supplementary and re-routed packages
announced as every package is, and a withdrawn appeal's package gone from the feed."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.clock import FixedClock
from tests.case_package.eformidling import NS, checked
from tests.case_package.test_end_to_end import Backend
from tests.case_package.test_end_to_end import backend as backend
from tests.conftest import SF_ROGALAND_ORG
from tests.document.conftest import seaweedfs as s3_server  # noqa: F401  (the fixture, renamed)
from tests.journey import (
    AuthHeaders,
    Json,
    acknowledge,
    events_of,
    forward,
    ready_to_forward,
    request_documentation,
    start_statsforvalter_review,
    upload,
)

OSLO = "sf-oslo-akershus-ostfold-buskerud"
URGENT = {"urgent": True, "urgent_reason": "eviction", "children_affected": True}


async def _feed(client: httpx.AsyncClient, auth: AuthHeaders) -> list[str]:
    response = await client.get(
        "/v1/packages", params={"status": "awaiting_receipt"}, headers=auth(org=SF_ROGALAND_ORG)
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _bundle(
    client: httpx.AsyncClient, auth: AuthHeaders, package_id: str
) -> tuple[str, list[str]]:
    """Downloads as the Statsforvalter; checks the archive files; returns the saksmappe id and
    the journal post's notes."""
    response = await client.get(
        f"/v1/packages/{package_id}/bundle", headers=auth(org=SF_ROGALAND_ORG)
    )
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        arkivmelding, sbd = checked(archive)
    assert sbd["standardBusinessDocumentHeader"]["receiver"][0]["identifier"]["value"] == (
        f"0192:{SF_ROGALAND_ORG}"
    )
    case_id = arkivmelding.findtext("a:mappe/a:systemID", namespaces=NS)
    assert case_id is not None
    notes = arkivmelding.findall("a:mappe/a:basisregistrering/a:merknad/a:merknadstekst", NS)
    return case_id, [note.text or "" for note in notes]


def _announced(events: list[Json], type_: str) -> list[tuple[str, str, object]]:
    return [
        (e["data"]["package_id"], e["statsforvalter_office"], e["data"].get("kind"))
        for e in events
        if e["type"] == type_
    ]


async def _events(session: AsyncSession, appeal_id: str) -> list[Json]:
    return [
        {"type": e.type, "statsforvalter_office": e.statsforvalter_office_id, "data": e.data}
        for e in await events_of(session, appeal_id)
    ]


async def test_packages_travel_into_the_statsforvalter_s_archive_and_are_announced(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    clock: FixedClock,
    backend: Backend,
) -> None:
    # Three appeals forwarded in turn: an ordinary one, an urgent one, one to be withdrawn.
    ordinary, _ = await ready_to_forward(client, auth)
    ordinary_package = await forward(client, auth, ordinary["id"])
    clock.advance(dt.timedelta(minutes=5))
    urgent, _ = await ready_to_forward(client, auth)
    response = await client.post(
        f"/v1/appeals/{urgent['id']}/packages", json=URGENT, headers=auth()
    )
    assert response.status_code == 201, response.text
    urgent_package = response.json()
    clock.advance(dt.timedelta(minutes=5))
    withdrawn, _ = await ready_to_forward(client, auth)
    withdrawn_package = await forward(client, auth, withdrawn["id"])

    # The Statsforvalter's feed serves the urgent package first.
    feed = await _feed(client, auth)
    mine = [p for p in feed if p in {ordinary_package["id"], urgent_package["id"]}]
    assert mine == [urgent_package["id"], ordinary_package["id"]]

    # Its bundle is what an archive takes in, the forwarding form's answers as the journal
    # post's notes; NAV hears that it was downloaded.
    case_id, notes = await _bundle(client, auth, urgent_package["id"])
    assert notes == [
        "Hastesak: utkastelse.",
        "Barn er berørt av vedtaket; barnas behov er ikke vurdert.",
    ]
    assert _announced(await _events(session, urgent["id"]), "package.downloaded") == [
        (urgent_package["id"], "sf-rogaland", None)
    ]

    # Received and worked on; NAV answers a documentation request: the supplementary package
    # is announced as forwarded, and its journal post joins the same case in the archive.
    await acknowledge(client, auth, urgent_package["id"])
    await start_statsforvalter_review(client, auth, urgent["id"])
    request = await request_documentation(client, auth, urgent["id"])
    answer = await upload(client, auth, urgent["id"], category="documentation_response")
    fulfilled = await client.post(
        f"/v1/documentation-requests/{request['id']}/fulfilment",
        json={"document_ids": [answer["id"]]},
        headers=auth(),
    )
    assert fulfilled.status_code == 201, fulfilled.text
    supplementary = fulfilled.json()
    assert supplementary["urgent"] is True
    assert await _bundle(client, auth, supplementary["id"]) == (case_id, ["Hastesak: utkastelse."])
    assert _announced(await _events(session, urgent["id"]), "package.forwarded") == [
        (urgent_package["id"], "sf-rogaland", "initial"),
        (supplementary["id"], "sf-rogaland", "supplementary"),
    ]

    # The ordinary one is not Rogaland's: re-routed, it is announced to the office it is for.
    rejected = await client.post(
        f"/v1/packages/{ordinary_package['id']}/rejection",
        json={"reason": "not_ours", "statsforvalter_office_id": OSLO},
        headers=auth(org=SF_ROGALAND_ORG),
    )
    assert rejected.status_code == 200, rejected.text
    assert _announced(await _events(session, ordinary["id"]), "package.forwarded") == [
        (ordinary_package["id"], "sf-rogaland", "initial"),
        (ordinary_package["id"], OSLO, "rerouted"),
    ]

    # The third appeal is withdrawn: its package leaves the feed, announced.
    response = await client.post(f"/v1/appeals/{withdrawn['id']}/withdrawal", headers=auth())
    assert response.status_code == 200, response.text
    assert withdrawn_package["id"] not in await _feed(client, auth)
    assert _announced(await _events(session, withdrawn["id"]), "package.withdrawn") == [
        (withdrawn_package["id"], "sf-rogaland", None)
    ]
    assert backend.name in {"filesystem", "s3"}
