"""Every ORM model; importing this package gives Alembic the whole metadata."""

from klageapi.models.appeal import Appeal, AppealHistory, AppealStatus, Channel, NavOutcome
from klageapi.models.audit import AuditEntry
from klageapi.models.base import Base
from klageapi.models.event import Event
from klageapi.models.idempotency import IdempotencyRecord
from klageapi.models.registry import CountyRoute, NavOffice, StatsforvalterOffice

__all__ = [
    "Appeal",
    "AppealHistory",
    "AppealStatus",
    "AuditEntry",
    "Base",
    "Channel",
    "CountyRoute",
    "Event",
    "IdempotencyRecord",
    "NavOffice",
    "NavOutcome",
    "StatsforvalterOffice",
]
