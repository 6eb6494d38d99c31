"""Erasing what klageapi no longer needs: once an appeal is decided, closed or withdrawn, its
packages received, rejected or withdrawn, and the retention period has passed since, its
documents go (rows and bytes) and the personal data and free text on its rows are blanked:
the national id, the grounds, NAV's reasoning, the documentation requests' descriptions, the
packages' manifests' copies of these and of the document titles, a rejection's description.

What the statistics and the event feed read stays: the appeal's ids, offices, dates, statuses,
outcomes and milestones, its history and its events. The archive of record is the
Statsforvalter's and NAV's: they have the case from the package and the decision letter.

Each appeal is erased in a transaction of its own (locked with SKIP LOCKED, so several
workers share the work), with an audit entry and a thin `appeal.personal_data_erased` event.
The same transaction marks for removal each of its blobs that no document of any appeal has
any more (a blob is stored once per content); the blobs are deleted from the store after the
commit, and a round also deletes what an earlier one left marked (a crash, the store away).
An upload of the same bytes around the removal is refused, not left referring to removed
bytes: see `document.removal`."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from klageapi.audit.service import system_entry
from klageapi.core.clock import Clock
from klageapi.core.logging import get_logger
from klageapi.document import removal
from klageapi.document.storage import BlobStore
from klageapi.event import outbox
from klageapi.retention import repository

__all__ = ["ERASED_EVENT", "Erased", "erase_due"]

_log = get_logger(__name__)

ERASED_EVENT = "appeal.personal_data_erased"
_BATCH = 50
"""Appeals per round: a round runs between the dispatcher's, so it stays short."""


@dataclass(frozen=True)
class Erased:
    """What one round erased."""

    appeals: int = 0
    documents: int = 0
    blobs: int = 0


async def erase_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    store: BlobStore,
    clock: Clock,
    retention_days: int,
    batch: int = _BATCH,
) -> Erased:
    """Erase up to `batch` appeals finished more than `retention_days` ago."""
    now = clock.now()
    cutoff = now - dt.timedelta(days=retention_days)
    async with sessionmaker() as session:
        candidates = await repository.due(session, cutoff=cutoff, limit=batch)
    appeals = documents = 0
    for appeal_id in candidates:
        async with sessionmaker() as session, session.begin():
            erased = await _erase(
                session, appeal_id, cutoff=cutoff, now=now, retention_days=retention_days
            )
        if erased is not None:
            appeals += 1
            documents += erased
    blobs = await removal.remove_marked(sessionmaker, store=store, clock=clock)
    if appeals or blobs:
        _log.info("personal_data_erased", appeals=appeals, documents=documents, blobs=blobs)
    return Erased(appeals=appeals, documents=documents, blobs=blobs)


async def _erase(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    *,
    cutoff: dt.datetime,
    now: dt.datetime,
    retention_days: int,
) -> int | None:
    """Erase the appeal if it is still due; how many documents went, or None."""
    appeal = await repository.lock_if_due(session, appeal_id, cutoff=cutoff)
    if appeal is None:
        return None
    documents, blobs = await repository.erase_rows(session, appeal, now=now)
    await removal.mark_unreferenced(session, blobs, now=now)
    event = outbox.row(
        appeal,
        type_=ERASED_EVENT,
        occurred_at=now,
        recorded_at=now,
        data={"retention_days": retention_days, "documents": documents},
    )
    audit = system_entry(
        action=ERASED_EVENT,
        appeal_id=appeal.id,
        purpose=f"retention: {retention_days} days after the appeal was finished",
        now=now,
    )
    await repository.insert_audit_and_event(session, audit=audit, event=event)
    return documents
