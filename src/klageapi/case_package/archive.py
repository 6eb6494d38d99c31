"""What makes a bundle archive-ready: eFormidling's archive message (`arkivmelding.xml`, a Noark 5
subset) and its envelope (`sbd.json`), rendered from a package, its documents and the parties.

The renderers take plain data (`ArchiveContext`), never a session: the parties come from the
registry today (`context_for`), and will come from the manifest once forwarding freezes them.
Until then an administrator's edit of an office's name or organisation number, or of the overdue
setting, changes the bytes of bundles downloaded afterwards; nothing else does. Every id is a
uuid5 of the appeal's, the package's or a document's id, and every time is one of the package's
or its documents', so the same package gives the same bytes every time.

Choices the formats leave open (README, "Archive-ready bundles"): the forwarding letter (the
latest, if there are several) is the main document, and a package without one (a supplementary
package) takes its earliest document; the main document is number 1, because that is where
Noark and eFormidling's receivers look for it, and the attachments follow in the order they
were uploaded. The case is confidential: skjerming "Unntatt offentlighet" (the access
restriction every Noark 5 system has; the standard's optional "Klientsaker" is not known to
all) under offentleglova § 13 with sosialtjenesteloven § 44, on the case and on the journal
post, since a receiver that already has the case takes in only the journal post.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal.deadline import is_working_day
from klageapi.core.clock import NORWAY
from klageapi.models import CasePackage, Document, DocumentCategory, PackageKind, UrgentReason
from klageapi.registry import repository as registry

__all__ = [
    "ARKIVMELDING",
    "PROCESS",
    "SBD",
    "ArchiveContext",
    "Party",
    "arkivmelding_xml",
    "context_for",
    "forwarding_notes",
    "receipt_overdue_at",
    "sbd_json",
]

ARKIVMELDING = "arkivmelding.xml"
SBD = "sbd.json"
PROCESS = "urn:no:difi:profile:arkivmelding:taushetsbelagt:ver1.0"
"""eFormidling's process for confidential case work: the receiver restricts access to it."""

_STANDARD = "urn:no:difi:arkivmelding:xsd::arkivmelding"
_TYPE_VERSION = "2.0"  # what the integrasjonspunkt writes into the SBDs it builds
_AUTHORITY = "iso6523-actorid-upis"
# An office without an organisation number cannot be addressed through eFormidling; the envelope
# names it by its registry id under this authority, which a relay refuses rather than misroutes.
_OFFICE_ID_AUTHORITY = "klageapi:statsforvalter-office"
_SECURITY_LEVEL = 4  # ID-porten level a reader must have; confidential post asks for the highest
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://klageapi/arkivmelding")
_SYSTEM = "klageapi"

_XMLNS = "http://www.arkivverket.no/standarder/noark5/arkivmelding"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_RESTRICTION = "Unntatt offentlighet"
_LEGAL_BASIS = "Offl. § 13 jf. sotjl. § 44"
_SCREENED_IN_CASE = ("Skjerming tittel mappe - unntatt første linje", "Skjerming navn part i sak")
_SCREENED_IN_RECORD = ("Skjerming tittel registrering - unntatt første linje",)
_CASE_TITLE = "Klage på vedtak etter sosialtjenesteloven"
_RECORD_TITLES = {
    PackageKind.initial: "Oversendelse av klage fra {office}",
    PackageKind.supplementary: "Ettersendt dokumentasjon i klagesak fra {office}",
}
_DOCUMENT_TYPES = {
    DocumentCategory.appeal: "Klage",
    DocumentCategory.decision: "Vedtak",
    DocumentCategory.forwarding_letter: "Oversendelsesbrev",
    DocumentCategory.application: "Søknad",
    DocumentCategory.journal_note: "Journalnotat",
    DocumentCategory.advance_notice: "Forhåndsvarsel",
    DocumentCategory.settlement_list: "Oppgjørsliste",
    DocumentCategory.citizen_comment: "Merknad fra klager",
    DocumentCategory.documentation_response: "Ettersendt dokumentasjon",
    DocumentCategory.statsforvalter_decision: "Statsforvalterens vedtak",
    DocumentCategory.correspondence: "Korrespondanse",
}
_OTHER_DOCUMENT_TYPE = "Saksdokument"  # supporting documents, and categories added later
# A title is NAV's free text; eleven digits in it may be a national id, which an arkivmelding
# has no field for and must not carry in any other.
_NATIONAL_ID_LIKE = re.compile(r"(?<!\d)\d{6}\s?\d{5}(?!\d)")


@dataclass(frozen=True)
class Party:
    """An office as the archive message and the envelope name it."""

    name: str
    organisation_number: str | None
    office_id: str
    """The registry's id (a NAV office's unit number, a Statsforvalter office's id)."""


@dataclass(frozen=True)
class ArchiveContext:
    """What the archive files say beyond the package and its documents."""

    nav_office: Party
    statsforvalter_office: Party
    appeal_received_on: dt.date
    receipt_overdue_working_days: int


async def context_for(
    session: AsyncSession, package: CasePackage, *, receipt_overdue_working_days: int
) -> ArchiveContext:
    """The parties of a package as the registry has them now, and what its manifest froze."""
    appeal = package.manifest["appeal"]
    if not isinstance(appeal, dict):
        raise TypeError("a package manifest without its appeal")
    nav = await registry.get_nav_office(session, appeal["nav_office_unit_number"])
    statsforvalter = await registry.get_statsforvalter_office(
        session, package.statsforvalter_office_id
    )
    if nav is None or statsforvalter is None:  # both are the appeal's foreign keys
        raise LookupError(f"package {package.id}: an office is missing from the registry")
    return ArchiveContext(
        nav_office=Party(nav.name, nav.organisation_number, nav.unit_number),
        statsforvalter_office=Party(
            statsforvalter.name, statsforvalter.organisation_number, statsforvalter.id
        ),
        appeal_received_on=dt.date.fromisoformat(appeal["received_on"]),
        receipt_overdue_working_days=receipt_overdue_working_days,
    )


def receipt_overdue_at(frozen_at: dt.datetime, working_days: int) -> dt.datetime:
    """When a package frozen at `frozen_at` becomes overdue for receipt: the start of the day
    after its `working_days`-th working day. `service.overdue_threshold` counts the same days
    back from today; a test holds the two together."""
    day = frozen_at.astimezone(NORWAY).date()
    counted = 0
    while counted < working_days:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=NORWAY)


@dataclass(frozen=True)
class _Entry:
    number: int
    name: str
    document: Document

    @property
    def main(self) -> bool:
        return self.number == 1


def _numbered(files: Sequence[tuple[str, Document]]) -> list[_Entry]:
    """The documents numbered as the archive message lists them: the main document first, the
    rest in upload order (the package's order breaks ties)."""
    dated = sorted(enumerate(files), key=lambda item: (item[1][1].uploaded_at, item[0]))
    in_order = [file for _, file in dated]
    letters = [
        n for n, (_, d) in enumerate(in_order) if d.category is DocumentCategory.forwarding_letter
    ]
    if in_order:
        in_order.insert(0, in_order.pop(letters[-1] if letters else 0))
    return [_Entry(n, name, document) for n, (name, document) in enumerate(in_order, 1)]


def _id(kind: str, *ids: uuid.UUID) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join([kind, *map(str, ids)])))


def _time(at: dt.datetime) -> str:
    return at.astimezone(NORWAY).isoformat(timespec="seconds")


def _title(text: str) -> str:
    return _NATIONAL_ID_LIKE.sub("[fjernet]", text)


class _Xml:
    """Writes elements in the order given, indented, text escaped; the schema's order is the
    caller's to keep (the validator in the tests checks it)."""

    def __init__(self) -> None:
        self._lines = ['<?xml version="1.0" encoding="UTF-8"?>']
        self._depth = 0

    @contextmanager
    def element(self, tag: str, attributes: str = "") -> Iterator[None]:
        self._line(f"<{tag}{attributes}>")
        self._depth += 1
        yield
        self._depth -= 1
        self._line(f"</{tag}>")

    def leaf(self, tag: str, value: object) -> None:
        self._line(f"<{tag}>{escape(str(value))}</{tag}>")

    def bytes(self) -> bytes:
        return ("\n".join(self._lines) + "\n").encode()

    def _line(self, text: str) -> None:
        self._lines.append("  " * self._depth + text)


def _typed(name: str) -> str:
    return f" xsi:type={quoteattr(name)}"


def _skjerming(xml: _Xml, screened: Sequence[str]) -> None:
    with xml.element("skjerming"):
        xml.leaf("tilgangsrestriksjon", _RESTRICTION)
        xml.leaf("skjermingshjemmel", _LEGAL_BASIS)
        for metadata in screened:
            xml.leaf("skjermingMetadata", metadata)


def _dokumentbeskrivelse(xml: _Xml, package: CasePackage, entry: _Entry) -> None:
    document = entry.document
    uploaded = _time(document.uploaded_at)
    with xml.element("dokumentbeskrivelse"):
        xml.leaf("systemID", _id("dokumentbeskrivelse", package.id, document.id))
        xml.leaf("dokumenttype", _DOCUMENT_TYPES.get(document.category, _OTHER_DOCUMENT_TYPE))
        xml.leaf("dokumentstatus", "Dokumentet er ferdigstilt")
        xml.leaf("tittel", _title(document.title))
        xml.leaf("opprettetDato", uploaded)
        xml.leaf("opprettetAv", _SYSTEM)
        xml.leaf("tilknyttetRegistreringSom", "Hoveddokument" if entry.main else "Vedlegg")
        xml.leaf("dokumentnummer", entry.number)
        xml.leaf("tilknyttetDato", _time(package.frozen_at))
        xml.leaf("tilknyttetAv", _SYSTEM)
        with xml.element("dokumentobjekt"):
            xml.leaf("versjonsnummer", 1)
            # Stored as uploaded: klageapi does not know whether a PDF is PDF/A.
            xml.leaf("variantformat", "Produksjonsformat")
            xml.leaf("opprettetDato", uploaded)
            xml.leaf("opprettetAv", _SYSTEM)
            xml.leaf("referanseDokumentfil", entry.name)


_URGENT_REASONS = {
    UrgentReason.emergency_help: "nødhjelp",
    UrgentReason.eviction: "utkastelse",
    UrgentReason.electricity_arrears: "strømrestanse",
    UrgentReason.temporary_housing: "midlertidig botilbud",
    UrgentReason.other: "annen grunn",
}


def forwarding_notes(package: CasePackage) -> list[str]:
    """What NAV's forwarding form says, as the journal post's notes (merknad: Noark 5 has no
    field of its own for any of it), in Norwegian as the archive keeps them. Codes, dates and
    yes/no only: nothing about the person."""
    facts = package.manifest.get("forwarding")
    form = facts if isinstance(facts, dict) else {}
    notes = []
    if package.urgent and package.urgent_reason is not None:
        notes.append(f"Hastesak: {_URGENT_REASONS[package.urgent_reason]}.")
    if form.get("deferred_enforcement_requested"):
        notes.append("Klageren har bedt om utsatt iverksetting (fvl. § 42).")
    if form.get("case_presentation_sent_on"):
        deadline = form.get("comment_deadline_on")
        notes.append(
            f"Saksfremlegg sendt klageren {form['case_presentation_sent_on']}"
            + (f", merknadsfrist {deadline}" if deadline else "")
            + " (fvl. § 33)."
        )
    if form.get("other_appeal_pending"):
        notes.append("Klageren har en annen klage til behandling.")
    if form.get("children_affected"):
        assessed = "er vurdert" if form.get("children_needs_assessed") else "er ikke vurdert"
        notes.append(f"Barn er berørt av vedtaket; barnas behov {assessed}.")
    return notes


def arkivmelding_xml(
    package: CasePackage, files: Sequence[tuple[str, Document]], context: ArchiveContext
) -> bytes:
    """The archive message for a package whose documents are the ZIP's `files` (name,
    document): one case for the appeal holding one incoming journal post for the package. Its
    elements follow arkivmelding.xsd's order, which follows the types' inheritance."""
    entries = _numbered(files)
    nav = context.nav_office
    case_id = _id("saksmappe", package.appeal_id)
    frozen = _time(package.frozen_at)
    opened = dt.datetime.combine(context.appeal_received_on, dt.time(), tzinfo=NORWAY)
    xml = _Xml()
    root = f' xmlns="{_XMLNS}" xmlns:xsi="{_XSI}"'
    with xml.element("arkivmelding", root):
        xml.leaf("system", _SYSTEM)
        xml.leaf("meldingId", package.id)
        xml.leaf("tidspunkt", frozen)
        xml.leaf("antallFiler", len(entries))
        with xml.element("mappe", _typed("saksmappe")):
            xml.leaf("systemID", case_id)
            xml.leaf("tittel", _CASE_TITLE)
            xml.leaf("offentligTittel", _CASE_TITLE)
            xml.leaf("opprettetDato", _time(opened))
            xml.leaf("opprettetAv", _SYSTEM)
            _skjerming(xml, _SCREENED_IN_CASE)
            with xml.element("basisregistrering", _typed("journalpost")):
                xml.leaf("systemID", _id("journalpost", package.id))
                xml.leaf("opprettetDato", frozen)
                xml.leaf("opprettetAv", _SYSTEM)
                xml.leaf("arkivertDato", frozen)
                xml.leaf("arkivertAv", _SYSTEM)
                xml.leaf("referanseForelderMappe", case_id)
                _skjerming(xml, _SCREENED_IN_RECORD)
                for entry in entries:
                    _dokumentbeskrivelse(xml, package, entry)
                title = _RECORD_TITLES[package.kind].format(office=nav.name)
                xml.leaf("tittel", title)
                xml.leaf("offentligTittel", title)
                for text in forwarding_notes(package):
                    with xml.element("merknad"):
                        xml.leaf("merknadstekst", text)
                        xml.leaf("merknadsdato", frozen)
                        xml.leaf("merknadRegistrertAv", _SYSTEM)
                xml.leaf("journalposttype", "Inngående dokument")
                xml.leaf("journalstatus", "Journalført")
                xml.leaf("journaldato", package.frozen_at.astimezone(NORWAY).date())
                xml.leaf("antallVedlegg", max(len(entries) - 1, 0))
                with xml.element("korrespondansepart"):
                    xml.leaf("korrespondanseparttype", "Avsender")
                    xml.leaf("korrespondansepartNavn", nav.name)
            xml.leaf("saksdato", context.appeal_received_on)
            xml.leaf("administrativEnhet", nav.name)
            xml.leaf("saksansvarlig", nav.name)
            xml.leaf("saksstatus", "Under behandling")
    return xml.bytes()


def _actor(party: Party) -> dict[str, object]:
    if party.organisation_number is None:
        return {"identifier": {"authority": _OFFICE_ID_AUTHORITY, "value": party.office_id}}
    return {"identifier": {"authority": _AUTHORITY, "value": f"0192:{party.organisation_number}"}}


def sbd_json(
    package: CasePackage, files: Sequence[tuple[str, Document]], context: ArchiveContext
) -> bytes:
    """The envelope eFormidling sends an arkivmelding in, from the NAV office to the
    Statsforvalter office, in the conversation of the appeal, expected to be received before
    the package is overdue."""
    entries = _numbered(files)
    overdue_at = receipt_overdue_at(package.frozen_at, context.receipt_overdue_working_days)
    business_message: dict[str, object] = {"sikkerhetsnivaa": _SECURITY_LEVEL}
    if entries:
        business_message["hoveddokument"] = entries[0].name
    envelope = {
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [_actor(context.nav_office)],
            "receiver": [_actor(context.statsforvalter_office)],
            "documentIdentification": {
                "standard": _STANDARD,
                "typeVersion": _TYPE_VERSION,
                "instanceIdentifier": str(package.id),
                "type": "arkivmelding",
                "creationDateAndTime": _time(package.frozen_at),
            },
            "businessScope": {
                "scope": [
                    {
                        "type": "ConversationId",
                        "instanceIdentifier": _id("conversation", package.appeal_id),
                        "identifier": PROCESS,
                        "scopeInformation": [{"expectedResponseDateTime": _time(overdue_at)}],
                    }
                ]
            },
        },
        "arkivmelding": business_message,
    }
    return json.dumps(envelope, indent=2, ensure_ascii=False).encode()
