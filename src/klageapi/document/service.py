"""Uploading documents to appeals and streaming them back out."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import service as appeals
from klageapi.appeal.errors import AppealNotFound, NotPermittedForRole
from klageapi.audit import service as audit
from klageapi.core.auth import Organisation
from klageapi.core.clock import Clock
from klageapi.core.db import Transactions
from klageapi.core.errors import FieldError, PayloadTooLarge, ValidationFailed
from klageapi.core.pagination import PageParams
from klageapi.document import removal, repository
from klageapi.document.errors import (
    AppealErased,
    DocumentChecksumMismatch,
    DocumentMediaTypeMismatch,
    DocumentNotFound,
    DocumentTypeNotAllowed,
    EmptyDocument,
    RangeNotSatisfiable,
)
from klageapi.document.sniff import SNIFF_BYTES, matches
from klageapi.document.storage import (
    BlobDigestMismatch,
    BlobRangeNotSatisfiable,
    BlobStore,
    BlobStream,
    BlobTooLarge,
    EmptyBlob,
    StoredBlob,
)
from klageapi.event import outbox
from klageapi.models import Appeal, Document, DocumentCategory
from klageapi.registry.access import Role

__all__ = [
    "STATSFORVALTER_CATEGORIES",
    "Upload",
    "attach",
    "by_sender_reference",
    "declared_sha256",
    "digest",
    "download",
    "get_visible",
    "list_for_appeal",
    "of_appeal",
    "open_blob",
    "receive",
    "upload",
]

# What a Statsforvalter office may attach to an appeal forwarded to it.
STATSFORVALTER_CATEGORIES = frozenset(
    {DocumentCategory.statsforvalter_decision, DocumentCategory.correspondence}
)


@dataclass(frozen=True)
class Upload:
    """One file as it arrives: what the client declared about it, and its bytes."""

    category: DocumentCategory
    title: str
    file_name: str | None
    media_type: str
    sha256: str | None
    chunks: AsyncIterable[bytes]


def declared_sha256(content_digest: str | None) -> str | None:
    """The sha-256 of an RFC 9530 `Content-Digest` header as hex; None when not declared."""
    if content_digest is None:
        return None
    for member in content_digest.split(","):
        algorithm, _, value = member.strip().partition("=")
        if algorithm.strip().lower() != "sha-256":
            continue
        value = value.strip()
        try:
            if not (value.startswith(":") and value.endswith(":")):
                raise ValueError("not a byte sequence")
            digest = base64.b64decode(value[1:-1], validate=True)
            if len(digest) != 32:
                raise ValueError("not 32 bytes")
        except (ValueError, binascii.Error) as error:
            raise ValidationFailed(
                [FieldError("Content-Digest", "sha-256 must be :<base64 of 32 bytes>:", "invalid")]
            ) from error
        return digest.hex()
    return None


class _Sniffed:
    """Passes chunks through while checking that the first bytes are of the declared type.

    The refusal is raised inside the stream, so the store abandons the upload and keeps
    nothing of it. The hashes are the store's: it computes them once, off the event loop.
    """

    def __init__(self, upload: Upload) -> None:
        self._upload = upload

    async def chunks(self) -> AsyncIterator[bytes]:
        head = b""
        async for chunk in self._upload.chunks:
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) == SNIFF_BYTES:
                    self._sniff(head)
            if chunk:
                yield chunk
        if 0 < len(head) < SNIFF_BYTES:
            self._sniff(head)

    def _sniff(self, head: bytes) -> None:
        if not matches(self._upload.media_type, head):
            raise DocumentMediaTypeMismatch(self._upload.media_type)


async def upload(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    file: Upload,
    *,
    checks: Transactions,
    organisation: Organisation,
    clock: Clock,
    store: BlobStore,
    allowed_media_types: Sequence[str],
    max_bytes: int,
) -> Document:
    """Stream one file into storage and attach it to the appeal.

    NAV attaches any category but the Statsforvalter's decision to its appeals; a Statsforvalter
    office only its decision and correspondence, to appeals forwarded to it. Anyone else finds
    no appeal.

    No connection is held while the client sends the bytes, however slowly: the caller's right
    is checked in a short transaction of its own (`checks`) before the first byte is read, the
    bytes go to storage with no transaction open, and only then does `session` (the request's
    transaction, untouched until here) check the right again, on the appeal as it is now, and
    write the document's row and event.
    """
    async with checks.begin() as checking:
        await _may_attach(checking, appeal_id, file, organisation=organisation)
    blob = await receive(
        file, store=store, allowed_media_types=allowed_media_types, max_bytes=max_bytes
    )
    # Whatever happened to the appeal while the bytes came (a withdrawal, a re-route) is judged
    # here; a refusal now leaves the stored bytes unreferenced, as a failed insert would.
    appeal = await _may_attach(session, appeal_id, file, organisation=organisation)
    return await attach(
        session,
        appeal,
        file,
        blob,
        uploaded_by=organisation.actor,
        uploaded_by_supplier=organisation.supplier_actor,
        clock=clock,
    )


async def receive(
    file: Upload, *, store: BlobStore, allowed_media_types: Sequence[str], max_bytes: int
) -> StoredBlob:
    """Stream one file into storage, with no transaction open: of an allowed type its first
    bytes match, not empty, not too large, and of the declared digest; else refused with
    nothing kept."""
    if file.media_type not in allowed_media_types:
        raise DocumentTypeNotAllowed(file.media_type, list(allowed_media_types))
    try:
        return await store.put(
            _Sniffed(file).chunks(), max_size=max_bytes, expected_sha256=file.sha256
        )
    except BlobTooLarge as error:
        raise PayloadTooLarge(limit=max_bytes) from error
    except EmptyBlob as error:
        raise EmptyDocument() from error
    except BlobDigestMismatch as error:
        raise DocumentChecksumMismatch() from error


async def attach(
    session: AsyncSession,
    appeal: Appeal,
    file: Upload,
    blob: StoredBlob,
    *,
    uploaded_by: str,
    uploaded_by_supplier: str | None,
    clock: Clock,
    sender_reference: str | None = None,
    document_id: uuid.UUID | None = None,
) -> Document:
    """Attach a stored file to the appeal, announced as `document.added`; refused once the
    appeal is erased, and while the same bytes are being removed from the store
    (`document.removal`)."""
    now = clock.now()
    values: dict[str, object] = {
        "id": document_id or uuid.uuid4(),
        "appeal_id": appeal.id,
        "category": file.category,
        "title": file.title,
        "file_name": file.file_name,
        "media_type": file.media_type,
        "size": blob.size,
        "sha256": blob.sha256,
        "crc32": blob.crc32,
        "uploaded_by_organisation": uploaded_by,
        "uploaded_by_supplier": uploaded_by_supplier,
        "uploaded_at": now,
        "sender_reference": sender_reference,
    }
    event = outbox.row(
        appeal,
        type_="document.added",
        occurred_at=now,
        recorded_at=now,
        data={"document_id": str(values["id"]), "category": file.category.value},
    )
    await repository.insert_with_event(session, values, event)
    # After the row: its reference to the appeal waits for an erasure under way to commit, and
    # this then sees it (an erasure that comes later passes the appeal by until this commits).
    if await repository.appeal_erased(session, appeal.id):
        raise AppealErased(appeal.id)
    await removal.refuse_while_removed(session, blob.sha256, now=now)
    # Not added to the session: the repository wrote it, and this copy is the answer.
    return Document(**values)


async def _may_attach(
    session: AsyncSession, appeal_id: uuid.UUID, file: Upload, *, organisation: Organisation
) -> Appeal:
    """The appeal, when the caller may attach a file of this category to it."""
    appeal, roles, _ = await appeals.visible_with_roles(
        session, appeal_id, organisation=organisation
    )
    as_statsforvalter = Role.statsforvalter in roles and file.category in STATSFORVALTER_CATEGORIES
    if not as_statsforvalter and Role.nav not in roles:
        raise AppealNotFound(appeal_id)
    if not as_statsforvalter and file.category is DocumentCategory.statsforvalter_decision:
        # The appeal body's decision comes from the appeal body, never from NAV.
        raise NotPermittedForRole(
            action="attaching the Statsforvalter's decision", appeal_id=appeal_id
        )
    if appeal.personal_data_erased_at is not None:
        raise AppealErased(appeal_id)
    return appeal


async def by_sender_reference(
    session: AsyncSession, appeal_id: uuid.UUID, sender_reference: str
) -> Document | None:
    """The appeal's document its sender sent under this id of their own, if any."""
    return await repository.by_sender_reference(session, appeal_id, sender_reference)


async def digest(chunks: AsyncIterable[bytes], *, max_bytes: int) -> str:
    """The sha256 of a body that is not to be kept (a repeat of one already stored)."""
    hashed = hashlib.sha256()
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(limit=max_bytes)
        hashed.update(chunk)
    return hashed.hexdigest()


async def list_for_appeal(
    session: AsyncSession, appeal_id: uuid.UUID, page: PageParams, *, organisation: Organisation
) -> tuple[Sequence[Document], str | None]:
    """A page of the appeal's documents, oldest first."""
    await appeals.visible_with_roles(session, appeal_id, organisation=organisation)
    rows = await repository.list_for_appeal(
        session, appeal_id, after=page.after_time_and_id("documents"), limit=page.limit + 1
    )
    return page.page(
        "documents",
        list(rows),
        lambda document: [document.uploaded_at.isoformat(), str(document.id)],
    )


async def get_visible(
    session: AsyncSession,
    document_id: uuid.UUID,
    *,
    organisation: Organisation,
    reads: Transactions | None = None,
) -> Document:
    """A document of an appeal the caller may see; anything else does not exist. With `reads`,
    it is read in a short transaction of its own, leaving `session` untouched."""
    if reads is not None:
        async with reads.begin() as reading:
            return await get_visible(reading, document_id, organisation=organisation)
    document = await repository.get(session, document_id)
    if document is None:
        raise DocumentNotFound(document_id)
    try:
        await appeals.visible_with_roles(session, document.appeal_id, organisation=organisation)
    except AppealNotFound as error:
        raise DocumentNotFound(document_id) from error
    return document


async def download(
    session: AsyncSession,
    document: Document,
    *,
    organisation: Organisation,
    clock: Clock,
    store: BlobStore,
    byte_range: tuple[int, int | None] | None,
) -> BlobStream:
    """The bytes of a document the caller may see (the asked-for range, or all), with the
    download audited in `session`. The store is opened (for S3, a request) before `session`
    runs its first statement, so no connection waits on it, and a store that fails leaves no
    audit entry of a download that did not happen."""
    start, end = byte_range or (0, None)
    if start >= document.size:
        raise RangeNotSatisfiable(document.size)
    if end is not None:
        # Cut here, not in the store: S3's client cannot even express an end past 2**64.
        end = min(end, document.size)
    stream = await open_blob(store, document, start=start, end=end)
    try:
        await audit.record(
            session,
            principal=organisation,
            action="document.download",
            appeal_id=document.appeal_id,
            purpose="case processing",
            clock=clock,
        )
    except BaseException:
        await stream.aclose()
        raise
    return stream


async def of_appeal(session: AsyncSession, appeal_id: uuid.UUID) -> Sequence[Document]:
    """The appeal's documents, for a caller that has already checked access."""
    return await repository.list_for_appeal(session, appeal_id)


async def open_blob(
    store: BlobStore, document: Document, *, start: int = 0, end: int | None = None
) -> BlobStream:
    """A document's bytes [start, end), for a caller that has already checked access."""
    try:
        return await store.open(document.sha256, start=start, end=end)
    except BlobRangeNotSatisfiable as error:
        raise RangeNotSatisfiable(document.size) from error
