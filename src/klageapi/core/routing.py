"""The route class every klageapi router uses: JSON bodies declared as JSON, and replayed or
stored answers for requests with an Idempotency-Key."""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from klageapi.core.errors import UnsupportedMediaType
from klageapi.core.idempotency import IdempotentReplay, store_response

__all__ = ["JsonRoute"]


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class JsonRoute(APIRoute):
    """The route class of every klageapi router.

    It refuses a body sent with another content type (415) instead of misreading it, and it
    answers idempotent retries: a stored answer is replayed, and a new 2xx answer is stored in
    the request's transaction (see `core.idempotency`).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        expects_body = self.body_field is not None

        async def route(request: Request) -> Response:
            if expects_body:
                _refuse_non_json(request)
            try:
                response = await handler(request)
            except IdempotentReplay as replay:
                await replay.write_audit()
                return replay.response()
            await store_response(request, response)
            return response

        return route


def _refuse_non_json(request: Request) -> None:
    content_type = request.headers.get("content-type")
    has_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    if has_body and not _is_json(content_type):
        raise UnsupportedMediaType(
            f"Send the body as application/json, not {content_type or 'no content type'}.",
            accepted=["application/json"],
        )
