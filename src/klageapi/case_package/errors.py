"""Refusals about case packages and the Statsforvalter's steps."""

from __future__ import annotations

import uuid

from klageapi.core.errors import Conflict, FieldError, Gone, NotFound, ValidationFailed

__all__ = [
    "DocumentationRequestNotFound",
    "DocumentationRequestNotOpen",
    "DocumentsNotEligible",
    "NavOutcomeRequired",
    "PackageErased",
    "PackageNotAwaitingReceipt",
    "PackageNotFound",
    "PackageWithdrawn",
    "ReceiptConflict",
    "RequiredDocumentsMissing",
    "UnknownStatsforvalterOffice",
]


class PackageNotFound(NotFound):
    code = "package_not_found"

    def __init__(self, package_id: uuid.UUID) -> None:
        super().__init__(f"No package {package_id} that you may see.", package_id=str(package_id))


class NavOutcomeRequired(Conflict):
    code = "nav_outcome_required"
    title = "NAV's outcome is missing"

    def __init__(self) -> None:
        super().__init__(
            "Only an appeal NAV has upheld or partly reversed is forwarded; record the outcome "
            "first (POST .../nav-outcome)."
        )


class RequiredDocumentsMissing(ValidationFailed):
    code = "required_documents_missing"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            [
                FieldError("documents", f"no document of category {category}", "missing")
                for category in missing
            ],
            detail=f"The package needs a document of each category: {', '.join(missing)}.",
        )
        self.extra["missing_categories"] = missing


class PackageNotAwaitingReceipt(Conflict):
    code = "package_not_awaiting_receipt"

    def __init__(self, status: str) -> None:
        super().__init__(f"The package is {status}, not awaiting receipt.", package_status=status)


class PackageErased(Gone):
    code = "package_erased"

    def __init__(self) -> None:
        super().__init__(
            "The appeal's retention period has passed: its documents and personal data were"
            " erased, so there is no bundle. The Statsforvalter's and NAV's archives have the"
            " case.",
        )


class PackageWithdrawn(Conflict):
    code = "package_withdrawn"

    def __init__(self) -> None:
        super().__init__(
            "The appeal was withdrawn, closed or sent back to NAV while the package awaited"
            " receipt: there is nothing to receive or reject.",
            package_status="withdrawn",
        )


class ReceiptConflict(Conflict):
    code = "receipt_conflict"

    def __init__(self, case_number: str) -> None:
        super().__init__(
            f"The package was already received under case number {case_number}.",
            statsforvalter_case_number=case_number,
        )


class UnknownStatsforvalterOffice(ValidationFailed):
    code = "unknown_statsforvalter_office"

    def __init__(self, office_id: str) -> None:
        super().__init__(
            [
                FieldError(
                    "statsforvalter_office_id",
                    f"{office_id!r} is not another Statsforvalter office",
                    "unknown_office",
                )
            ]
        )


class DocumentationRequestNotFound(NotFound):
    code = "documentation_request_not_found"

    def __init__(self, request_id: uuid.UUID) -> None:
        super().__init__(f"No documentation request {request_id} that you may see.")


class DocumentationRequestNotOpen(Conflict):
    code = "documentation_request_not_open"

    def __init__(self, status: str) -> None:
        super().__init__(f"The documentation request is {status}.", request_status=status)


class DocumentsNotEligible(ValidationFailed):
    code = "documents_not_eligible"

    def __init__(self, document_ids: list[uuid.UUID]) -> None:
        super().__init__(
            [
                FieldError(
                    "document_ids",
                    f"{document_id} is not a document of this appeal uploaded after the request",
                    "not_eligible",
                )
                for document_id in document_ids
            ]
        )
