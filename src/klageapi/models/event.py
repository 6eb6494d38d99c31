"""The transactional outbox: one row per event, written in the transaction of the change."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from klageapi.models.base import Base

__all__ = ["Event"]


class Event(Base):
    """A thin event: what happened to which appeal, for which offices. No personal data."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_transaction_id_id", "transaction_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True, doc="Public id; webhook-id.")
    # The writing transaction's id: the feed serves an event only once every transaction that
    # started before it has ended, so a cursor never skips a late commit.
    transaction_id: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )
    type: Mapped[str] = mapped_column(String(60))
    occurred_at: Mapped[dt.datetime]
    recorded_at: Mapped[dt.datetime]
    appeal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appeal.id", ondelete="CASCADE"), index=True
    )
    nav_office_unit_number: Mapped[str] = mapped_column(String(4))
    statsforvalter_office_id: Mapped[str] = mapped_column(String(64))
    statsforvalter_visible: Mapped[bool] = mapped_column(
        doc="True once the appeal was forwarded: the Statsforvalter office may see this event."
    )
    status: Mapped[str] = mapped_column(String(40), doc="The appeal's status after the change.")
    data: Mapped[dict[str, object]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
