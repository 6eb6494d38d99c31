"""Per-request context: a request id, one access log line, and the request metrics."""

from __future__ import annotations

import re
import time
import uuid

from starlette.requests import ClientDisconnect, Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from klageapi.api.problems import error_response, problem_response
from klageapi.core.auth import Citizen, Organisation
from klageapi.core.db import database_unavailable
from klageapi.core.errors import DatabaseUnavailable, PayloadTooLarge
from klageapi.core.logging import get_logger, redact_text, request_id_var
from klageapi.core.metrics import Metrics
from klageapi.core.tracing import current_trace_id

__all__ = ["CLIENT_CLOSED_REQUEST", "BodyLimitMiddleware", "RequestContextMiddleware"]

CLIENT_CLOSED_REQUEST = 499

_log = get_logger("klageapi.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            # fullmatch: with match, "$" would let a trailing newline through into a header.
            if _SAFE_REQUEST_ID.fullmatch(candidate):
                # The id is echoed, logged and kept in the audit log: a client's that carries a
                # national id (its own case number, say) is kept with the id blanked everywhere,
                # as the log lines show it, so it still finds them.
                return redact_text(candidate)
    return uuid.uuid4().hex


class BodyLimitMiddleware:
    """Refuses request bodies over the limit as problem documents, before they are all read.

    A declared Content-Length over the limit is answered at once; a body that turns out larger
    than declared, or is streamed without a length, stops at the limit with PayloadTooLarge.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        larger: list[tuple[str, re.Pattern[str], int]] | None = None,
    ) -> None:
        self.app = app
        self.default_limit = limit
        # (method, path pattern, limit): uploads may be far larger than a JSON body.
        self.larger = larger or []

    def _limit(self, scope: Scope) -> int:
        for method, pattern, limit in self.larger:
            if scope["method"] == method and pattern.fullmatch(scope["path"]):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = error_response(Request(scope), PayloadTooLarge(limit=limit))
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit=limit)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestContextMiddleware:
    """Outermost middleware: everything logged while handling a request carries its id."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, templates: list[str]) -> None:
        self.app = app
        self.metrics = metrics
        # Route templates label metrics and logs: bounded cardinality, and no ids in labels.
        self._templates = [(compile_path(path)[0], path) for path in templates]

    def _template(self, path: str) -> str:
        for regex, template in self._templates:
            if regex.match(path):
                return template
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client hung up before its request was read (an abandoned upload): no fault
            # of ours, and no one to answer. Logged and counted as 499, as nginx names it.
            status = CLIENT_CLOSED_REQUEST
            _log.info("client_disconnected", path=scope.get("path"))
        except Exception as error:
            # Handled here, inside the request's context, so the crash is logged with its
            # request id and the client gets a problem document without internals.
            if response_started:
                _log.error("unhandled_exception", exc_info=error, path=scope.get("path"))
                raise
            if database_unavailable(error):
                # The transaction did not commit (or, lost during COMMIT, the client cannot
                # know): a retry, with its Idempotency-Key, is safe. The pool has dropped
                # its connections, so the retry gets a new one.
                _log.warning("database_unavailable", error=type(error).__name__)
                response = error_response(Request(scope), DatabaseUnavailable())
                await response(scope, receive, send_with_id)
                return
            _log.error("unhandled_exception", exc_info=error, path=scope.get("path"))
            response = problem_response(
                Request(scope),
                status=500,
                code="internal_error",
                title="Internal error",
                detail="Something went wrong on our side; quote the request id when reporting it.",
            )
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = self._template(scope["path"])
            self.metrics.observe(
                route=route, method=scope["method"], status=status, seconds=elapsed
            )
            _log.info(
                "request",
                method=scope["method"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                **_caller(scope),
            )
            request_id_var.reset(token)


def _caller(scope: Scope) -> dict[str, str]:
    """Who called and what they were answered, for the access log: the organisation and its
    supplier (organisation numbers, public), `citizen` for a citizen (never who), the problem's
    code when the answer was one, and the trace it belongs to."""
    state = scope.get("state") or {}
    fields: dict[str, str] = {}
    principal = state.get("principal")
    if isinstance(principal, Organisation):
        fields["organisation"] = principal.actor
        if principal.supplier_actor is not None:
            fields["supplier"] = principal.supplier_actor
    elif isinstance(principal, Citizen):
        fields["caller"] = "citizen"
    code = state.get("problem_code")
    if code is not None:
        fields["problem"] = code
    trace_id = current_trace_id()
    if trace_id is not None:
        fields["trace_id"] = trace_id
    return fields
