"""Statements built once that write whole rows: each row's values are bound parameters named
`<prefix>_<column>`, so one statement can write several rows in CTEs and be compiled once, and
a call passes the values under the same names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import BindParameter, Table, bindparam
from sqlalchemy.orm import DeclarativeBase

__all__ = ["binds", "bound", "table_of"]


def table_of(model: type[DeclarativeBase]) -> Table:
    """A mapped class's table."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def binds(table: Table, prefix: str, names: Sequence[str]) -> dict[str, BindParameter[object]]:
    """The bound parameters of a row's columns `names`, typed as the columns are."""
    return {name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in names}


def bound(prefix: str, row: Mapping[str, object], names: Sequence[str]) -> dict[str, object]:
    """The values of `row` for the parameters `binds` made with the same prefix and names."""
    return {f"{prefix}_{name}": row[name] for name in names}
