"""The route class every klageapi router uses: a JSON body must be declared as JSON."""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from klageapi.core.errors import UnsupportedMediaType

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
    """Refuses a body sent with another content type (415) instead of misreading it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            has_body = request.headers.get("content-length", "0") != "0" or (
                "transfer-encoding" in request.headers
            )
            if has_body and not _is_json(content_type):
                raise UnsupportedMediaType(
                    f"Send the body as application/json, not {content_type or 'no content type'}.",
                    accepted=["application/json"],
                )
            return await handler(request)

        return checked
