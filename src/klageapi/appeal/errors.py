"""Refusals about appeals."""

from __future__ import annotations

import uuid

from klageapi.core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    KlageError,
    NotFound,
    ValidationFailed,
)

__all__ = [
    "AppealNotFound",
    "DecisionDocumentRequired",
    "ExternalReferenceConflict",
    "MunicipalityNotServed",
    "NotPermittedForRole",
    "PreconditionFailed",
    "PreconditionRequired",
    "SupplementaryPackageWaiting",
    "TransitionNotAllowed",
]


class AppealNotFound(NotFound):
    code = "appeal_not_found"

    def __init__(self, appeal_id: uuid.UUID) -> None:
        super().__init__(f"No appeal {appeal_id} that you may see.", appeal_id=str(appeal_id))


class ExternalReferenceConflict(Conflict):
    code = "external_reference_conflict"

    def __init__(self, *, external_reference: str, existing_appeal_id: uuid.UUID) -> None:
        super().__init__(
            f"The office already registered external reference {external_reference!r} as appeal "
            f"{existing_appeal_id}, with different content.",
            existing_appeal_id=str(existing_appeal_id),
        )


class MunicipalityNotServed(ValidationFailed):
    code = "municipality_not_served"

    def __init__(self, *, municipality_number: str, unit_number: str) -> None:
        super().__init__(
            [
                FieldError(
                    "municipality_number",
                    f"municipality {municipality_number} is not served by NAV office {unit_number}",
                    "municipality_not_served",
                )
            ]
        )


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"
    title = "Transition not allowed"

    def __init__(self, *, action: str, current: str, allowed: list[str]) -> None:
        super().__init__(
            f"{action} is not possible while the appeal is {current}; "
            f"possible now: {', '.join(allowed) or 'nothing (the appeal is closed)'}.",
            current_status=current,
            allowed_actions=allowed,
        )


class NotPermittedForRole(Forbidden):
    code = "not_permitted_for_role"
    title = "Not permitted for your role"

    def __init__(self, *, action: str, appeal_id: uuid.UUID) -> None:
        super().__init__(
            f"Your organisation may see appeal {appeal_id}, but {action} is for the other "
            "party to the appeal.",
            action=action,
        )


class PreconditionRequired(KlageError):
    status = 428
    code = "precondition_required"
    title = "Precondition required"

    def __init__(self) -> None:
        super().__init__(
            "This change needs If-Match with the appeal's current ETag, so that it is not made "
            "on a version you have not seen."
        )


class PreconditionFailed(KlageError):
    status = 412
    code = "precondition_failed"
    title = "Precondition failed"

    def __init__(self, *, current_version: int | None) -> None:
        if current_version is None:
            super().__init__('If-Match holds no ETag this API hands out, such as "3".')
            return
        super().__init__(
            f'The appeal has changed since you read it (its ETag is now "{current_version}"); '
            "read it again and decide anew.",
            current_etag=f'"{current_version}"',
        )


class DecisionDocumentRequired(ValidationFailed):
    code = "decision_document_required"

    def __init__(self) -> None:
        super().__init__(
            [
                FieldError(
                    "document_id",
                    "must be an uploaded statsforvalter_decision document of this appeal",
                    "decision_document_required",
                )
            ]
        )


class SupplementaryPackageWaiting(Conflict):
    code = "supplementary_package_waiting"

    def __init__(self, package_id: uuid.UUID) -> None:
        super().__init__(
            f"Package {package_id} with the documentation NAV sent is still awaiting receipt:"
            " acknowledge it before deciding.",
            package_id=str(package_id),
        )
