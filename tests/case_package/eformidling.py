"""Checks a bundle's archive files as eFormidling would: `arkivmelding.xml` against the vendored
production arkivmelding.xsd, `sbd.json`'s header against Digdir's sbdh.schema.json, and what the
integrasjonspunkt checks beyond the schema (every referenced file sent, `antallFiler` right)."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import xmlschema
from referencing import Registry, Resource

VENDOR = Path(__file__).resolve().parents[2] / "vendor" / "eformidling"
NS = {"a": "http://www.arkivverket.no/standarder/noark5/arkivmelding"}
_SBDH_ID = "https://docs.digdir.no/schemas/common/sbdh.schema.json"


@cache
def arkivmelding_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(VENDOR / "arkivmelding" / "arkivmelding.xsd")


@cache
def _header_validator() -> jsonschema.Draft7Validator:
    # The schema declares only definitions; the header is one of them.
    root = json.loads((VENDOR / "sbdh" / "sbdh.schema.json").read_text())
    registry: Registry[Any] = Registry().with_resource(_SBDH_ID, Resource.from_contents(root))
    header = {"$ref": f"{_SBDH_ID}#/definitions/standardBusinessDocumentHeader"}
    return jsonschema.Draft7Validator(
        header, registry=registry, format_checker=jsonschema.FormatChecker()
    )


def xsd_errors(xml: bytes) -> list[str]:
    return [str(error.reason) for error in arkivmelding_schema().iter_errors(xml.decode())]


def sbd_errors(sbd: dict[str, Any]) -> list[str]:
    header = sbd.get("standardBusinessDocumentHeader", {})
    errors = [error.message for error in _header_validator().iter_errors(header)]
    # The draft-07 format checker has no date-time without an extra package; parse it here.
    created = header.get("documentIdentification", {}).get("creationDateAndTime")
    if created is not None:
        dt.datetime.fromisoformat(created)
    return errors


def parse(xml: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(xml)  # noqa: S314 (klageapi's own output, in a test)


def referenced_files(xml: bytes) -> list[str]:
    """The files an arkivmelding names, as the integrasjonspunkt reads them: the first
    saksmappe's first journalpost, its dokumentbeskrivelser by dokumentnummer."""
    root = parse(xml)
    record = root.find("a:mappe/a:basisregistrering", NS)
    assert record is not None
    described = sorted(
        record.findall("a:dokumentbeskrivelse", NS),
        key=lambda d: int(d.findtext("a:dokumentnummer", namespaces=NS) or 0),
    )
    return [
        name
        for description in described
        for name in (
            o.findtext("a:referanseDokumentfil", namespaces=NS)
            for o in description.findall("a:dokumentobjekt", NS)
        )
        if name is not None
    ]


def gateway_errors(xml: bytes, names: list[str]) -> list[str]:
    """What the integrasjonspunkt refuses beyond the schema: a referenced file not sent, or
    `antallFiler` other than the files referenced."""
    referenced = referenced_files(xml)
    errors = [f"{name} is not in the ZIP" for name in referenced if name not in names]
    count = parse(xml).findtext("a:antallFiler", namespaces=NS)
    if count != str(len(referenced)):
        errors.append(f"antallFiler {count}, {len(referenced)} files referenced")
    return errors


def checked(archive: zipfile.ZipFile) -> tuple[ElementTree.Element, dict[str, Any]]:
    """The bundle's arkivmelding and SBD, after every check has passed."""
    xml = archive.read("arkivmelding.xml")
    sbd: dict[str, Any] = json.loads(archive.read("sbd.json"))
    assert xsd_errors(xml) == []
    assert sbd_errors(sbd) == []
    assert gateway_errors(xml, archive.namelist()) == []
    documents = [name for name in archive.namelist() if name.startswith("documents/")]
    assert sorted(referenced_files(xml)) == sorted(documents)  # exactly the ZIP's documents
    return parse(xml), sbd
