"""Idempotency-Key (IETF httpapi draft): a retried POST gets the first answer again.

The key is scoped to the caller (an organisation; a citizen by a keyed hash of the national id)
and the request's method and path. It is claimed
by a committed row (`in_flight`, with an expiry) in a short transaction of its own before the
endpoint runs, so no connection or lock is held while the request waits on its client or on a
remote server. A 2xx answer completes the row in the request's own transaction (the change and
its stored answer land together or not at all); any other outcome lets the claim go; a claim
whose request crashed expires after `KLAGEAPI_IDEMPOTENCY_CLAIM_SECONDS`:

- same key, same body, first request finished   → the stored answer, `Idempotent-Replayed: true`
- same key, different body                      → 422 `idempotency_key_reused`
- same key while the first request still runs   → 409 `idempotency_key_in_use`
- answers other than 2xx are not stored: a retry is simply tried again.

A request whose claim expired and was taken by a retry before it finished stores nothing and
answers 409 `idempotency_key_in_use`: only the holder of the claim completes it.

A replayed answer that carries personal data (an appeal, with its national id) is written to
the audit log as the first answer was: the domain adds the entry to the replay.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from sqlalchemy import ColumnElement, and_, delete, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import CitizenDep, WriterDep
from klageapi.core.clock import Clock, ClockDep
from klageapi.core.db import SessionDep, Transactions, TransactionsDep
from klageapi.core.errors import BadRequest, Conflict, FieldError, ValidationFailed, raises
from klageapi.core.logging import get_logger
from klageapi.models import AuditEntry, IdempotencyRecord, IdempotencyState

__all__ = [
    "CitizenIdempotencyKeyDep",
    "CitizenUploadIdempotencyKeyDep",
    "ContentDigestRequired",
    "IdempotencyKeyDep",
    "IdempotencyKeyHeader",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "IdempotentReplay",
    "InvalidIdempotencyKey",
    "UploadIdempotencyKeyDep",
    "claim_json",
    "release_claim",
    "store_response",
    "sweep_expired",
]

_log = get_logger(__name__)

_STORED_HEADERS = ("content-type", "location", "etag")


class InvalidIdempotencyKey(BadRequest):
    code = "invalid_idempotency_key"

    def __init__(self) -> None:
        super().__init__(
            "Idempotency-Key must be 1 to 255 printable ASCII characters, without spaces at "
            "either end."
        )


class ContentDigestRequired(BadRequest):
    code = "content_digest_required"

    def __init__(self) -> None:
        super().__init__(
            "An upload with an Idempotency-Key must declare its Content-Digest (sha-256), which "
            "identifies the file without holding it."
        )


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly."
        )


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            [
                FieldError(
                    "Idempotency-Key",
                    "was used before with a different request body",
                    "idempotency_key_reused",
                )
            ]
        )


class IdempotentReplay(Exception):
    """Raised by the dependency to answer with a stored response instead of running the
    endpoint; the route class turns it into that response.

    A domain whose answers carry personal data adds the audit entries a replay calls for
    (`audit_entries`, as `audit.service.entry` builds them); the route class writes them."""

    def __init__(self, record: IdempotencyRecord, transactions: Transactions) -> None:
        super().__init__("replay")
        self.record = record
        self.transactions = transactions
        self.audit_entries: list[dict[str, object]] = []

    @property
    def response_body(self) -> bytes:
        return self.record.response_body or b""

    async def write_audit(self) -> None:
        """Write the replay's audit entries in a transaction of their own: the request's was
        rolled back when this was raised through it."""
        if not self.audit_entries:
            return
        async with self.transactions.begin() as session:
            await session.execute(insert(AuditEntry), self.audit_entries)

    def response(self) -> Response:
        headers = {**(self.record.response_headers or {}), "Idempotent-Replayed": "true"}
        return Response(
            content=self.response_body,
            status_code=self.record.response_status or 200,
            headers=headers,
        )


@dataclass(frozen=True)
class _Claim:
    session: AsyncSession
    """The request's own session: the answer is stored in its transaction."""
    transactions: Transactions
    """For letting the claim go, after the request's transaction is over."""
    organisation: str
    request_target: str
    key: str
    request_hash: str
    token: uuid.UUID
    created_at: dt.datetime
    expires_at: dt.datetime
    """When a completed answer is no longer replayed (the retention)."""

    def held(self) -> ColumnElement[bool]:
        """The claim's row, while this request holds it."""
        return and_(
            IdempotencyRecord.organisation == self.organisation,
            IdempotencyRecord.request_target == self.request_target,
            IdempotencyRecord.key == self.key,
            IdempotencyRecord.claim_token == self.token,
            IdempotencyRecord.state == IdempotencyState.in_flight,
        )


_KEY_COLUMNS = frozenset({"organisation", "request_target", "key"})


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(" " <= char <= "~" for char in key) and key == key.strip()


def _fingerprint(body: bytes) -> str:
    # Equivalent JSON (other whitespace or key order) counts as the same body, and no body as {}.
    if not body.strip():
        body = b"{}"
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    # Not JSON, or nested deeper than the parser descends (an endpoint without a body of its
    # own never had FastAPI refuse it): the bytes as they came identify it as well.
    except (ValueError, RecursionError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        description="1-255 printable characters; a retry with the same key and body gets "
        "the first answer again.",
    ),
]


async def _claim(
    request: Request,
    session: AsyncSession,
    transactions: Transactions,
    actor: str,
    clock: Clock,
    key: str,
    request_hash: str,
) -> str:
    # Ids in paths are lowercase UUIDs: the same appeal written in capitals is the same target.
    target = f"{request.method} {request.url.path.lower()}"
    settings = request.app.state.settings
    now = clock.now()
    token = uuid.uuid4()
    table = IdempotencyRecord.__table__
    values = {
        "organisation": actor,
        "request_target": target,
        "key": key,
        "request_hash": request_hash,
        "state": IdempotencyState.in_flight,
        "claim_token": token,
        "response_status": None,
        "response_headers": None,
        "response_body": None,
        "created_at": now,
        "expires_at": now + dt.timedelta(seconds=settings.idempotency_claim_seconds),
    }
    insertion = pg_insert(IdempotencyRecord).values(values)
    # A row past its expiry (an answer past its retention, a claim whose request crashed) is
    # taken over; a live one is left as it is, and nothing comes back.
    claim = insertion.on_conflict_do_update(
        index_elements=[table.c.organisation, table.c.request_target, table.c.key],
        set_={name: insertion.excluded[name] for name in values if name not in _KEY_COLUMNS},
        where=table.c.expires_at <= now,
    ).returning(table.c.claim_token)
    record: IdempotencyRecord | None = None
    async with transactions.begin() as claiming:
        claimed = await claiming.scalar(claim)
        if claimed is None:
            record = await claiming.get(
                IdempotencyRecord, (actor, target, key), populate_existing=True
            )
    if claimed is None:
        if record is None or record.state is IdempotencyState.in_flight:
            raise IdempotencyKeyInUse()
        if record.request_hash != request_hash:
            raise IdempotencyKeyReused()
        raise IdempotentReplay(record, transactions)
    retention = dt.timedelta(hours=settings.idempotency_retention_hours)
    request.state.idempotency_claim = _Claim(
        session=session,
        transactions=transactions,
        organisation=actor,
        request_target=target,
        key=key,
        request_hash=request_hash,
        token=token,
        created_at=now,
        expires_at=now + retention,
    )
    return key


@raises(InvalidIdempotencyKey, IdempotencyKeyInUse, IdempotencyKeyReused)
async def claim_json(
    request: Request,
    session: SessionDep,
    transactions: TransactionsDep,
    organisation: WriterDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> str | None:
    """The dependency of a JSON request's Idempotency-Key: None without one, else the key,
    claimed for this request; raises IdempotentReplay with a stored answer to replay."""
    return await _claim_whole(
        request, session, transactions, organisation.actor, clock, idempotency_key
    )


@raises(InvalidIdempotencyKey, IdempotencyKeyInUse, IdempotencyKeyReused)
async def _claim_citizen_json(
    request: Request,
    session: SessionDep,
    transactions: TransactionsDep,
    citizen: CitizenDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> str | None:
    """As `claim_json`, for a citizen: keys are the citizen's own, kept under a keyed hash of
    the national id, never the id itself."""
    actor = request.app.state.cursor_codec.pseudonym(citizen.national_id)
    return await _claim_whole(request, session, transactions, actor, clock, idempotency_key)


async def _claim_whole(
    request: Request,
    session: AsyncSession,
    transactions: Transactions,
    actor: str,
    clock: Clock,
    idempotency_key: str | None,
) -> str | None:
    """A request whose body is read whole: the body's fingerprint identifies it."""
    if idempotency_key is None:
        return None
    if not _valid_key(idempotency_key):
        raise InvalidIdempotencyKey()
    fingerprint = _fingerprint(await request.body())
    return await _claim(request, session, transactions, actor, clock, idempotency_key, fingerprint)


@raises(InvalidIdempotencyKey, ContentDigestRequired, IdempotencyKeyInUse, IdempotencyKeyReused)
async def _claim_upload(
    request: Request,
    session: SessionDep,
    transactions: TransactionsDep,
    organisation: WriterDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKeyHeader = None,
    content_digest: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str | None:
    """For streamed uploads the body is never held to be hashed: the declared Content-Digest,
    which the upload verifies, stands in for it, so an idempotent upload must declare one."""
    return await _claim_streamed(
        request, session, transactions, organisation.actor, clock, idempotency_key, content_digest
    )


@raises(InvalidIdempotencyKey, ContentDigestRequired, IdempotencyKeyInUse, IdempotencyKeyReused)
async def _claim_citizen_upload(
    request: Request,
    session: SessionDep,
    transactions: TransactionsDep,
    citizen: CitizenDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKeyHeader = None,
    content_digest: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str | None:
    actor = request.app.state.cursor_codec.pseudonym(citizen.national_id)
    return await _claim_streamed(
        request, session, transactions, actor, clock, idempotency_key, content_digest
    )


async def _claim_streamed(
    request: Request,
    session: AsyncSession,
    transactions: Transactions,
    actor: str,
    clock: Clock,
    idempotency_key: str | None,
    content_digest: str | None,
) -> str | None:
    if idempotency_key is None:
        return None
    if not _valid_key(idempotency_key):
        raise InvalidIdempotencyKey()
    if content_digest is None:
        raise ContentDigestRequired()
    described = "\n".join(
        [request.headers.get("content-type", ""), request.url.query, content_digest]
    )
    fingerprint = hashlib.sha256(described.encode()).hexdigest()
    return await _claim(request, session, transactions, actor, clock, idempotency_key, fingerprint)


IdempotencyKeyDep = Annotated[str | None, Depends(claim_json, scope="function")]
UploadIdempotencyKeyDep = Annotated[str | None, Depends(_claim_upload, scope="function")]
CitizenIdempotencyKeyDep = Annotated[str | None, Depends(_claim_citizen_json, scope="function")]
CitizenUploadIdempotencyKeyDep = Annotated[
    str | None, Depends(_claim_citizen_upload, scope="function")
]


async def store_response(request: Request, response: Response) -> None:
    """Complete the request's claim with its 2xx answer, in the request's transaction; raises
    IdempotencyKeyInUse when the claim expired and another request took it meanwhile."""
    claim: _Claim | None = getattr(request.state, "idempotency_claim", None)
    if claim is None or not 200 <= response.status_code < 300:
        return
    completed = await claim.session.execute(
        update(IdempotencyRecord)
        .where(claim.held())
        .values(
            state=IdempotencyState.completed,
            response_status=response.status_code,
            response_headers={
                name: value for name, value in response.headers.items() if name in _STORED_HEADERS
            },
            response_body=bytes(response.body),
            expires_at=claim.expires_at,
        )
    )
    if completed.rowcount != 1:  # type: ignore[attr-defined]
        raise IdempotencyKeyInUse()
    request.state.idempotency_completed = True


async def release_claim(request: Request) -> None:
    """Let the request's claim go when it did not complete it (a refusal, a failure), so the
    key may be tried again at once; in a short transaction of its own. If that fails too (the
    database is gone), the claim expires by itself."""
    claim: _Claim | None = getattr(request.state, "idempotency_claim", None)
    if claim is None or getattr(request.state, "idempotency_completed", False):
        return
    try:
        async with claim.transactions.begin() as session:
            await session.execute(delete(IdempotencyRecord).where(claim.held()))
    except (SQLAlchemyError, OSError) as error:
        _log.warning("idempotency_claim_not_released", error=type(error).__name__)


async def sweep_expired(session: AsyncSession, *, now: dt.datetime) -> int:
    """Delete stored answers past their retention, and claims past their expiry (their requests
    crashed); returns how many."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
