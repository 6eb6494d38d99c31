"""Request and response bodies of the registry endpoints."""

from __future__ import annotations

from pydantic import Field

from klageapi.core.pagination import Page
from klageapi.core.schemas import Schema
from klageapi.core.validation import MunicipalityNumber, OrganisationNumber, Text, UnitNumber

__all__ = [
    "CountyRoutePage",
    "CountyRouteRead",
    "CountyRouteWrite",
    "NavOfficePage",
    "NavOfficeRead",
    "NavOfficeWrite",
    "StatsforvalterOfficePage",
    "StatsforvalterOfficeRead",
    "StatsforvalterOfficeWrite",
]


_NAME_NN = Field(
    default=None,
    min_length=1,
    max_length=200,
    description="The office's official Nynorsk name, when it has one other than `name`.",
)
_NAME_EN = Field(
    default=None,
    min_length=1,
    max_length=200,
    description="The office's official English name, when it has one other than `name`.",
)


class NavOfficeWrite(Schema):
    name: Text = Field(min_length=1, max_length=200, description="The official name (Bokmål).")
    name_nn: Text | None = _NAME_NN
    name_en: Text | None = _NAME_EN
    organisation_number: OrganisationNumber
    municipality_numbers: list[MunicipalityNumber] = Field(min_length=1, max_length=50)


class NavOfficeRead(Schema):
    unit_number: UnitNumber
    name: str
    name_nn: str | None = None
    name_en: str | None = None
    organisation_number: str
    municipality_numbers: list[str]


class StatsforvalterOfficeWrite(Schema):
    name: Text = Field(min_length=1, max_length=200, description="The official name (Bokmål).")
    name_nn: Text | None = _NAME_NN
    name_en: Text | None = _NAME_EN
    organisation_number: OrganisationNumber | None = None
    agent_organisation_numbers: list[OrganisationNumber] = Field(
        default=[], max_length=20, description="Organisations that act for this office (STAF)."
    )


class StatsforvalterOfficeRead(Schema):
    id: str
    name: str
    name_nn: str | None = None
    name_en: str | None = None
    organisation_number: str | None
    agent_organisation_numbers: list[str]
    counties: list[str]


class CountyRouteWrite(Schema):
    statsforvalter_office_id: str = Field(pattern=r"^[a-z0-9-]{2,64}$")


class CountyRouteRead(Schema):
    county: str = Field(examples=["11"])
    statsforvalter_office_id: str


class NavOfficePage(Page[NavOfficeRead]):
    """A page of NAV offices."""


class StatsforvalterOfficePage(Page[StatsforvalterOfficeRead]):
    """A page of Statsforvalter offices."""


class CountyRoutePage(Page[CountyRouteRead]):
    """The routing table."""
