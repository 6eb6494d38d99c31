"""The citizen's own tasks on their appeal, through the citizen's token: comment on the case
presentation while its deadline is open, send the documentation the Statsforvalter asked for,
send more unasked once the appeal is forwarded, and withdraw it.

Each is a step on the appeal (`appeal.lifecycle`): its history row names the appellant, never
the national id; its events (`citizen.*`, and `package.forwarded` for what is sent) carry ids
only and reach NAV and, once forwarded, the Statsforvalter; it is audited. What is sent is
frozen into a supplementary package in the Statsforvalter office's feed, behind NAV's.
Which tasks are open is decided here once (`open_tasks`), for the view and for the refusals.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import lifecycle
from klageapi.appeal import service as appeals
from klageapi.appeal.errors import TransitionNotAllowed
from klageapi.appeal.lifecycle import Action, Step
from klageapi.case_package import service as packages
from klageapi.citizen.errors import CommentDeadlinePassed, SenderReferenceConflict, TaskNotOpen
from klageapi.citizen.repository import OpenRequest
from klageapi.core.auth import Citizen
from klageapi.core.clock import Clock
from klageapi.core.db import Transactions
from klageapi.document import service as documents
from klageapi.document.storage import BlobStore, StoredBlob
from klageapi.models import (
    Appeal,
    AppealStatus,
    CasePackage,
    Document,
    DocumentationRequest,
    DocumentationRequestStatus,
    DocumentCategory,
)

__all__ = [
    "COMMENT_MEDIA_TYPE",
    "OpenTask",
    "Task",
    "TaskDone",
    "comment",
    "open_tasks",
    "send_documentation",
    "send_documents",
    "withdraw",
]

S = AppealStatus
COMMENT_MEDIA_TYPE = "text/plain; charset=utf-8"
_COMMENT_TITLE = "Merknad fra klager til saksfremlegget"
_OPEN = frozenset(AppealStatus) - lifecycle.CLOSED


class Task(enum.StrEnum):
    comment = "comment"
    send_documentation = "send_documentation"
    send_documents = "send_documents"
    withdraw = "withdraw"


@dataclass(frozen=True)
class OpenTask:
    task: Task
    due_on: dt.date | None = None
    request: OpenRequest | None = None


def open_tasks(
    appeal: Appeal,
    *,
    comment_deadline: dt.date | None,
    requests: Sequence[OpenRequest],
    today: dt.date,
) -> list[OpenTask]:
    """Exactly the tasks the citizen can do on the appeal now, each with its deadline."""
    tasks = []
    forwarded = appeal.status in lifecycle.AT_STATSFORVALTER
    if forwarded and comment_deadline is not None and today <= comment_deadline:
        tasks.append(OpenTask(Task.comment, due_on=comment_deadline))
    if appeal.status is S.awaiting_documentation:
        tasks.extend(
            OpenTask(Task.send_documentation, due_on=request.due_on, request=request)
            for request in sorted(requests, key=lambda r: (r.due_on, str(r.id)))
        )
    if forwarded:
        tasks.append(OpenTask(Task.send_documents))
    if appeal.status in _OPEN:
        tasks.append(OpenTask(Task.withdraw))
    return tasks


@dataclass(frozen=True)
class TaskDone:
    task: Task
    appeal: Appeal
    document: Document | None = None
    package: CasePackage | None = None
    repeated: bool = False
    """The same unasked document sent again under the same id: nothing new was stored."""


async def _comment_deadline(session: AsyncSession, appeal: Appeal) -> dt.date | None:
    return await packages.comment_deadline(session, appeal.id)


async def comment(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    text: str,
    *,
    citizen: Citizen,
    clock: Clock,
    store: BlobStore,
) -> TaskDone:
    """The citizen's comment on the case presentation, while its deadline is open: kept as a
    text document and sent to the Statsforvalter."""
    appeal = await appeals.lock_own(session, appeal_id, citizen=citizen)
    deadline = await _comment_deadline(session, appeal)
    today = clock.today()
    if not any(
        t.task is Task.comment
        for t in open_tasks(appeal, comment_deadline=deadline, requests=(), today=today)
    ):
        if deadline is not None and today > deadline and appeal.status in _OPEN:
            raise CommentDeadlinePassed(deadline)
        raise TaskNotOpen(Task.comment)
    content = text.encode()
    blob = await store.put(_once(content), max_size=len(content))
    upload = documents.Upload(
        category=DocumentCategory.citizen_comment,
        title=_COMMENT_TITLE,
        file_name="merknad.txt",
        media_type=COMMENT_MEDIA_TYPE,
        sha256=None,
        chunks=_once(content),
    )
    return await _send(
        session,
        appeal,
        Task.comment,
        Action.comment_by_appellant,
        upload,
        blob,
        citizen=citizen,
        clock=clock,
    )


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def send_documentation(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    request_id: uuid.UUID,
    file: documents.Upload,
    *,
    checks: Transactions,
    citizen: Citizen,
    clock: Clock,
    store: BlobStore,
    allowed_media_types: Sequence[str],
    max_bytes: int,
) -> TaskDone:
    """A file for an open documentation request, straight to the Statsforvalter; the request
    stays open for NAV to answer as well. No connection is held while the bytes come: the task
    is checked in a short transaction first (`checks`), and again once they are stored."""
    async with checks.begin() as checking:
        await _open_request(checking, appeal_id, request_id, citizen=citizen, for_update=False)
    blob = await documents.receive(
        file, store=store, allowed_media_types=allowed_media_types, max_bytes=max_bytes
    )
    request, appeal = await _open_request(
        session, appeal_id, request_id, citizen=citizen, for_update=True
    )
    return await _send(
        session,
        appeal,
        Task.send_documentation,
        Action.documentation_by_appellant,
        file,
        blob,
        citizen=citizen,
        clock=clock,
        request=request,
    )


async def _open_request(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    request_id: uuid.UUID,
    *,
    citizen: Citizen,
    for_update: bool,
) -> tuple[DocumentationRequest, Appeal]:
    appeal = await appeals.lock_own(session, appeal_id, citizen=citizen)
    request = await packages.documentation_request_of(
        session, appeal.id, request_id, for_update=for_update
    )
    if (
        request is None
        or request.status is not DocumentationRequestStatus.open
        or appeal.status is not S.awaiting_documentation
    ):
        raise TaskNotOpen(Task.send_documentation)
    return request, appeal


async def send_documents(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    file: documents.Upload,
    *,
    sender_reference: str,
    checks: Transactions,
    citizen: Citizen,
    clock: Clock,
    store: BlobStore,
    allowed_media_types: Sequence[str],
    max_bytes: int,
) -> TaskDone:
    """A file the citizen sends unasked once the appeal is forwarded, under the sender's own
    id: the same id with the same file again is the first one (nothing new stored); with
    another file, a conflict. As for documentation, no connection is held while the bytes
    come."""
    async with checks.begin() as checking:
        await _forwarded(checking, appeal_id, citizen=citizen)
        sent = await documents.by_sender_reference(checking, appeal_id, sender_reference)
    blob: StoredBlob | None = None
    if sent is not None:  # a repeat: its bytes are hashed, not kept
        sha256 = await documents.digest(file.chunks, max_bytes=max_bytes)
    else:
        blob = await documents.receive(
            file, store=store, allowed_media_types=allowed_media_types, max_bytes=max_bytes
        )
        sha256 = blob.sha256
    appeal = await _forwarded(session, appeal_id, citizen=citizen)
    sent = await documents.by_sender_reference(session, appeal.id, sender_reference)
    if sent is not None:  # sent before, or meanwhile by a request that held the appeal first
        return _repeat(appeal, sent, sha256, sender_reference)
    if blob is None:  # documents are never deleted: what was sent before is still there
        raise RuntimeError("a document sent before is gone")
    return await _send(
        session,
        appeal,
        Task.send_documents,
        Action.documents_by_appellant,
        file,
        blob,
        citizen=citizen,
        clock=clock,
        sender_reference=sender_reference,
    )


async def _forwarded(session: AsyncSession, appeal_id: uuid.UUID, *, citizen: Citizen) -> Appeal:
    appeal = await appeals.lock_own(session, appeal_id, citizen=citizen)
    if appeal.status not in lifecycle.AT_STATSFORVALTER:
        raise TaskNotOpen(Task.send_documents)
    return appeal


def _repeat(appeal: Appeal, sent: Document, sha256: str, sender_reference: str) -> TaskDone:
    if sent.sha256 != sha256:
        raise SenderReferenceConflict(sender_reference)
    return TaskDone(Task.send_documents, appeal, document=sent, repeated=True)


async def _send(
    session: AsyncSession,
    appeal: Appeal,
    task: Task,
    action: Action,
    file: documents.Upload,
    blob: StoredBlob,
    *,
    citizen: Citizen,
    clock: Clock,
    request: DocumentationRequest | None = None,
    sender_reference: str | None = None,
) -> TaskDone:
    """The step that announces what the citizen sent, the document, and its package."""
    package_id, document_id = uuid.uuid4(), uuid.uuid4()
    details: dict[str, object] = {
        "task": task.value,
        "document_id": str(document_id),
        "package_id": str(package_id),
        "kind": "supplementary",
        "urgent": appeal.urgent,
    }
    if request is not None:
        details["documentation_request_id"] = str(request.id)
    appeal = await lifecycle.apply(
        session,
        appeal.id,
        Step(action, details=details, audited=f"citizen.{task.value}"),
        actor=citizen,
        clock=clock,
    )
    document = await documents.attach(
        session,
        appeal,
        file,
        blob,
        uploaded_by=lifecycle.APPELLANT,
        uploaded_by_supplier=None,
        clock=clock,
        sender_reference=sender_reference,
        document_id=document_id,
    )
    package = packages.forward_from_appellant(
        session, package_id, appeal, [document], clock=clock, request=request
    )
    await session.flush()
    return TaskDone(task, appeal, document=document, package=package)


async def withdraw(
    session: AsyncSession, appeal_id: uuid.UUID, *, citizen: Citizen, clock: Clock
) -> TaskDone:
    """The citizen withdraws the appeal (any time before a decision): what waits for the
    Statsforvalter leaves its feed, an open documentation request is cancelled."""
    try:
        appeal = await lifecycle.apply(
            session,
            appeal_id,
            Step(Action.withdraw_by_appellant, audited="citizen.withdraw"),
            actor=citizen,
            clock=clock,
        )
    except TransitionNotAllowed as error:
        raise TaskNotOpen(Task.withdraw) from error
    return TaskDone(Task.withdraw, appeal)
