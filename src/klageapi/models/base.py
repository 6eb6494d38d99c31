"""The declarative base, with a constraint naming convention so migrations name things stably."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import DateTime, Enum, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "TimestampMixin", "Trigger", "text_enum"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: DateTime(timezone=True)}


@dataclass(frozen=True)
class Trigger:
    """A trigger that a migration creates and the code relies on; `tests/test_migrations.py`
    fails when a database at head lacks it, or its function no longer writes what it keeps."""

    name: str
    table: str
    function: str
    why: str
    keeps: tuple[str, ...] = ()
    """The columns (`table.column`) it writes, which no code writes."""


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


def text_enum(enum_class: type[enum.StrEnum], name: str) -> Enum:
    """An enum stored as text with a CHECK constraint: adding a value is a plain migration."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=40,
        values_callable=lambda members: [member.value for member in members],
    )
