"""Who sees what, written once: the offices an organisation acts for, the parts it plays in an
appeal, and the visibility rule that every reader applies to its own columns.

The rule (DESIGN.md, "Who may do what"): an organisation sees the appeals of the NAV offices it
acts for, and the appeals forwarded to the Statsforvalter offices it is, or acts for (a shared
service such as STAF), from the moment they are forwarded. Appeals, their history, their events
and the statistics over them all follow it; what a caller may not see does not exist (404).
Changing who may see what is a change to this file.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    any_,
    bindparam,
    exists,
    false,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import Organisation
from klageapi.models import Appeal, CasePackage, Event, NavOffice, StatsforvalterOffice

__all__ = [
    "APPEAL",
    "EVENT",
    "ORGANISATION",
    "Columns",
    "Offices",
    "Role",
    "nav_offices_of",
    "offices",
    "offices_of",
    "packages_at",
    "roles_in",
    "roles_in_package",
    "statsforvalter_offices_of",
    "visible",
]


class Role(enum.StrEnum):
    """The part an organisation plays in one appeal."""

    nav = "nav"
    statsforvalter = "statsforvalter"
    appellant = "appellant"
    """The citizen whose appeal it is, with an ID-porten token: the citizen's own tasks."""


@dataclass(frozen=True)
class Offices:
    """The offices an organisation acts for, as the registry says now."""

    nav: frozenset[str]
    statsforvalter: frozenset[str]


@dataclass(frozen=True)
class Columns:
    """Where a table keeps what the rule reads: the appeal's NAV office, its Statsforvalter
    office, and whether it has been forwarded (as of the row)."""

    nav_office: ColumnElement[str]
    statsforvalter_office: ColumnElement[str]
    forwarded: ColumnElement[bool]


APPEAL = Columns(
    nav_office=Appeal.nav_office_unit_number.expression,
    statsforvalter_office=Appeal.statsforvalter_office_id.expression,
    forwarded=Appeal.forwarded_at.is_not(None),
)
# An event carries the appeal's offices and whether it was forwarded when the event was written,
# so the Statsforvalter does not see what happened before the forwarding.
EVENT = Columns(
    nav_office=Event.nav_office_unit_number.expression,
    statsforvalter_office=Event.statsforvalter_office_id.expression,
    forwarded=Event.statsforvalter_visible.expression,
)

ORGANISATION = bindparam("organisation_number", type_=String())
"""The organisation number as a statement parameter, for statements built once."""


def nav_offices_of(organisation: ColumnElement[str]) -> Select[str]:
    """The NAV offices registered under the organisation."""
    return select(NavOffice.unit_number).where(NavOffice.organisation_number == organisation)


def statsforvalter_offices_of(organisation: ColumnElement[str]) -> Select[str]:
    """The Statsforvalter offices the organisation is, or acts for."""
    return select(StatsforvalterOffice.id).where(
        or_(
            StatsforvalterOffice.organisation_number == organisation,
            organisation == any_(StatsforvalterOffice.agent_organisation_numbers),
        )
    )


_OFFICES = union_all(
    select(literal("nav").label("kind"), nav_offices_of(ORGANISATION).subquery().c.unit_number),
    select(literal("statsforvalter"), statsforvalter_offices_of(ORGANISATION).subquery().c.id),
)


async def offices_of(session: AsyncSession, organisation: Organisation) -> Offices:
    """Both kinds of office, in one round trip."""
    parameters = {"organisation_number": organisation.organisation_number}
    rows = (await session.execute(_OFFICES, parameters)).all()
    return offices(
        nav=[office for kind, office in rows if kind == "nav"],
        statsforvalter=[office for kind, office in rows if kind == "statsforvalter"],
    )


def offices(*, nav: Sequence[str] | None, statsforvalter: Sequence[str] | None) -> Offices:
    """Offices from lists as a query returned them (None for none)."""
    return Offices(nav=frozenset(nav or ()), statsforvalter=frozenset(statsforvalter or ()))


def visible(columns: Columns, offices: Offices | ColumnElement[str]) -> ColumnElement[bool]:
    """The rule on a table's columns, for the offices acted for.

    `offices` is either the offices read beforehand, which become literal lists (the common
    case, one NAV office, is then a plain index range), or an organisation number as an
    expression (a parameter, or a column of a joined table such as a subscription's owner),
    which the registry is asked for in the same statement.
    """
    if isinstance(offices, Offices):
        clauses: list[ColumnElement[bool]] = []
        if offices.nav:
            clauses.append(columns.nav_office.in_(sorted(offices.nav)))
        if offices.statsforvalter:
            clauses.append(
                columns.statsforvalter_office.in_(sorted(offices.statsforvalter))
                & columns.forwarded
            )
        if not clauses:
            return false()
        return clauses[0] if len(clauses) == 1 else or_(*clauses)
    acts_for_nav_office = exists(
        nav_offices_of(offices).where(NavOffice.unit_number == columns.nav_office)
    )
    acts_for_statsforvalter_office = exists(
        statsforvalter_offices_of(offices).where(
            StatsforvalterOffice.id == columns.statsforvalter_office
        )
    )
    return or_(acts_for_nav_office, columns.forwarded & acts_for_statsforvalter_office)


def roles_in(
    offices: Offices, *, nav_office: str, statsforvalter_office: str, forwarded: bool
) -> frozenset[Role]:
    """The parts an organisation acting for `offices` plays in an appeal with these values:
    the same rule as `visible`, on one row in hand. No role: it may not see the appeal."""
    roles = set()
    if nav_office in offices.nav:
        roles.add(Role.nav)
    if forwarded and statsforvalter_office in offices.statsforvalter:
        roles.add(Role.statsforvalter)
    return frozenset(roles)


def roles_in_package(
    roles: frozenset[Role], offices: Offices, *, statsforvalter_office: str
) -> frozenset[Role]:
    """The parts played in a package, from those played in its appeal: the Statsforvalter's
    only while the package is addressed to one of its offices."""
    if statsforvalter_office in offices.statsforvalter:
        return roles
    return roles - {Role.statsforvalter}


def packages_at(offices: Offices) -> ColumnElement[bool]:
    """Packages addressed to the Statsforvalter offices acted for: a package re-routed to
    another office has left this one's feed."""
    if not offices.statsforvalter:
        return false()
    return CasePackage.statsforvalter_office_id.in_(sorted(offices.statsforvalter))
