"""Idempotency-Key (IETF httpapi draft): a retried POST gets the first answer again.

The key is scoped to the caller's organisation and the request's method and path. Within the
request's own transaction a transaction-scoped advisory lock claims the key, the stored answer
(if any) is replayed, and a new 2xx answer is stored before the transaction commits, so the
change and its stored answer land together or not at all:

- same key, same body, first request finished   → the stored answer, `Idempotent-Replayed: true`
- same key, different body                      → 422 `idempotency_key_reused`
- same key while the first request still runs   → 409 `idempotency_key_in_use`
- answers other than 2xx are not stored: a retry is simply tried again.

A replayed answer that carries personal data (an appeal, with its national id) is written to
the audit log as the first answer was: the domain adds the entry to the replay.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.auth import Organisation, WriterDep
from klageapi.core.clock import Clock, ClockDep
from klageapi.core.db import SessionDep
from klageapi.core.errors import BadRequest, Conflict, FieldError, ValidationFailed
from klageapi.models import AuditEntry, IdempotencyRecord

__all__ = [
    "ContentDigestRequired",
    "IdempotencyKeyDep",
    "IdempotencyKeyHeader",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "IdempotentReplay",
    "InvalidIdempotencyKey",
    "UploadIdempotencyKeyDep",
    "claim_json",
    "store_response",
    "sweep_expired",
]

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

    def __init__(self, record: IdempotencyRecord, session: AsyncSession) -> None:
        super().__init__("replay")
        self.record = record
        self.session = session
        self.audit_entries: list[dict[str, object]] = []

    async def write_audit(self) -> None:
        """Write the replay's audit entries in a transaction of their own: the request's was
        rolled back when this was raised through it."""
        if not self.audit_entries:
            return
        await self.session.execute(insert(AuditEntry), self.audit_entries)
        await self.session.commit()

    def response(self) -> Response:
        headers = {**self.record.response_headers, "Idempotent-Replayed": "true"}
        return Response(
            content=self.record.response_body,
            status_code=self.record.response_status,
            headers=headers,
        )


@dataclass(frozen=True)
class _Claim:
    session: AsyncSession
    organisation: str
    request_target: str
    key: str
    request_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime


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
    organisation: Organisation,
    clock: Clock,
    key: str,
    request_hash: str,
) -> str:
    # Ids in paths are lowercase UUIDs: the same appeal written in capitals is the same target.
    target = f"{request.method} {request.url.path.lower()}"
    scope = f"{organisation.actor}|{target}|{key}"
    claimed = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtextextended(:scope, 7312))"),
        {"scope": scope},
    )
    if not claimed:
        raise IdempotencyKeyInUse()
    now = clock.now()
    record = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.organisation == organisation.actor,
            IdempotencyRecord.request_target == target,
            IdempotencyRecord.key == key,
            IdempotencyRecord.expires_at > now,
        )
    )
    if record is not None:
        if record.request_hash != request_hash:
            raise IdempotencyKeyReused()
        raise IdempotentReplay(record, session)
    retention = dt.timedelta(hours=request.app.state.settings.idempotency_retention_hours)
    request.state.idempotency_claim = _Claim(
        session=session,
        organisation=organisation.actor,
        request_target=target,
        key=key,
        request_hash=request_hash,
        created_at=now,
        expires_at=now + retention,
    )
    return key


async def claim_json(
    request: Request,
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> str | None:
    """The dependency of a JSON request's Idempotency-Key: None without one, else the key,
    claimed for this request; raises IdempotentReplay with a stored answer to replay."""
    if idempotency_key is None:
        return None
    if not _valid_key(idempotency_key):
        raise InvalidIdempotencyKey()
    fingerprint = _fingerprint(await request.body())
    return await _claim(request, session, organisation, clock, idempotency_key, fingerprint)


async def _claim_upload(
    request: Request,
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKeyHeader = None,
    content_digest: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str | None:
    """For streamed uploads the body is never held to be hashed: the declared Content-Digest,
    which the upload verifies, stands in for it, so an idempotent upload must declare one."""
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
    return await _claim(request, session, organisation, clock, idempotency_key, fingerprint)


IdempotencyKeyDep = Annotated[str | None, Depends(claim_json, scope="function")]
UploadIdempotencyKeyDep = Annotated[str | None, Depends(_claim_upload, scope="function")]


async def store_response(request: Request, response: Response) -> None:
    """Keep a 2xx answer for the request's claimed key, in the request's transaction."""
    claim: _Claim | None = getattr(request.state, "idempotency_claim", None)
    if claim is None or not 200 <= response.status_code < 300:
        return
    stored = await claim.session.get(
        IdempotencyRecord, (claim.organisation, claim.request_target, claim.key)
    )
    if stored is not None:  # an expired record for the same key: this answer replaces it
        await claim.session.delete(stored)
        await claim.session.flush()
    claim.session.add(
        IdempotencyRecord(
            organisation=claim.organisation,
            request_target=claim.request_target,
            key=claim.key,
            request_hash=claim.request_hash,
            response_status=response.status_code,
            response_headers={
                name: value for name, value in response.headers.items() if name in _STORED_HEADERS
            },
            response_body=bytes(response.body),
            created_at=claim.created_at,
            expires_at=claim.expires_at,
        )
    )
    await claim.session.flush()


async def sweep_expired(session: AsyncSession, *, now: dt.datetime) -> int:
    """Delete stored answers past their retention; returns how many."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
