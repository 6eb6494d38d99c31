"""The archive files in every bundle: `arkivmelding.xml` and `sbd.json`, downloaded over HTTP and
checked against the vendored official schemas and as eFormidling's gateway checks them; their
content (the case, the journal post, the numbering, the parties, the ids); and checks that must
fail, so that the checking can."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import json
import re
import uuid
import zipfile
from xml.etree import ElementTree

import httpx
import pytest

from klageapi.case_package import archive
from klageapi.case_package.service import overdue_threshold
from klageapi.core.clock import NORWAY, FixedClock
from tests.case_package.eformidling import (
    NS,
    VENDOR,
    checked,
    gateway_errors,
    sbd_errors,
    xsd_errors,
)
from tests.conftest import NAV_STAVANGER_ORG, SF_ROGALAND_ORG
from tests.factories import NATIONAL_ID
from tests.journey import (
    REQUIRED,
    AuthHeaders,
    Json,
    forward,
    forwarded,
    record_nav_outcome,
    register,
    request_documentation,
    start_nav_review,
    under_statsforvalter_review,
    upload,
)

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://klageapi/arkivmelding")
_HOUR = dt.timedelta(hours=1)


async def _bundle(
    client: httpx.AsyncClient, auth: AuthHeaders, package_id: str, org: str = SF_ROGALAND_ORG
) -> bytes:
    response = await client.get(f"/v1/packages/{package_id}/bundle", headers=auth(org=org))
    assert response.status_code == 200, response.text
    return response.content


async def _archive_files(
    client: httpx.AsyncClient, auth: AuthHeaders, package_id: str, org: str = SF_ROGALAND_ORG
) -> tuple[ElementTree.Element, Json, list[str]]:
    """The bundle's arkivmelding and SBD, valid by every check, and the ZIP's member names."""
    with zipfile.ZipFile(io.BytesIO(await _bundle(client, auth, package_id, org))) as bundle:
        arkivmelding, sbd = checked(bundle)
        return arkivmelding, sbd, bundle.namelist()


def _text(element: ElementTree.Element, path: str) -> str | None:
    return element.findtext(path, namespaces=NS)


def _record(arkivmelding: ElementTree.Element) -> ElementTree.Element:
    record = arkivmelding.find("a:mappe/a:basisregistrering", NS)
    assert record is not None
    return record


def _described(arkivmelding: ElementTree.Element) -> list[tuple[str, str, str]]:
    """(dokumentnummer, tilknyttetRegistreringSom, referanseDokumentfil) of each document."""
    return [
        (
            _text(d, "a:dokumentnummer") or "",
            _text(d, "a:tilknyttetRegistreringSom") or "",
            _text(d, "a:dokumentobjekt/a:referanseDokumentfil") or "",
        )
        for d in _record(arkivmelding).findall("a:dokumentbeskrivelse", NS)
    ]


def _member(names: list[str], document: Json) -> str:
    (name,) = [name for name in names if document["id"] in name]
    return name


# -- what a bundle carries -------------------------------------------------------------------


async def test_the_bundle_carries_the_archive_files_after_the_manifest(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    _, documents, package = await forwarded(client, auth)

    _, _, names = await _archive_files(client, auth, package["id"])

    assert names[:3] == ["manifest.json", "arkivmelding.xml", "sbd.json"]
    assert sorted(names[3:]) == sorted(_member(names, d) for d in documents)


async def test_the_package_is_an_incoming_journal_post_in_a_confidential_case(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal, _, package = await forwarded(client, auth)

    arkivmelding, _, _ = await _archive_files(client, auth, package["id"])

    case = arkivmelding.find("a:mappe", NS)
    assert case is not None
    record = _record(arkivmelding)
    xsi_type = "{http://www.w3.org/2001/XMLSchema-instance}type"
    assert (case.get(xsi_type), record.get(xsi_type)) == ("saksmappe", "journalpost")
    assert _text(arkivmelding, "a:meldingId") == package["id"]
    assert _text(case, "a:systemID") == str(uuid.uuid5(_NAMESPACE, f"saksmappe:{appeal['id']}"))
    assert _text(record, "a:referanseForelderMappe") == _text(case, "a:systemID")
    assert _text(record, "a:journalposttype") == "Inngående dokument"
    assert (
        _text(record, "a:korrespondansepart/a:korrespondanseparttype"),
        _text(record, "a:korrespondansepart/a:korrespondansepartNavn"),
    ) == ("Avsender", "NAV Stavanger (demo)")
    for screened in (case, record):
        assert (
            _text(screened, "a:skjerming/a:tilgangsrestriksjon"),
            _text(screened, "a:skjerming/a:skjermingshjemmel"),
        ) == ("Unntatt offentlighet", "Offl. § 13 jf. sotjl. § 44")
    assert _text(arkivmelding, "a:antallFiler") == str(len(REQUIRED))
    assert _text(record, "a:antallVedlegg") == str(len(REQUIRED) - 1)


async def test_the_forwarding_letter_is_the_main_document_and_the_rest_follow_in_upload_order(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    appeal = await register(client, auth)
    await start_nav_review(client, auth, appeal["id"])
    uploaded = []
    for category in ("decision", "appeal", "application", "forwarding_letter"):
        clock.advance(_HOUR)
        uploaded.append(await upload(client, auth, appeal["id"], category=category))
    await record_nav_outcome(client, auth, appeal["id"])
    package = await forward(client, auth, appeal["id"])

    arkivmelding, sbd, names = await _archive_files(client, auth, package["id"])

    decision, appeal_document, supporting, letter = (_member(names, d) for d in uploaded)
    assert _described(arkivmelding) == [
        ("1", "Hoveddokument", letter),
        ("2", "Vedlegg", decision),
        ("3", "Vedlegg", appeal_document),
        ("4", "Vedlegg", supporting),
    ]
    assert sbd["arkivmelding"]["hoveddokument"] == letter


async def test_the_sbd_goes_from_the_nav_office_to_the_statsforvalter_in_the_appeals_conversation(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal, _, package = await forwarded(client, auth)

    _, sbd, _ = await _archive_files(client, auth, package["id"])

    header = sbd["standardBusinessDocumentHeader"]
    organisations = {"authority": "iso6523-actorid-upis"}
    assert header["sender"] == [{"identifier": {**organisations, "value": "0192:977777771"}}]
    assert header["receiver"] == [{"identifier": {**organisations, "value": "0192:922222223"}}]
    assert header["documentIdentification"]["instanceIdentifier"] == package["id"]
    assert header["documentIdentification"]["type"] == "arkivmelding"
    (scope,) = header["businessScope"]["scope"]
    assert scope["type"] == "ConversationId"
    assert scope["identifier"] == "urn:no:difi:profile:arkivmelding:taushetsbelagt:ver1.0"
    conversation = uuid.uuid5(_NAMESPACE, f"conversation:{appeal['id']}")
    assert scope["instanceIdentifier"] == str(conversation)
    # Forwarded on Monday 2 November 2026; two working days (Tuesday, Wednesday) are allowed
    # for the receipt, so it is overdue from the start of Thursday.
    expected = scope["scopeInformation"][0]["expectedResponseDateTime"]
    assert expected == "2026-11-05T00:00:00+01:00"


async def test_the_same_package_gives_the_same_bundle_bytes_later(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    _, _, package = await forwarded(client, auth)

    first = await _bundle(client, auth, package["id"])
    clock.advance(dt.timedelta(days=3))
    second = await _bundle(client, auth, package["id"], org=NAV_STAVANGER_ORG)

    assert second == first


async def test_a_supplementary_package_is_a_journal_post_in_the_same_case(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    """It has no forwarding letter: its earliest document is the main document."""
    appeal, _, initial = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    answers = []
    for category in ("documentation_response", "supporting_document"):
        clock.advance(_HOUR)
        answers.append(await upload(client, auth, appeal["id"], category=category))
    response = await client.post(
        f"/v1/documentation-requests/{request['id']}/fulfilment",
        json={"document_ids": [answers[1]["id"], answers[0]["id"]]},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    supplementary = response.json()

    first, first_sbd, _ = await _archive_files(client, auth, initial["id"])
    later, later_sbd, names = await _archive_files(client, auth, supplementary["id"])

    assert _text(later, "a:mappe/a:systemID") == _text(first, "a:mappe/a:systemID")
    assert _text(_record(later), "a:systemID") != _text(_record(first), "a:systemID")
    assert _text(_record(later), "a:journalposttype") == "Inngående dokument"
    assert _described(later) == [
        ("1", "Hoveddokument", _member(names, answers[0])),
        ("2", "Vedlegg", _member(names, answers[1])),
    ]
    scopes = [
        s["standardBusinessDocumentHeader"]["businessScope"]["scope"][0]
        for s in (first_sbd, later_sbd)
    ]
    assert scopes[0]["instanceIdentifier"] == scopes[1]["instanceIdentifier"]


async def test_an_office_without_organisation_number_is_named_by_its_registry_id(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    """The shipped routing table has no organisation numbers: the envelope cannot be
    addressed through eFormidling until an administrator sets one, and says so."""
    _, _, package = await forwarded(client, auth)
    response = await client.post(
        f"/v1/packages/{package['id']}/rejection",
        json={"reason": "not_ours", "statsforvalter_office_id": "sf-vestland"},
        headers=auth(org=SF_ROGALAND_ORG),
    )
    assert response.status_code == 200, response.text

    _, sbd, _ = await _archive_files(client, auth, package["id"], org=NAV_STAVANGER_ORG)

    assert sbd["standardBusinessDocumentHeader"]["receiver"] == [
        {"identifier": {"authority": "klageapi:statsforvalter-office", "value": "sf-vestland"}}
    ]


async def test_no_national_id_reaches_the_archive_files_not_even_in_a_title(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)
    await start_nav_review(client, auth, appeal["id"])
    for category in ("appeal", "decision", "forwarding_letter", "application"):
        response = await client.post(
            f"/v1/appeals/{appeal['id']}/documents",
            params={"category": category, "title": f"{category} fra {NATIONAL_ID}"},
            content=b"%PDF-1.7\n" + category.encode(),
            headers={**auth(), "Content-Type": "application/pdf"},
        )
        assert response.status_code == 201, response.text
    await record_nav_outcome(client, auth, appeal["id"])
    package = await forward(client, auth, appeal["id"])

    with zipfile.ZipFile(io.BytesIO(await _bundle(client, auth, package["id"]))) as bundle:
        checked(bundle)
        files = [bundle.read(name).decode() for name in ("arkivmelding.xml", "sbd.json")]

    assert "appeal fra [fjernet]" in files[0]
    assert not [f for f in files if NATIONAL_ID in f]


# -- checks that must fail -------------------------------------------------------------------


async def test_a_referenced_file_missing_from_the_zip_is_refused_as_the_gateway_would(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    _, documents, package = await forwarded(client, auth)
    with zipfile.ZipFile(io.BytesIO(await _bundle(client, auth, package["id"]))) as bundle:
        xml, names = bundle.read("arkivmelding.xml"), bundle.namelist()
    missing = _member(names, documents[0])

    errors = gateway_errors(xml, [name for name in names if name != missing])

    assert errors == [f"{missing} is not in the ZIP"]


async def test_a_wrong_file_count_is_refused_as_the_gateway_would(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    _, _, package = await forwarded(client, auth)
    with zipfile.ZipFile(io.BytesIO(await _bundle(client, auth, package["id"]))) as bundle:
        xml, names = bundle.read("arkivmelding.xml"), bundle.namelist()

    wrong = xml.replace(b"<antallFiler>4</antallFiler>", b"<antallFiler>5</antallFiler>")

    assert gateway_errors(wrong, names) == ["antallFiler 5, 4 files referenced"]


async def test_the_journal_posts_title_before_its_documents_fails_the_schema(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    _, _, package = await forwarded(client, auth)
    with zipfile.ZipFile(io.BytesIO(await _bundle(client, auth, package["id"]))) as bundle:
        xml = bundle.read("arkivmelding.xml").decode()
    title = re.search(r"\n *<tittel>Oversendelse av klage[^<]*</tittel>", xml)
    assert title is not None
    without = xml.replace(title.group(0), "")
    first_document = without.index("\n", without.index("<referanseForelderMappe>"))
    moved = without[:first_document] + title.group(0) + without[first_document:]

    assert xsd_errors(xml.encode()) == []
    assert xsd_errors(moved.encode()) != []


async def test_an_sbd_without_receiver_fails_the_schema(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    _, _, package = await forwarded(client, auth)
    with zipfile.ZipFile(io.BytesIO(await _bundle(client, auth, package["id"]))) as bundle:
        sbd = json.loads(bundle.read("sbd.json"))
    without = copy.deepcopy(sbd)
    del without["standardBusinessDocumentHeader"]["receiver"]

    assert sbd_errors(sbd) == []
    assert sbd_errors(without) == ["'receiver' is a required property"]


# -- the vendored schemas and the overdue moment ---------------------------------------------


@pytest.mark.parametrize("schema_set", ["arkivmelding", "sbdh"])
def test_the_vendored_schemas_are_the_files_their_origin_names(schema_set: str) -> None:
    folder = VENDOR / schema_set
    listed = re.findall(
        r"^(\S+)  ([0-9a-f]{64})  (\S+)$", (folder / "ORIGIN").read_text(), re.MULTILINE
    )

    assert listed, "ORIGIN lists no files"
    for name, sha256, _ in listed:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha256, name
    vendored = {p.name for p in folder.iterdir() if p.name != "ORIGIN"}
    assert vendored == {name for name, _, _ in listed if "/" not in name}


def test_the_arkivmelding_schema_keeps_its_byte_order_mark() -> None:
    assert (VENDOR / "arkivmelding" / "arkivmelding.xsd").read_bytes()[:3] == b"\xef\xbb\xbf"


@pytest.mark.parametrize("working_days", [0, 1, 2, 5])
def test_the_overdue_moment_is_when_the_pull_feed_starts_calling_the_package_overdue(
    working_days: int,
) -> None:
    """Counted forward from the package (the SBD) and back from today (the feed), over Easter
    and Christmas 2026."""
    for start in (dt.date(2026, 3, 27), dt.date(2026, 12, 18)):
        for day in range(12):
            frozen_at = dt.datetime.combine(
                start + dt.timedelta(days=day), dt.time(14, 5), tzinfo=NORWAY
            )
            overdue_at = archive.receipt_overdue_at(frozen_at, working_days)

            def overdue(at: dt.datetime, frozen_at: dt.datetime = frozen_at) -> bool:
                return frozen_at < overdue_threshold(FixedClock(at), working_days)

            assert not overdue(overdue_at - dt.timedelta(seconds=1)), frozen_at
            assert overdue(overdue_at), frozen_at
