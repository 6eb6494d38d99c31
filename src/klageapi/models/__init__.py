"""Every ORM model; importing this package gives Alembic the whole metadata."""

from klageapi.models.appeal import Appeal, AppealHistory, AppealStatus, Channel
from klageapi.models.audit import AuditEntry
from klageapi.models.base import Base
from klageapi.models.registry import CountyRoute, NavOffice, StatsforvalterOffice

__all__ = [
    "Appeal",
    "AppealHistory",
    "AppealStatus",
    "AuditEntry",
    "Base",
    "Channel",
    "CountyRoute",
    "NavOffice",
    "StatsforvalterOffice",
]
