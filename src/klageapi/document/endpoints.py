"""HTTP endpoints for documents: streamed upload, the list of an appeal's documents, content."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from klageapi.core.auth import ReaderDep, WriterDep
from klageapi.core.clock import ClockDep
from klageapi.core.conditional import none_match
from klageapi.core.config import Settings
from klageapi.core.db import SessionDep, TransactionsDep
from klageapi.core.downloads import DOWNLOAD_HEADERS
from klageapi.core.idempotency import UploadIdempotencyKeyDep
from klageapi.core.pagination import PageParamsDep
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import problem_responses
from klageapi.core.validation import Text
from klageapi.document import service
from klageapi.document.schemas import DocumentList, DocumentRead
from klageapi.document.storage import BlobStream
from klageapi.models import DocumentCategory

__all__ = ["router"]

router = APIRouter(tags=["documents"], responses=problem_responses(401, 403), route_class=JsonRoute)

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
# Positions of more digits lie past any document (and int() refuses more than 4,300 digits).
_MAX_POSITION_DIGITS = 18
_PAST_ANY_DOCUMENT: int = 10**_MAX_POSITION_DIGITS
# The media types of the default KLAGEAPI_DOCUMENT_MEDIA_TYPES: what goes in comes out as itself.
_DOCUMENT_CONTENT: dict[str, object] = {
    media_type: {"schema": {"type": "string", "format": "binary"}}
    for media_type in ("application/pdf", "image/jpeg", "image/png")
}


@router.post(
    "/appeals/{appeal_id}/documents",
    operation_id="upload_document",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentRead,
    # 400: a malformed Idempotency-Key, or one without the Content-Digest that identifies the file;
    # 409: an upload with the same key still under way.
    responses=problem_responses(400, 404, 409, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file itself; Content-Type is its media type.",
            "content": _DOCUMENT_CONTENT,
        }
    },
)
async def upload_document(
    request: Request,
    session: SessionDep,
    transactions: TransactionsDep,
    organisation: WriterDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    response: Response,
    _idempotency: UploadIdempotencyKeyDep,
    category: DocumentCategory,
    title: Annotated[Text, Query(min_length=1, max_length=300)],
    file_name: Annotated[Text | None, Query(max_length=255)] = None,
    content_digest: Annotated[
        str | None,
        Header(description="RFC 9530, e.g. `sha-256=:<base64>:`; a mismatch is refused (422)."),
    ] = None,
) -> DocumentRead:
    """Stream one file to the appeal. The bytes are hashed and stored while they arrive; the
    first bytes must match the declared type. 201 with its id, size, sha256 and media type.
    An `Idempotency-Key` needs `Content-Digest`, which stands in for the body."""
    settings: Settings = request.app.state.settings
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    document = await service.upload(
        session,
        appeal_id,
        service.Upload(
            category=category,
            title=title,
            file_name=file_name,
            media_type=media_type,
            sha256=service.declared_sha256(content_digest),
            chunks=request.stream(),
        ),
        checks=transactions,
        organisation=organisation,
        clock=clock,
        store=request.app.state.blob_store,
        allowed_media_types=settings.document_media_types,
        max_bytes=settings.document_max_bytes,
    )
    response.headers["Location"] = f"/v1/documents/{document.id}/content"
    return DocumentRead.model_validate(document)


@router.get(
    "/appeals/{appeal_id}/documents",
    operation_id="list_documents",
    response_model=DocumentList,
    responses=problem_responses(400, 404, 422),
)
async def list_documents(
    session: SessionDep, organisation: ReaderDep, appeal_id: uuid.UUID, page: PageParamsDep
) -> DocumentList:
    """The appeal's documents, oldest first."""
    documents, cursor = await service.list_for_appeal(
        session, appeal_id, page, organisation=organisation
    )
    return DocumentList(
        items=[DocumentRead.model_validate(d) for d in documents], next_cursor=cursor
    )


def _byte_range(header: str | None, size: int) -> tuple[int, int | None] | None:
    """A single `bytes=` range as [start, end); None for no range or one we do not serve."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes; the last 0 are none at all (RFC 9110 14.1.2): 416
        return (max(size - _position(last), 0) if _position(last) else size, None)
    return (_position(first), _position(last) + 1 if last else None)


def _position(digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    if len(significant) > _MAX_POSITION_DIGITS:
        return _PAST_ANY_DOCUMENT
    return int(significant)


@router.get(
    "/documents/{document_id}/content",
    operation_id="get_document_content",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The bytes, as their media type", "content": _DOCUMENT_CONTENT},
        206: {"description": "The requested range", "content": _DOCUMENT_CONTENT},
        304: {"description": "Not modified"},
        **problem_responses(404, 416, 422),
    },
)
async def get_document_content(
    request: Request,
    session: SessionDep,
    transactions: TransactionsDep,
    organisation: ReaderDep,
    clock: ClockDep,
    document_id: uuid.UUID,
    range_: Annotated[str | None, Header(alias="range")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The bytes, streamed, with the sha256 as `ETag`; one `Range` gives 206."""
    document = await service.get_visible(
        session, document_id, organisation=organisation, reads=transactions
    )
    etag = f'"{document.sha256}"'
    if none_match(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    wanted = _byte_range(range_, document.size)
    stream = await service.download(
        session,
        document,
        organisation=organisation,
        clock=clock,
        store=request.app.state.blob_store,
        byte_range=wanted,
    )
    headers = {
        **DOWNLOAD_HEADERS,
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Length": str(stream.length),
        "Content-Disposition": "attachment; filename*=UTF-8''"
        + quote(document.file_name or f"{document.id}"),
    }
    status_code = status.HTTP_200_OK
    if wanted is not None:
        status_code = status.HTTP_206_PARTIAL_CONTENT
        headers["Content-Range"] = f"bytes {stream.start}-{stream.end - 1}/{stream.size}"
    return StreamingResponse(
        _closing(stream), status_code=status_code, media_type=document.media_type, headers=headers
    )


async def _closing(stream: BlobStream) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()
