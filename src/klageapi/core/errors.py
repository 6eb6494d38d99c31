"""Every refusal klageapi makes, as one exception tree rendered as RFC 9457 problem documents.

KlageError                      status and a stable `code`; rendered by `api.problems`
├── BadRequest (400)            malformed_json, invalid_cursor
├── Unauthenticated (401)       missing or invalid bearer token
├── Forbidden (403)             insufficient_scope; not_permitted_for_role
├── NotFound (404)              route_not_found, and every object the caller may not see
├── MethodNotAllowed (405)
├── Conflict (409)              external_reference_conflict, transition_not_allowed, ...
├── Gone (410)                  what was there has been erased after its retention period
├── PreconditionFailed (412)    a stale If-Match (appeal.errors)
├── PreconditionRequired (428)  a missing If-Match (appeal.errors)
├── PayloadTooLarge (413)
├── UnsupportedMediaType (415)
├── ValidationFailed (422)      request validation and domain validation, with an `errors` list
├── RateLimited (429)           rate_limited: over an organisation's limits (core.limits)
└── ServiceUnavailable (503)    not ready: database unreachable or schema behind
    ├── DatabaseUnavailable     a request met a lost database connection or got none
    ├── StorageUnavailable      the document store could not be reached or failed
    └── ContentBeingErased      the same bytes are being removed from the store (document.errors)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

__all__ = [
    "BadRequest",
    "Conflict",
    "DatabaseUnavailable",
    "FieldError",
    "Forbidden",
    "Gone",
    "InsufficientScope",
    "KlageError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "StorageUnavailable",
    "Unauthenticated",
    "UnsupportedMediaType",
    "ValidationFailed",
    "raised_by",
    "raises",
]

_F = TypeVar("_F", bound=Callable[..., Any])
_RAISES: dict[Callable[..., Any], tuple[type[KlageError], ...]] = {}


def raises(*errors: type[KlageError]) -> Callable[[_F], _F]:
    """Declares the refusals a dependency makes, so the contract lists their codes on every
    operation that depends on it (api/contract.py walks each route's dependencies)."""

    def mark(function: _F) -> _F:
        _RAISES[function] = errors
        return function

    return mark


def raised_by(function: Callable[..., Any]) -> tuple[type[KlageError], ...]:
    """The refusals `function` was declared to make with `raises`."""
    return _RAISES.get(function, ())


class KlageError(Exception):
    """A refusal with an HTTP status, a stable machine-readable code and a human detail."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class default
        self.extra = extra
        self.headers: dict[str, str] = {}


class BadRequest(KlageError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class Unauthenticated(KlageError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"

    def __init__(
        self, detail: str, *, error: str | None = "invalid_token", reason: str = "invalid"
    ) -> None:
        super().__init__(detail)
        # Why the token was refused, for the metrics (`klageapi_refused_becauses_total`): a word
        # from a fixed set, never from the token.
        self.refused_because = reason
        # RFC 6750 section 3.1: a request without credentials gets a challenge with no error code.
        challenge = 'Bearer realm="klageapi"'
        if error is not None:
            challenge += f', error="{error}"'
        self.headers["WWW-Authenticate"] = challenge


class Forbidden(KlageError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"
    title = "Insufficient scope"
    refused_because = "insufficient_scope"

    def __init__(self, *, scope: str) -> None:
        super().__init__(f"This operation needs the scope {scope!r}.", required_scope=scope)
        self.headers["WWW-Authenticate"] = (
            f'Bearer realm="klageapi", error="insufficient_scope", scope="{scope}"'
        )


class NotFound(KlageError):
    status = 404
    code = "not_found"
    title = "Not found"


class MethodNotAllowed(KlageError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class Conflict(KlageError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Gone(KlageError):
    status = 410
    code = "gone"
    title = "Gone"


class PayloadTooLarge(KlageError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"

    def __init__(self, *, limit: int) -> None:
        super().__init__(f"The request body exceeds the limit of {limit} bytes.", limit=limit)


class UnsupportedMediaType(KlageError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class FieldError(dict[str, str]):
    """One entry of a validation problem's `errors` list."""

    def __init__(self, field: str, message: str, type: str = "invalid") -> None:
        super().__init__(field=field, message=message, type=type)


class ValidationFailed(KlageError):
    status = 422
    code = "validation_failed"
    title = "Validation failed"

    def __init__(self, errors: list[FieldError], *, detail: str | None = None) -> None:
        summary = detail or "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(summary, errors=list(errors))


class ServiceUnavailable(KlageError):
    status = 503
    code = "not_ready"
    title = "Service not ready"


# How long a client is told to wait before it tries again (Retry-After). A database restart or
# a store's failover takes seconds; a client retrying sooner meets the same fault.
RETRY_AFTER_SECONDS = 1


class DatabaseUnavailable(ServiceUnavailable):
    """The request met a lost database connection (a restarted or stopped server) or got none
    within the pool's wait. Its transaction did not commit, or was lost in COMMIT where the
    client cannot know: a retry with the same Idempotency-Key is safe either way."""

    code = "database_unavailable"
    title = "Database unavailable"

    def __init__(self) -> None:
        super().__init__("The database could not be reached; try again in a moment.")
        self.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


class StorageUnavailable(ServiceUnavailable):
    """The document store could not be reached or failed; nothing of the request was kept."""

    code = "storage_unavailable"
    title = "Document storage unavailable"

    def __init__(self) -> None:
        super().__init__("The document store could not be reached; try again in a moment.")
        self.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
