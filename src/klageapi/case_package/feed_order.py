"""The orders the Statsforvalter's pull feed can be read in, and keyset pagination under each.

A cursor holds the order's name and the last package's values of the order's keys; the next
page starts after them in that order (a lexicographic comparison that respects each key's
direction), so paging stays correct under every order.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, literal, or_

from klageapi.models import Appeal, CasePackage

__all__ = ["FeedOrder", "InvalidPosition", "after", "decode", "encode", "order_by"]


class FeedOrder(enum.StrEnum):
    urgent_first = "urgent_first"
    """Urgent packages first, then by forwarding: the default."""
    forwarded = "forwarded"
    """By when the package was forwarded (entered the office's queue)."""
    citizen_wait = "citizen_wait"
    """By NAV's receipt of the appeal: the citizen who has waited longest first."""
    urgent_then_citizen_wait = "urgent_then_citizen_wait"
    """Urgent packages first, then the citizen who has waited longest."""


class InvalidPosition(ValueError):
    """A cursor's values that do not fit its order."""


@dataclass(frozen=True)
class _Key:
    column: ColumnElement[Any]
    descending: bool
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidPosition("not a flag")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidPosition("not text")
    return value


_URGENT = _Key(CasePackage.urgent.expression, True, bool, _flag)
_FORWARDED = _Key(
    CasePackage.frozen_at.expression,
    False,
    dt.datetime.isoformat,
    lambda v: dt.datetime.fromisoformat(_text(v)),
)
_CITIZEN = _Key(
    Appeal.received_on.expression,
    False,
    dt.date.isoformat,
    lambda v: dt.date.fromisoformat(_text(v)),
)
_ID = _Key(CasePackage.id.expression, False, str, lambda v: uuid.UUID(_text(v)))

_KEYS: dict[FeedOrder, tuple[_Key, ...]] = {
    FeedOrder.urgent_first: (_URGENT, _FORWARDED, _ID),
    FeedOrder.forwarded: (_FORWARDED, _ID),
    FeedOrder.citizen_wait: (_CITIZEN, _FORWARDED, _ID),
    FeedOrder.urgent_then_citizen_wait: (_URGENT, _CITIZEN, _FORWARDED, _ID),
}


def order_by(order: FeedOrder) -> list[ColumnElement[Any]]:
    return [key.column.desc() if key.descending else key.column for key in _KEYS[order]]


def after(order: FeedOrder, values: Sequence[Any]) -> ColumnElement[bool]:
    """Packages that come after `values` in `order`: later in the first key, or equal in it and
    later in the next, and so on."""
    keys = _KEYS[order]
    # Typed parameters: SQLAlchemy compares a column with a plain True only by = and IS.
    bound = [literal(value, type_=key.column.type) for key, value in zip(keys, values, strict=True)]
    clauses = []
    for n, key in enumerate(keys):
        beyond = key.column < bound[n] if key.descending else key.column > bound[n]
        equal = [keys[m].column == bound[m] for m in range(n)]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def encode(order: FeedOrder, package: CasePackage, received_on: dt.date) -> list[Any]:
    """The cursor's position after `package` (whose appeal NAV received on `received_on`)."""
    values = {
        _URGENT: package.urgent,
        _FORWARDED: package.frozen_at,
        _CITIZEN: received_on,
        _ID: package.id,
    }
    return [order.value, *(key.encode(values[key]) for key in _KEYS[order])]


def decode(order: FeedOrder, position: Sequence[Any]) -> list[Any]:
    """The values of a cursor handed out under `order`; InvalidPosition for anything else.
    Cursors handed out before the feed had orders hold (frozen_at, id) or (urgent, frozen_at,
    id) and continue under the default order."""
    legacy = list(position)
    if len(legacy) == 2:
        legacy = [FeedOrder.urgent_first.value, False, *legacy]
    elif len(legacy) == 3 and isinstance(legacy[0], bool):
        legacy = [FeedOrder.urgent_first.value, *legacy]
    name, *values = legacy
    keys = _KEYS[order]
    if name != order.value or len(values) != len(keys):
        raise InvalidPosition("a cursor of another order")
    try:
        return [key.decode(value) for key, value in zip(keys, values, strict=True)]
    except (TypeError, ValueError) as error:
        raise InvalidPosition(str(error)) from error
