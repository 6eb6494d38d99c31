"""The orders the Statsforvalter's queue can be read in, and keyset pagination under each.

Two lists share them: the pull feed (packages) and the list of appeals. Each order is a
`Keyset`: the columns it sorts by, each ascending or descending, the nullable ones with their
NULLs last, ending in the id so no two rows tie. A cursor holds the order's name and the last
row's values of its keys; the next page starts after them in that order (a lexicographic
comparison that respects each key's direction and its NULLs), so paging stays correct under
every order.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, literal, or_

from klageapi.models import Appeal, CasePackage

__all__ = [
    "APPEALS",
    "FEED",
    "AppealOrder",
    "FeedOrder",
    "InvalidPosition",
    "Keyset",
    "appeal_position",
    "feed_position",
]


class FeedOrder(enum.StrEnum):
    """The pull feed's orders."""

    urgent_first = "urgent_first"
    """Urgent packages first, then by forwarding: the default."""
    forwarded = "forwarded"
    """By when the package was forwarded (entered the office's queue)."""
    citizen_wait = "citizen_wait"
    """By NAV's receipt of the appeal: the citizen who has waited longest first."""
    urgent_then_citizen_wait = "urgent_then_citizen_wait"
    """Urgent packages first, then the citizen who has waited longest."""


class AppealOrder(enum.StrEnum):
    """The list of appeals' orders: the feed's, and its own default."""

    updated = "updated"
    """The oldest change first: the default, for clients that follow changes."""
    urgent_first = "urgent_first"
    """Urgent appeals first, then as `forwarded`."""
    forwarded = "forwarded"
    """By when the appeal came to the Statsforvalter: its receipt there (where the official
    measure starts), then, for appeals not received yet, their forwarding."""
    citizen_wait = "citizen_wait"
    """By NAV's receipt: the citizen who has waited longest first."""
    urgent_then_citizen_wait = "urgent_then_citizen_wait"
    """Urgent appeals first, then the citizen who has waited longest."""


class InvalidPosition(ValueError):
    """A cursor's values that do not fit its order."""


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidPosition("not a flag")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidPosition("not text")
    return value


@dataclass(frozen=True)
class Key:
    name: str
    """The attribute the row's value is read from."""
    column: ColumnElement[Any]
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    descending: bool = False
    nullable: bool = False
    """Sorted after every value (ascending keys only)."""

    def read(self, value: Any) -> Any:
        if value is None and self.nullable:
            return None
        return self.decode(value)


def _moment(name: str, column: ColumnElement[Any], *, nullable: bool = False) -> Key:
    decode = lambda v: dt.datetime.fromisoformat(_text(v))  # noqa: E731
    return Key(name, column, dt.datetime.isoformat, decode, nullable=nullable)


def _day(name: str, column: ColumnElement[Any]) -> Key:
    return Key(name, column, dt.date.isoformat, lambda v: dt.date.fromisoformat(_text(v)))


def _id(column: ColumnElement[Any]) -> Key:
    return Key("id", column, str, lambda v: uuid.UUID(_text(v)))


def _urgent(column: ColumnElement[Any]) -> Key:
    return Key("urgent", column, bool, _flag, descending=True)


class Keyset:
    """One order of one list: its keys, first to last."""

    def __init__(self, name: str, *keys: Key) -> None:
        self.name = name
        self.keys = keys

    def order_by(self) -> list[ColumnElement[Any]]:
        clauses: list[ColumnElement[Any]] = []
        for key in self.keys:
            clause = key.column.desc() if key.descending else key.column.asc()
            clauses.append(clause.nulls_last() if key.nullable else clause)
        return clauses

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows that come after `values` in this order: later in the first key, or equal in it
        and later in the next, and so on. NULL is later than every value and equal to NULL."""
        clauses = []
        equal: list[ColumnElement[bool]] = []
        for key, value in zip(self.keys, values, strict=True):
            if value is None:
                beyond: ColumnElement[bool] = false()
                equal.append(key.column.is_(None))
            else:
                # Typed parameters: SQLAlchemy compares a column with a plain True only by =
                # and IS.
                bound = literal(value, type_=key.column.type)
                if key.descending:
                    beyond = key.column < bound
                elif key.nullable:
                    beyond = or_(key.column > bound, key.column.is_(None))
                else:
                    beyond = key.column > bound
                clauses.append(and_(*equal, beyond))
                equal.append(key.column == bound)
        return or_(*clauses) if clauses else false()

    def encode(self, read: Callable[[str], Any]) -> list[Any]:
        """The cursor's position after the row whose key values `read` gives by name."""
        values = []
        for key in self.keys:
            value = read(key.name)
            values.append(None if value is None and key.nullable else key.encode(value))
        return [self.name, *values]

    def decode(self, position: Sequence[Any]) -> list[Any]:
        """The values of a cursor handed out under this order; InvalidPosition otherwise."""
        if not position:
            raise InvalidPosition("empty")
        name, *values = position
        if name != self.name or len(values) != len(self.keys):
            raise InvalidPosition("a cursor of another order")
        try:
            return [key.read(value) for key, value in zip(self.keys, values, strict=True)]
        except (TypeError, ValueError) as error:
            raise InvalidPosition(str(error)) from error


_FROZEN = _moment("frozen_at", CasePackage.frozen_at.expression)
_PACKAGE_ID = _id(CasePackage.id.expression)
_PACKAGE_URGENT = _urgent(CasePackage.urgent.expression)
_NAV_RECEIPT = _day("received_on", Appeal.received_on.expression)

FEED: dict[FeedOrder, Keyset] = {
    order: Keyset(order.value, *keys)
    for order, keys in {
        FeedOrder.urgent_first: (_PACKAGE_URGENT, _FROZEN, _PACKAGE_ID),
        FeedOrder.forwarded: (_FROZEN, _PACKAGE_ID),
        FeedOrder.citizen_wait: (_NAV_RECEIPT, _FROZEN, _PACKAGE_ID),
        FeedOrder.urgent_then_citizen_wait: (_PACKAGE_URGENT, _NAV_RECEIPT, _FROZEN, _PACKAGE_ID),
    }.items()
}
"""The pull feed's orders. A package's `received_on` is its appeal's."""

_ARRIVED = (
    _moment(
        "statsforvalter_received_at", Appeal.statsforvalter_received_at.expression, nullable=True
    ),
    _moment("forwarded_at", Appeal.forwarded_at.expression, nullable=True),
    _id(Appeal.id.expression),
)
_APPEAL_URGENT = _urgent(Appeal.urgent.expression)

APPEALS: dict[AppealOrder, Keyset] = {
    order: Keyset(order.value, *keys)
    for order, keys in {
        AppealOrder.updated: (
            _moment("updated_at", Appeal.updated_at.expression),
            _id(Appeal.id.expression),
        ),
        AppealOrder.urgent_first: (_APPEAL_URGENT, *_ARRIVED),
        AppealOrder.forwarded: _ARRIVED,
        AppealOrder.citizen_wait: (_NAV_RECEIPT, *_ARRIVED),
        AppealOrder.urgent_then_citizen_wait: (_APPEAL_URGENT, _NAV_RECEIPT, *_ARRIVED),
    }.items()
}
"""The list of appeals' orders."""


def feed_position(order: FeedOrder, position: Sequence[Any]) -> list[Any]:
    """A feed cursor's values. Cursors handed out before the feed had orders hold (frozen_at,
    id) or (urgent, frozen_at, id) and continue under the default order."""
    legacy = list(position)
    if len(legacy) == 2:
        legacy = [FeedOrder.urgent_first.value, False, *legacy]
    elif len(legacy) == 3 and isinstance(legacy[0], bool):
        legacy = [FeedOrder.urgent_first.value, *legacy]
    return FEED[order].decode(legacy)


def appeal_position(order: AppealOrder, position: Sequence[Any]) -> list[Any]:
    """A list cursor's values. Cursors handed out before the list had orders hold
    (updated_at, id) and continue under the default order."""
    legacy = list(position)
    if len(legacy) == 2:
        legacy = [AppealOrder.updated.value, *legacy]
    return APPEALS[order].decode(legacy)
