"""Refusals about appeals."""

from __future__ import annotations

import uuid

from klageapi.core.errors import Conflict, FieldError, NotFound, ValidationFailed

__all__ = ["AppealNotFound", "ExternalReferenceConflict", "MunicipalityNotServed"]


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
