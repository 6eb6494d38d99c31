"""Renders every refusal, and every crash, as an RFC 9457 problem document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from klageapi.core.errors import FieldError, KlageError
from klageapi.core.logging import request_id_var
from klageapi.core.schemas import PROBLEM_MEDIA_TYPE

__all__ = ["error_response", "install_problem_handlers", "problem_response"]

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    404: ("route_not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"urn:klageapi:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        "request_id": request_id_var.get(),
        **extra,
    }
    # For the access log line: which problem the request was answered with.
    request.state.problem_code = code
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def error_response(request: Request, error: KlageError) -> JSONResponse:
    """The problem document of a refusal, wherever it is caught (handler or middleware)."""
    refusal = getattr(error, "refused_because", None)
    metrics = getattr(request.app.state, "metrics", None) if "app" in request.scope else None
    if refusal is not None and metrics is not None:
        metrics.refuse_token(refusal)
    return problem_response(
        request,
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        headers=error.headers or None,
        **error.extra,
    )


async def _klage_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, KlageError)
    return error_response(request, error)


def _field_name(location: tuple[int | str, ...]) -> str:
    # ("body", "decision", "notified_on") -> "decision.notified_on"; ("query", "limit") -> "limit"
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def _malformed_json(request: Request) -> JSONResponse:
    return problem_response(
        request,
        status=400,
        code="malformed_json",
        title="Malformed JSON",
        detail="The request body is not valid JSON.",
    )


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    raw = list(error.errors())
    if any(item.get("type") == "json_invalid" for item in raw):
        return _malformed_json(request)
    errors = [
        FieldError(_field_name(tuple(item["loc"])), str(item["msg"]), str(item["type"]))
        for item in raw
    ]
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        title="Validation failed",
        detail="; ".join(f"{e['field']}: {e['message']}" for e in errors),
        errors=errors,
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if isinstance(error.__cause__, KlageError):
        # A refusal raised while FastAPI read the body (the body limit), wrapped in its 400.
        return await _klage_error(request, error.__cause__)
    if error.status_code == 400 and isinstance(error.__cause__, ValueError | RecursionError):
        # FastAPI's answer to a body it could not decode at all (not UTF-8, nested too deep,
        # an integer too long): malformed JSON as much as a syntax error is.
        return _malformed_json(request)
    code, title = _HTTP_CODES.get(error.status_code, ("http_error", "HTTP error"))
    detail = {
        404: f"No route {request.url.path}.",
        405: f"{request.method} is not allowed on {request.url.path}.",
    }.get(error.status_code, str(error.detail))
    return problem_response(
        request,
        status=error.status_code,
        code=code,
        title=title,
        detail=detail,
        headers=dict(error.headers) if error.headers else None,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KlageError, _klage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
