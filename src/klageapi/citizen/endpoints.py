"""HTTP endpoints of the citizen's view: `/v1/me/appeals`, in nb, nn or en."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypedDict
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from fastapi.types import DecoratedCallable
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.citizen import service, tasks
from klageapi.citizen.language import LANGUAGES, Catalogue, catalogue, negotiate
from klageapi.citizen.schemas import (
    CitizenAppealPage,
    CitizenAppealRead,
    CitizenDocumentList,
    CitizenDocumentRead,
    CitizenTaskRead,
    CommentCreate,
)
from klageapi.core.auth import Citizen, CitizenDep
from klageapi.core.clock import Clock, ClockDep
from klageapi.core.conditional import none_match
from klageapi.core.config import Settings
from klageapi.core.db import SessionDep, Transactions, TransactionsDep
from klageapi.core.downloads import DOWNLOAD_HEADERS
from klageapi.core.idempotency import CitizenIdempotencyKeyDep, CitizenUploadIdempotencyKeyDep
from klageapi.core.pagination import PageParamsDep
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import problem_responses
from klageapi.core.validation import Text
from klageapi.document import service as documents
from klageapi.document.storage import BlobStore, BlobStream
from klageapi.models import Document, DocumentCategory

__all__ = ["router"]

router = APIRouter(
    prefix="/me/appeals",
    tags=["citizen"],
    responses=problem_responses(401, 403),
    route_class=JsonRoute,
)

AcceptLanguage = Annotated[
    str | None,
    Header(
        description=f"One of {', '.join(LANGUAGES)} (Bokmål, Nynorsk, English); anything else"
        " gets nb. The answer's Content-Language says which was used.",
        examples=["nn-NO, nb;q=0.8"],
    ),
]


def _texts(accept_language: str | None, response: Response) -> Catalogue:
    language = negotiate(accept_language)
    response.headers["Content-Language"] = language
    response.headers["Vary"] = "Accept-Language"
    return catalogue(language)


@router.get(
    "",
    operation_id="list_my_appeals",
    response_model=CitizenAppealPage,
    responses=problem_responses(400, 422),
)
async def list_my_appeals(
    session: SessionDep,
    citizen: CitizenDep,
    clock: ClockDep,
    response: Response,
    page: PageParamsDep,
    accept_language: AcceptLanguage = None,
    digisos_case_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9-]+$",
            description="Only the appeals of this Digisos case, for showing them beside it.",
        ),
    ] = None,
) -> CitizenAppealPage:
    """The appeals the logged-in citizen made, newest first, in plain language: the steps done,
    the step now and who has the case, the steps ahead, when to expect an answer, and what the
    citizen can do. Needs an ID-porten token at level idporten-loa-high."""
    texts = _texts(accept_language, response)
    items, cursor = await service.list_own(
        session,
        citizen=citizen,
        texts=texts,
        clock=clock,
        page=page,
        digisos_case_id=digisos_case_id,
    )
    return CitizenAppealPage(items=items, next_cursor=cursor)


@router.get(
    "/{appeal_id}",
    operation_id="get_my_appeal",
    response_model=CitizenAppealRead,
    responses=problem_responses(404, 422),
)
async def get_my_appeal(
    session: SessionDep,
    citizen: CitizenDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    response: Response,
    accept_language: AcceptLanguage = None,
) -> CitizenAppealRead:
    """One of the citizen's own appeals; any other id is 404."""
    texts = _texts(accept_language, response)
    return await service.get(session, appeal_id, citizen=citizen, texts=texts, clock=clock)


_FILE_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "description": "The file itself; Content-Type is its media type.",
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in ("application/pdf", "image/jpeg", "image/png")
        },
    }
}
Title = Annotated[Text, Query(min_length=1, max_length=300, description="What the file is.")]
FileName = Annotated[Text | None, Query(max_length=255)]
ContentDigest = Annotated[
    str | None,
    Header(description="RFC 9530, e.g. `sha-256=:<base64>:`; a mismatch is refused (422)."),
]


def document_read(document: Document) -> CitizenDocumentRead:
    return CitizenDocumentRead(
        id=document.id,
        category=document.category,
        title=document.title,
        media_type=document.media_type,
        size=document.size,
        sha256=document.sha256,
        uploaded_at=document.uploaded_at,
        sent_by_you=document.uploaded_by_organisation == service.APPELLANT,
        href=f"/v1/me/appeals/{document.appeal_id}/documents/{document.id}/content",
    )


def _done(done: tasks.TaskDone) -> CitizenTaskRead:
    return CitizenTaskRead(
        task=done.task.value,
        appeal_id=done.appeal.id,
        status=done.appeal.status,
        document=None if done.document is None else document_read(done.document),
        sent_to_statsforvalter=done.document is not None,
    )


@dataclass(frozen=True)
class _Doer:
    """Who does one of the citizen's tasks, and what it is done with."""

    session: AsyncSession
    citizen: Citizen
    clock: Clock
    store: BlobStore
    settings: Settings


async def _doer(
    request: Request, session: SessionDep, citizen: CitizenDep, clock: ClockDep
) -> _Doer:
    state = request.app.state
    return _Doer(session, citizen, clock, state.blob_store, state.settings)


DoerDep = Annotated[_Doer, Depends(_doer)]


class _Receiving(TypedDict):
    """How a task takes in a file: checked first in a short transaction of its own, its bytes
    stored before the task's own transaction."""

    checks: Transactions
    citizen: Citizen
    clock: Clock
    store: BlobStore
    allowed_media_types: Sequence[str]
    max_bytes: int


def _receiving(doer: _Doer, checks: Transactions) -> _Receiving:
    return _Receiving(
        checks=checks,
        citizen=doer.citizen,
        clock=doer.clock,
        store=doer.store,
        allowed_media_types=doer.settings.document_media_types,
        max_bytes=doer.settings.document_max_bytes,
    )


def _upload(
    request: Request,
    category: DocumentCategory,
    title: str,
    file_name: str | None,
    content_digest: str | None,
) -> documents.Upload:
    return documents.Upload(
        category=category,
        title=title,
        file_name=file_name,
        media_type=request.headers.get("content-type", "").split(";")[0].strip().lower(),
        sha256=documents.declared_sha256(content_digest),
        chunks=request.stream(),
    )


def _task(
    path: str,
    operation_id: str,
    *problems: int,
    created: bool = True,
    file: bool = False,
    responses: dict[int | str, dict[str, object]] | None = None,
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The route of one of the citizen's tasks: a POST answered with what was done, 201 when it
    made something; `file` when its body is a file."""
    return router.post(
        path,
        operation_id=operation_id,
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        response_model=CitizenTaskRead,
        responses={**(responses or {}), **problem_responses(*problems)},
        openapi_extra=_FILE_BODY if file else None,
    )


@_task("/{appeal_id}/comments", "comment_on_my_appeal", 400, 404, 409, 415, 422)
async def comment_on_my_appeal(
    doer: DoerDep,
    appeal_id: uuid.UUID,
    body: CommentCreate,
    _idempotency: CitizenIdempotencyKeyDep,
) -> CitizenTaskRead:
    """Comment on the case presentation NAV sent with the appeal (fvl § 33), while its comment
    deadline is open: 409 `comment_deadline_passed` after it, `task_not_open` when there is
    nothing to comment on. The comment goes to the Statsforvalter as a supplementary package."""
    done = await tasks.comment(
        doer.session, appeal_id, body.text, citizen=doer.citizen, clock=doer.clock, store=doer.store
    )
    return _done(done)


@_task(
    "/{appeal_id}/documentation-requests/{request_id}/documents",
    "send_my_documentation",
    *(400, 404, 409, 413, 415, 422),
    file=True,
)
async def send_my_documentation(
    request: Request,
    doer: DoerDep,
    transactions: TransactionsDep,
    appeal_id: uuid.UUID,
    request_id: uuid.UUID,
    title: Title,
    _idempotency: CitizenUploadIdempotencyKeyDep,
    file_name: FileName = None,
    content_digest: ContentDigest = None,
) -> CitizenTaskRead:
    """Send a file for an open documentation request (PDF, JPEG or PNG): straight to the
    Statsforvalter as a supplementary package. The request stays open until NAV answers it;
    a request no longer open is 409 `task_not_open`."""
    file = _upload(
        request, DocumentCategory.documentation_response, title, file_name, content_digest
    )
    done = await tasks.send_documentation(
        doer.session, appeal_id, request_id, file, **_receiving(doer, transactions)
    )
    return _done(done)


@_task(
    "/{appeal_id}/documents",
    "send_my_documents",
    *(404, 409, 413, 415, 422),
    file=True,
    responses={200: {"description": "The same file was sent before under this sender_reference."}},
)
async def send_my_documents(
    request: Request,
    doer: DoerDep,
    transactions: TransactionsDep,
    appeal_id: uuid.UUID,
    response: Response,
    sender_reference: Annotated[
        str,
        Query(
            min_length=1,
            max_length=100,
            pattern=r"^[A-Za-z0-9._:-]+$",
            description="The sender's own id of the file: sending it again is the same file.",
        ),
    ],
    title: Title,
    file_name: FileName = None,
    content_digest: ContentDigest = None,
) -> CitizenTaskRead:
    """Send a document the Statsforvalter did not ask for, once the appeal is forwarded and
    until it is decided: a supplementary package. The same `sender_reference` with the same
    file again answers 200 with the first; with another file, 409 `sender_reference_conflict`."""
    file = _upload(request, DocumentCategory.supporting_document, title, file_name, content_digest)
    done = await tasks.send_documents(
        doer.session,
        appeal_id,
        file,
        sender_reference=sender_reference,
        **_receiving(doer, transactions),
    )
    if done.repeated:
        response.status_code = status.HTTP_200_OK
    return _done(done)


@_task("/{appeal_id}/withdrawal", "withdraw_my_appeal", 400, 404, 409, 422, created=False)
async def withdraw_my_appeal(
    doer: DoerDep, appeal_id: uuid.UUID, _idempotency: CitizenIdempotencyKeyDep
) -> CitizenTaskRead:
    """Withdraw the appeal, at any time before it is decided; a closed appeal is 409
    `task_not_open`."""
    done = await tasks.withdraw(doer.session, appeal_id, citizen=doer.citizen, clock=doer.clock)
    return _done(done)


@router.get(
    "/{appeal_id}/documents",
    operation_id="list_my_documents",
    response_model=CitizenDocumentList,
    responses=problem_responses(404, 422),
)
async def list_my_documents(
    session: SessionDep, citizen: CitizenDep, clock: ClockDep, appeal_id: uuid.UUID
) -> CitizenDocumentList:
    """The documents of the appeal the citizen may read: what they sent, their appeal, NAV's
    case presentation once forwarded, the Statsforvalter's decision once made."""
    found = await service.readable_documents(session, appeal_id, citizen=citizen, clock=clock)
    return CitizenDocumentList(items=[document_read(d) for d in found])


@router.get(
    "/{appeal_id}/documents/{document_id}/content",
    operation_id="get_my_document_content",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The bytes, as their media type",
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in ("application/pdf", "image/jpeg", "image/png", "text/plain")
            },
        },
        304: {"description": "Not modified"},
        **problem_responses(404, 422),
    },
)
async def get_my_document_content(
    request: Request,
    session: SessionDep,
    transactions: TransactionsDep,
    citizen: CitizenDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    document_id: uuid.UUID,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The bytes of a document the citizen may read, with its sha256 as `ETag`; every download
    is audited. Served as the type it was checked to be, and run nothing in a browser."""
    document, stream = await service.download(
        session,
        appeal_id,
        document_id,
        checks=transactions,
        citizen=citizen,
        clock=clock,
        store=request.app.state.blob_store,
    )
    etag = f'"{document.sha256}"'
    if none_match(if_none_match, etag):
        await stream.aclose()
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    headers = {
        **DOWNLOAD_HEADERS,
        "ETag": etag,
        "Content-Length": str(stream.length),
        "Content-Disposition": "attachment; filename*=UTF-8''"
        + quote(document.file_name or f"{document.id}"),
    }
    return StreamingResponse(_closing(stream), media_type=document.media_type, headers=headers)


async def _closing(stream: BlobStream) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()
