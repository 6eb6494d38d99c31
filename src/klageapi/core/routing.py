"""The route class every klageapi router uses: JSON bodies declared as JSON, query parameters of
one value given once, and replayed or stored answers for requests with an Idempotency-Key."""

from __future__ import annotations

import email.message
import types
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, Union, get_args, get_origin

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from klageapi.core.errors import FieldError, UnsupportedMediaType, ValidationFailed
from klageapi.core.idempotency import IdempotentReplay, release_claim, store_response

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

    It refuses a body sent with another content type (415) instead of misreading it, and a
    query parameter of one value given more than once (422: which of them was meant is
    ambiguous, and taking the last would accept what the contract says is invalid), and it
    answers idempotent retries: a stored answer is replayed, a new 2xx answer is stored in the
    request's transaction, and a claim the request did not complete is let go
    (see `core.idempotency`).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        expects_body = self.body_field is not None
        single = frozenset(
            field.alias
            for field in _query_fields(self.dependant)
            if not _is_sequence(field.field_info.annotation)
        )

        async def route(request: Request) -> Response:
            if single:
                _refuse_repeated(request, single)
            if expects_body:
                _refuse_non_json(request)
            try:
                response = await handler(request)
            except IdempotentReplay as replay:
                await replay.write_audit()
                return replay.response()
            except BaseException:
                await release_claim(request)
                raise
            await store_response(request, response)
            await release_claim(request)  # unless the answer completed it
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


def _query_fields(dependant: Dependant) -> Iterator[Any]:
    """The query parameters of a route and of every dependency it uses."""
    yield from dependant.query_params
    for dependency in dependant.dependencies:
        yield from _query_fields(dependency)


def _is_sequence(annotation: Any) -> bool:
    """Whether a parameter's annotation takes several values (list[str], list[str] | None)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_sequence(argument) for argument in get_args(annotation))
    return origin in (list, tuple, set, frozenset, Sequence) or annotation in (list, tuple, set)


def _refuse_repeated(request: Request, single: frozenset[str]) -> None:
    seen: set[str] = set()
    repeated: list[str] = []
    for name, _ in request.query_params.multi_items():
        if name in seen and name in single and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        raise ValidationFailed(
            [
                FieldError(name, "is given more than once; give it once", "repeated")
                for name in repeated
            ]
        )
