"""Validators for Norwegian identifiers, shared by every schema that carries them."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from stdnum.no import fodselsnummer, orgnr

__all__ = [
    "MunicipalityNumber",
    "NationalId",
    "OrganisationNumber",
    "Text",
    "UnitNumber",
    "validate_national_id",
]


def validate_national_id(value: str) -> str:
    """The national id, or ValueError naming what is wrong with it."""
    # python-stdnum checks both check digits and the birth date; d-numbers (day + 40) included.
    try:
        return str(fodselsnummer.validate(value))
    except Exception as error:  # stdnum raises several ValidationError subclasses
        raise ValueError("not a valid fødselsnummer or d-nummer (check digits)") from error


def _organisation_number(value: str) -> str:
    try:
        return str(orgnr.validate(value))
    except Exception as error:
        raise ValueError("not a valid organisation number (check digit)") from error


NationalId = Annotated[
    str,
    Field(min_length=11, max_length=11, pattern=r"^[0-9]{11}$", examples=["15076500565"]),
    AfterValidator(validate_national_id),
]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused as invalid input, not left to fail as a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""Free text from a client: any Unicode except NUL."""

OrganisationNumber = Annotated[
    str,
    Field(min_length=9, max_length=9, pattern=r"^[0-9]{9}$", examples=["977777771"]),
    AfterValidator(_organisation_number),
]
MunicipalityNumber = Annotated[str, Field(pattern=r"^[0-9]{4}$", examples=["1103"])]
UnitNumber = Annotated[str, Field(pattern=r"^[0-9]{4}$", examples=["1103"])]
