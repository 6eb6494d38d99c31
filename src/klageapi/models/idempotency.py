"""Requests sent with an Idempotency-Key: claimed while they run, then their stored answers."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from klageapi.models.base import Base, text_enum

__all__ = ["IdempotencyRecord", "IdempotencyState"]


class IdempotencyState(enum.StrEnum):
    in_flight = "in_flight"
    """Claimed by a request that is still running; `expires_at` ends the claim if it crashed."""
    completed = "completed"
    """Answered 2xx; the answer is replayed until `expires_at` (the retention)."""


class IdempotencyRecord(Base):
    """One (organisation, method and path, key): claimed while its first request runs, then the
    response, kept to be replayed. A committed row, never a held lock or connection."""

    __tablename__ = "idempotency_key"
    __table_args__ = (Index("ix_idempotency_key_expires_at", "expires_at"),)

    organisation: Mapped[str] = mapped_column(String(20), primary_key=True)
    request_target: Mapped[str] = mapped_column(String(300), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[IdempotencyState] = mapped_column(
        text_enum(IdempotencyState, "idempotency_state"),
        server_default=IdempotencyState.completed.value,
    )
    # Which request holds the claim: only its holder may complete it or let it go.
    claim_token: Mapped[uuid.UUID | None]
    response_status: Mapped[int | None]
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
