"""The audit log of reads of personal data; append-only, enforced by a trigger."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Identity, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from klageapi.models.base import Base, Trigger

__all__ = ["APPEND_ONLY", "AuditEntry"]


class AuditEntry(Base):
    """Who read which appeal's personal data, for which organisation, when and why."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_appeal_id_id", "appeal_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    occurred_at: Mapped[dt.datetime]
    actor_organisation: Mapped[str | None] = mapped_column(String(20))
    actor_supplier: Mapped[str | None] = mapped_column(String(20))
    actor_kind: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    appeal_id: Mapped[uuid.UUID | None]
    purpose: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))


APPEND_ONLY = Trigger(
    name="audit_log_append_only",
    table="audit_log",
    function="audit_log_refuse_change",
    why="An audit log that can be changed proves nothing: UPDATE, DELETE and TRUNCATE are"
    " refused by the database, whoever connects.",
)
