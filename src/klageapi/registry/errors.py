"""Refusals of the registry."""

from __future__ import annotations

from klageapi.core.errors import FieldError, NotFound, ValidationFailed

__all__ = ["NavOfficeNotFound", "StatsforvalterOfficeNotFound", "UnknownCounty"]


class NavOfficeNotFound(NotFound):
    code = "nav_office_not_found"

    def __init__(self, unit_number: str, *, acting_for: bool = False) -> None:
        detail = f"No NAV office {unit_number}" + (" that you act for." if acting_for else ".")
        super().__init__(detail, unit_number=unit_number)


class StatsforvalterOfficeNotFound(NotFound):
    code = "statsforvalter_office_not_found"

    def __init__(self, office_id: str) -> None:
        super().__init__(f"No Statsforvalter office {office_id!r}.", office_id=office_id)


class UnknownCounty(ValidationFailed):
    code = "unknown_county"

    def __init__(self, field: str, municipality_number: str) -> None:
        super().__init__(
            [
                FieldError(
                    field,
                    f"municipality {municipality_number} is in county {municipality_number[:2]}, "
                    "which the routing table does not know",
                    "unknown_county",
                )
            ]
        )
