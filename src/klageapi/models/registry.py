"""The registry: Statsforvalter offices, NAV offices and the county routing between them."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from klageapi.models.base import Base, TimestampMixin

__all__ = ["CountyRoute", "NavOffice", "StatsforvalterOffice"]


class StatsforvalterOffice(Base, TimestampMixin):
    """An appeal body. `agent_organisation_numbers` are others that act for it (STAF)."""

    __tablename__ = "statsforvalter_office"
    __table_args__ = (CheckConstraint("id ~ '^[a-z0-9-]{2,64}$'", name="id_format"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text, doc="The office's official name in Bokmål.")
    name_nn: Mapped[str | None] = mapped_column(Text, doc="Its official Nynorsk name, if other.")
    name_en: Mapped[str | None] = mapped_column(Text, doc="Its official English name, if other.")
    organisation_number: Mapped[str | None] = mapped_column(String(9), index=True)
    agent_organisation_numbers: Mapped[list[str]] = mapped_column(
        ARRAY(String(9)), server_default="{}"
    )


class CountyRoute(Base, TimestampMixin):
    """Appeals from municipalities in `county` go to `statsforvalter_office_id`."""

    __tablename__ = "county_route"
    __table_args__ = (CheckConstraint("county ~ '^[0-9]{2}$'", name="county_format"),)

    county: Mapped[str] = mapped_column(String(2), primary_key=True)
    statsforvalter_office_id: Mapped[str] = mapped_column(
        ForeignKey("statsforvalter_office.id"), index=True
    )


class NavOffice(Base, TimestampMixin):
    """A NAV office, by its 4-digit unit number, acting for one organisation number."""

    __tablename__ = "nav_office"
    __table_args__ = (CheckConstraint("unit_number ~ '^[0-9]{4}$'", name="unit_number_format"),)

    unit_number: Mapped[str] = mapped_column(String(4), primary_key=True)
    name: Mapped[str] = mapped_column(Text, doc="The office's official name in Bokmål.")
    name_nn: Mapped[str | None] = mapped_column(Text, doc="Its official Nynorsk name, if other.")
    name_en: Mapped[str | None] = mapped_column(Text, doc="Its official English name, if other.")
    organisation_number: Mapped[str] = mapped_column(String(9), index=True)
    municipality_numbers: Mapped[list[str]] = mapped_column(ARRAY(String(4)), server_default="{}")
