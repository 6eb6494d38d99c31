"""What a forwarded appeal must contain, by what the decision was about: the Statsforvalter
offices' forwarding checklists as data.

Sources: Statsforvalteren i Vestland's guidance on forwarding appeals under the social services
act (2023) and the forwarding form of the former Fylkesmannen i Hedmark. For economic assistance
they ask for the application with its attachments, the decision, the appeal and NAV's
assessment (the forwarding letter); for a refund claim, the claim's decision, the advance notice
and the settlement list. Documentation NAV gathered and relevant journal notes are asked for
where they exist, so they are not required.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from klageapi.models import DocumentCategory, LegalBasis

__all__ = ["REQUIRED_DOCUMENTS", "missing_documents"]

_C = DocumentCategory
_ASSISTANCE = (_C.appeal, _C.decision, _C.forwarding_letter, _C.application)

REQUIRED_DOCUMENTS: Mapping[LegalBasis, tuple[DocumentCategory, ...]] = {
    LegalBasis.economic_assistance: _ASSISTANCE,
    LegalBasis.special_circumstances: _ASSISTANCE,
    LegalBasis.conditions: _ASSISTANCE,
    LegalBasis.temporary_housing: _ASSISTANCE,
    LegalBasis.refund_claim: (
        _C.appeal,
        _C.decision,
        _C.forwarding_letter,
        _C.advance_notice,
        _C.settlement_list,
    ),
}


def missing_documents(basis: LegalBasis, present: Collection[DocumentCategory]) -> list[str]:
    """The categories the checklist for `basis` asks for that are not among `present`."""
    return [category.value for category in REQUIRED_DOCUMENTS[basis] if category not in present]
