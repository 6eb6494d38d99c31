"""Keyset pagination: opaque, signed cursors and the page envelope every list returns."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from klageapi.core.errors import BadRequest, raises

__all__ = ["CursorCodec", "InvalidCursor", "Page", "PageParams", "PageParamsDep"]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class CursorCodec:
    """Encodes a position as base64url JSON plus an HMAC, so a tampered cursor is refused."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, kind: str, position: list[Any]) -> str:
        body = json.dumps({"k": kind, "p": position}, separators=(",", ":")).encode()
        mac = hmac.new(self._secret, body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac + body).rstrip(b"=").decode()

    def pseudonym(self, value: str) -> str:
        """A short keyed hash of `value` (20 characters): names a citizen where a table keeps
        an organisation, such as a stored idempotent answer, without the national id."""
        return "c:" + hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()[:18]

    def decode(self, kind: str, cursor: str) -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            mac, body = raw[:16], raw[16:]
            expected = hmac.new(self._secret, body, hashlib.sha256).digest()[:16]
            if not hmac.compare_digest(mac, expected):
                raise ValueError("signature")
            value = json.loads(body)
            if value["k"] != kind or not isinstance(value["p"], list):
                raise ValueError("kind")
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            raise InvalidCursor() from error
        position: list[Any] = value["p"]
        return position


class InvalidCursor(BadRequest):
    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("The cursor is not one this list handed out.")


class PageParams:
    """`limit` and `cursor` of a list request, with the codec to read and write cursors."""

    def __init__(self, limit: int, cursor: str | None, codec: CursorCodec) -> None:
        self.limit = limit
        self.cursor = cursor
        self._codec = codec

    def position(self, kind: str) -> list[Any] | None:
        return None if self.cursor is None else self._codec.decode(kind, self.cursor)

    def after_time_and_id(self, kind: str) -> tuple[dt.datetime, uuid.UUID] | None:
        """The (timestamp, id) position of a list ordered that way, as `page` wrote it."""
        position = self.position(kind)
        if position is None:
            return None
        try:
            return dt.datetime.fromisoformat(position[0]), uuid.UUID(position[1])
        except (ValueError, TypeError, IndexError) as error:
            raise InvalidCursor() from error

    def after_int(self, kind: str) -> int | None:
        position = self.position(kind)
        if position is None:
            return None
        if len(position) != 1 or not isinstance(position[0], int):
            raise InvalidCursor()
        return position[0]

    def page(self, kind: str, rows: list[T], key: Any) -> tuple[list[T], str | None]:
        """Trim one extra fetched row off and turn the last kept row's key into the next cursor."""
        if len(rows) <= self.limit:
            return rows, None
        kept = rows[: self.limit]
        return kept, self._codec.encode(kind, key(kept[-1]))


# async: FastAPI would run a plain function in a worker thread, a hand-off per request. The
# cursor is decoded by the service, but it is this parameter's refusal.
@raises(InvalidCursor)
async def _page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=2000, description="`next_cursor` from the previous page.")
    ] = None,
) -> PageParams:
    return PageParams(limit, cursor, request.app.state.cursor_codec)


PageParamsDep = Annotated[PageParams, Depends(_page_params)]
