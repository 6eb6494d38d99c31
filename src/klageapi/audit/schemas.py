"""Response bodies of the audit log."""

from __future__ import annotations

import datetime as dt
import uuid

from klageapi.core.pagination import Page
from klageapi.core.schemas import Schema

__all__ = ["AuditEntryPage", "AuditEntryRead"]


class AuditEntryRead(Schema):
    id: int
    occurred_at: dt.datetime
    actor_kind: str
    actor_organisation: str | None
    actor_supplier: str | None
    action: str
    appeal_id: uuid.UUID | None
    purpose: str
    request_id: str | None


class AuditEntryPage(Page[AuditEntryRead]):
    """A page of the audit log, oldest first."""
