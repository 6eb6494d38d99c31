"""What the contract says beyond what FastAPI derives from the routes: who may call each operation
(OAuth2 schemes and the scope each operation needs), every problem code each operation can answer
(per status, as `x-problem-codes`, with an example of each), the response headers a client reads,
and an example of each request body (`api/examples.py`).

The codes come from two places. Those of the dependencies are derived: each route's dependency
tree is walked, and a dependency declares its refusals with `core.errors.raises` (the token, the
scope, the Idempotency-Key, the cursor); a JSON body brings malformed_json, 415 and 413, any
parameter validation_failed, the database session 503 database_unavailable, an If-Match header
412. Those of the domain are listed per operation in `DOMAIN_PROBLEMS`. The test run records every
problem each operation answers (tests/_problem_codes.py) and fails on a code the contract does
not list.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

from klageapi.api.examples import REQUEST_EXAMPLES
from klageapi.appeal.errors import (
    AppealNotFound,
    DecisionDocumentRequired,
    ExternalReferenceConflict,
    MunicipalityNotServed,
    NotPermittedForRole,
    PreconditionFailed,
    PreconditionRequired,
    SupplementaryPackageWaiting,
    TransitionNotAllowed,
)
from klageapi.appeal.schemas import AppealRead
from klageapi.case_package.errors import (
    DocumentationRequestNotFound,
    DocumentationRequestNotOpen,
    DocumentsNotEligible,
    NavOutcomeRequired,
    PackageErased,
    PackageNotAwaitingReceipt,
    PackageNotFound,
    PackageWithdrawn,
    ReceiptConflict,
    RequiredDocumentsMissing,
    UnknownStatsforvalterOffice,
)
from klageapi.citizen.errors import CommentDeadlinePassed, SenderReferenceConflict, TaskNotOpen
from klageapi.core.auth import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE, scopes_required_by
from klageapi.core.db import get_read_session, get_session
from klageapi.core.errors import (
    DatabaseUnavailable,
    KlageError,
    PayloadTooLarge,
    StorageUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
    raised_by,
)
from klageapi.core.limits import RateLimited
from klageapi.core.pagination import InvalidCursor
from klageapi.core.schemas import PROBLEM_MEDIA_TYPE
from klageapi.document.errors import (
    AppealErased,
    ContentBeingErased,
    DocumentChecksumMismatch,
    DocumentMediaTypeMismatch,
    DocumentNotFound,
    DocumentTypeNotAllowed,
    EmptyDocument,
    RangeNotSatisfiable,
)
from klageapi.event.types import DELIVERIES
from klageapi.registry.errors import (
    NavOfficeNotFound,
    StatsforvalterOfficeNotFound,
    UnknownCounty,
)
from klageapi.statistics.errors import PeriodReversed, PeriodTooLong
from klageapi.webhook.errors import (
    DeliveryNotFound,
    ReplayWindowTooLong,
    SubscriptionNotFound,
    WebhookPingFailed,
    WebhookUrlNotHttps,
)
from klageapi.webhook.targets import RefusedTarget

__all__ = ["DOMAIN_PROBLEMS", "complete", "problem_codes"]

Code = tuple[int, str, str]
"""(status, code, title) of a problem."""

# Problems rendered outside the exception tree (the handlers and the middleware).
MALFORMED_JSON: Code = (400, "malformed_json", "Malformed JSON")
VALIDATION_FAILED: Code = (422, ValidationFailed.code, ValidationFailed.title)
DATABASE_UNAVAILABLE: Code = (503, DatabaseUnavailable.code, DatabaseUnavailable.title)
DATABASE_UNREACHABLE: Code = (503, "database_unreachable", "Service not ready")
SCHEMA_BEHIND: Code = (503, "schema_behind", "Service not ready")

_STEP = (AppealNotFound, NotPermittedForRole, TransitionNotAllowed)
_SUBSCRIPTION_URL = (WebhookUrlNotHttps, RefusedTarget, WebhookPingFailed)
_CITIZEN_UPLOAD = (
    AppealNotFound,
    TaskNotOpen,
    TransitionNotAllowed,
    DocumentTypeNotAllowed,
    DocumentMediaTypeMismatch,
    PayloadTooLarge,
    EmptyDocument,
    DocumentChecksumMismatch,
    StorageUnavailable,
    ContentBeingErased,
)

DOMAIN_PROBLEMS: dict[str, tuple[type[KlageError] | Code, ...]] = {
    "readyz": (DATABASE_UNREACHABLE, SCHEMA_BEHIND),
    "register_appeal": (
        NavOfficeNotFound,
        ExternalReferenceConflict,
        MunicipalityNotServed,
        UnknownCounty,
    ),
    "get_appeal": (AppealNotFound,),
    "get_appeal_history": (AppealNotFound,),
    "start_nav_review": _STEP,
    "record_nav_outcome": (*_STEP, PreconditionRequired),
    "withdraw_appeal": _STEP,
    "add_preliminary_reply": _STEP,
    "start_statsforvalter_review": _STEP,
    "decide_appeal": (
        *_STEP,
        PreconditionRequired,
        SupplementaryPackageWaiting,
        DecisionDocumentRequired,
    ),
    "get_nav_office": (NavOfficeNotFound,),
    "put_nav_office": (UnknownCounty,),
    "get_statsforvalter_office": (StatsforvalterOfficeNotFound,),
    "upload_document": (
        AppealNotFound,
        NotPermittedForRole,
        DocumentTypeNotAllowed,
        DocumentMediaTypeMismatch,
        PayloadTooLarge,
        EmptyDocument,
        DocumentChecksumMismatch,
        StorageUnavailable,
        ContentBeingErased,
        AppealErased,
    ),
    "list_documents": (AppealNotFound,),
    "get_document_content": (DocumentNotFound, RangeNotSatisfiable, StorageUnavailable),
    "forward_appeal": (*_STEP, NavOutcomeRequired, RequiredDocumentsMissing),
    "get_package": (PackageNotFound,),
    "get_package_bundle": (PackageNotFound, PackageErased, StorageUnavailable),
    "acknowledge_package": (
        PackageNotFound,
        PackageWithdrawn,
        PackageNotAwaitingReceipt,
        ReceiptConflict,
        TransitionNotAllowed,
    ),
    "reject_package": (
        PackageNotFound,
        PackageWithdrawn,
        PackageNotAwaitingReceipt,
        UnknownStatsforvalterOffice,
        TransitionNotAllowed,
    ),
    "request_documentation": _STEP,
    "list_documentation_requests": (AppealNotFound,),
    "fulfil_documentation_request": (
        DocumentationRequestNotFound,
        DocumentationRequestNotOpen,
        DocumentsNotEligible,
        TransitionNotAllowed,
    ),
    "list_events": (InvalidCursor,),
    "create_webhook_subscription": _SUBSCRIPTION_URL,
    "get_webhook_subscription": (SubscriptionNotFound,),
    "update_webhook_subscription": (SubscriptionNotFound, *_SUBSCRIPTION_URL),
    "delete_webhook_subscription": (SubscriptionNotFound,),
    "rotate_webhook_secret": (SubscriptionNotFound,),
    "list_webhook_deliveries": (SubscriptionNotFound,),
    "redeliver_webhook_delivery": (SubscriptionNotFound, DeliveryNotFound),
    "replay_webhook_events": (SubscriptionNotFound, ReplayWindowTooLong),
    "get_my_appeal": (AppealNotFound,),
    "comment_on_my_appeal": (
        AppealNotFound,
        TaskNotOpen,
        CommentDeadlinePassed,
        TransitionNotAllowed,
        StorageUnavailable,
        ContentBeingErased,
    ),
    "send_my_documentation": _CITIZEN_UPLOAD,
    "send_my_documents": (*_CITIZEN_UPLOAD, SenderReferenceConflict),
    "withdraw_my_appeal": (AppealNotFound, TaskNotOpen),
    "list_my_documents": (AppealNotFound,),
    "get_my_document_content": (
        AppealNotFound,
        DocumentNotFound,
        RangeNotSatisfiable,
        StorageUnavailable,
    ),
    "get_processing_times": (PeriodReversed, PeriodTooLong),
    "get_statistics_report": (PeriodReversed, PeriodTooLong),
}
"""The refusals each operation's own code makes, beyond those of its dependencies."""

MASKINPORTEN = "maskinporten"
IDPORTEN = "idporten"

SECURITY_SCHEMES: dict[str, Any] = {
    MASKINPORTEN: {
        "type": "oauth2",
        "description": "Organisations (NAV offices' and Statsforvalter offices' systems, or a"
        " supplier acting for them) with a Maskinporten access token: the organisation is the"
        " `consumer` claim (`0192:<orgnr>`), the rights are its scopes. Maskinporten issues the"
        " token for a JWT grant signed with the organisation's certificate or key. In"
        " development, `klageapi dev-token --org 0192:<orgnr> --scope ...` prints one.",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "https://maskinporten.no/token",
                "scopes": {
                    SCOPE_READ: "Read the appeals, packages, documents, events and statistics"
                    " the organisation may see.",
                    SCOPE_WRITE: "Register appeals and take the organisation's steps on them;"
                    " manage its webhook subscriptions.",
                    SCOPE_ADMIN: "Administer the registry and read the audit log and every"
                    " office's statistics.",
                },
            }
        },
    },
    IDPORTEN: {
        "type": "oauth2",
        "description": "Citizens, through a frontend such as nav.no, with an ID-porten token"
        " that carries `pid` (the national identity number) and `acr` `idporten-loa-high`"
        " (a lower level is refused with 401 and `error=insufficient_user_authentication`)."
        " In development, `klageapi dev-token --citizen <national id>` prints one.",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": "https://login.idporten.no/authorize",
                "tokenUrl": "https://idporten.no/token",
                "scopes": {"openid": "The citizen's identity."},
            }
        },
    },
}

_HEADERS: dict[str, Any] = {
    "X-Request-ID": {
        "description": "The request's id (the client's own `X-Request-ID` if it sent a"
        " usable one): quote it when reporting a problem; every log line carries it.",
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": "The version: of an appeal, for `If-Match` and `If-None-Match`"
        ' (`"3"`); of a document, its sha256.',
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "Where the created object is read.",
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the"
        " same `Idempotency-Key` and body: nothing was done again.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again (with the same Idempotency-Key).",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Content-Range": {
        "description": "The bytes served (`bytes 0-99/5000`), or the document's size when the"
        " range cannot be served (`bytes */5000`).",
        "schema": {"type": "string"},
    },
    "Content-Language": {
        "description": "The language the texts were written in: nb, nn or en.",
        "schema": {"type": "string", "enum": ["nb", "nn", "en"]},
    },
}

# Headers that only some responses carry, by operation and status; `True` when always sent.
_RESPONSE_HEADERS: dict[str, dict[str, dict[str, bool]]] = {
    "register_appeal": {
        "200": {"ETag": True, "Location": True},
        "201": {"ETag": True, "Location": True},
    },
    "get_appeal": {"200": {"ETag": True}, "304": {"ETag": True}},
    "upload_document": {"201": {"Location": True}},
    "get_document_content": {
        "200": {"ETag": True},
        "206": {"ETag": True, "Content-Range": True},
        "304": {"ETag": True},
        "416": {"Content-Range": True},
    },
    "forward_appeal": {"201": {"Location": True}},
    "request_documentation": {"201": {"Location": True}},
    "fulfil_documentation_request": {"201": {"Location": True}},
    "create_webhook_subscription": {"201": {"Location": True}},
    "list_my_appeals": {"200": {"Content-Language": True}},
    "get_my_appeal": {"200": {"Content-Language": True}},
    "get_my_document_content": {"200": {"ETag": True}, "304": {"ETag": True}},
}


# The refusals sent with a Retry-After.
_RETRY_AFTER = {DatabaseUnavailable.code, StorageUnavailable.code, RateLimited.code}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for child in dependant.dependencies:
        yield from _dependants(child)


def _has_parameters(dependant: Dependant) -> bool:
    return any(
        d.path_params or d.query_params or d.header_params or d.body_params
        for d in _dependants(dependant)
    )


def _header_names(dependant: Dependant) -> set[str]:
    return {
        (field.alias or field.name).lower().replace("_", "-")
        for d in _dependants(dependant)
        for field in d.header_params
    }


def _as_code(problem: type[KlageError] | Code) -> Code:
    if isinstance(problem, tuple):
        return problem
    return (problem.status, problem.code, problem.title)


def problem_codes(route: Any, operation: dict[str, Any]) -> set[Code]:
    """Every problem the operation can answer: its dependencies', its body's and parameters',
    and its own (`DOMAIN_PROBLEMS`)."""
    dependant: Dependant = route.dependant
    calls = [d.call for d in _dependants(dependant)]
    codes = {_as_code(error) for call in calls if call is not None for error in raised_by(call)}
    if get_session in calls or get_read_session in calls:
        codes.add(DATABASE_UNAVAILABLE)
    if _has_parameters(dependant):
        codes.add(VALIDATION_FAILED)
    if route.body_field is not None:  # a JSON body (JsonRoute)
        codes |= {MALFORMED_JSON, _as_code(UnsupportedMediaType)}
    if "requestBody" in operation:
        codes.add(_as_code(PayloadTooLarge))
    if "if-match" in _header_names(dependant):
        codes.add(_as_code(PreconditionFailed))
    codes |= {_as_code(error) for error in DOMAIN_PROBLEMS.get(route.operation_id, ())}
    if _security(route) == [{IDPORTEN: []}]:
        # The per-organisation limits every /v1 route depends on do not count citizens
        # (core.limits): an operation for citizens never answers them 429.
        codes.discard(_as_code(RateLimited))
    return codes


def _problem_response(codes: list[Code], path: str) -> dict[str, Any]:
    titles = ", ".join(f"`{code}`" for _, code, _ in codes)
    return {
        "description": f"{codes[0][2] if len(codes) == 1 else 'Problem'}: {titles}",
        "x-problem-codes": [code for _, code, _ in codes],
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "examples": {
                    code: {
                        "summary": title,
                        "value": {
                            "type": f"urn:klageapi:problem:{code}",
                            "title": title,
                            "status": status,
                            "detail": f"{title} (`{code}`): the detail says what and why.",
                            "code": code,
                            "instance": path,
                            "request_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                        },
                    }
                    for status, code, title in codes
                },
            }
        },
    }


def _security(route: Any) -> list[dict[str, list[str]]]:
    for dependant in _dependants(route.dependant):
        scopes = scopes_required_by(dependant.call)
        if scopes == ():
            return [{IDPORTEN: []}]  # a citizen's token
        if scopes is not None:
            return [{MASKINPORTEN: [scope]} for scope in scopes]
    return []


def _with_headers(response: dict[str, Any], headers: dict[str, bool]) -> None:
    declared = response.setdefault("headers", {})
    for name, required in headers.items():
        declared[name] = {"$ref": f"#/components/headers/{name}"}
        if required:
            # A $ref may not carry siblings in OpenAPI 3.1's header object: a required header
            # gets its own object.
            declared[name] = {**_HEADERS[name], "required": True}


_WEBHOOK_HEADERS = [
    (
        "webhook-id",
        "The event's id: the same on every retry and redelivery; deduplicate on it.",
    ),
    ("webhook-timestamp", "When this attempt was signed, in seconds since the epoch."),
    (
        "webhook-signature",
        "`v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<body>` with the"
        " subscription's secret; two, space-separated, during a secret rotation.",
    ),
]


def _webhooks(components: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.1 `webhooks`: one POST per message type, its body typed, signed by the Standard
    Webhooks headers."""
    schemas = components.setdefault("schemas", {})
    webhooks: dict[str, Any] = {}
    for type_, model in DELIVERIES.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        webhooks[type_] = {
            "post": {
                "operationId": "webhook_" + type_.replace(".", "_"),
                "summary": f"A `{type_}` delivery",
                "description": (model.__doc__ or "").strip(),
                "tags": ["webhooks"],
                "parameters": [
                    {
                        "name": name,
                        "in": "header",
                        "required": True,
                        "description": description,
                        "schema": {"type": "string"},
                    }
                    for name, description in _WEBHOOK_HEADERS
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                        }
                    },
                },
                "responses": {
                    "2XX": {"description": "Received: the delivery counts only with a 2xx."},
                    "410": {"description": "Gone: the subscription is disabled at once."},
                    "default": {
                        "description": "Anything else (or none) is a failed attempt, retried"
                        " on the schedule, or after the answer's `Retry-After`."
                    },
                },
            }
        }
    return webhooks


def complete(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Add security, problem codes, response headers, examples and the webhooks to FastAPI's
    document of `routes`."""
    components = schema.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    components["headers"] = _HEADERS
    schema["webhooks"] = _webhooks(components)
    for route in iter_route_contexts(routes):
        operation_id = getattr(route, "operation_id", None)
        if operation_id is None or route.path_format not in schema["paths"]:
            continue
        for method in route.methods or ():
            operation = schema["paths"][route.path_format].get(method.lower())
            if operation is None:
                continue
            _complete_operation(route, operation)


def _complete_operation(route: Any, operation: dict[str, Any]) -> None:
    operation["security"] = _security(route)
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None and route.operation_id in REQUEST_EXAMPLES:
        body["examples"] = REQUEST_EXAMPLES[route.operation_id]
    responses: dict[str, Any] = operation["responses"]
    by_status: dict[int, list[Code]] = {}
    for code in sorted(problem_codes(route, operation)):
        by_status.setdefault(code[0], []).append(code)
    for status, response in list(responses.items()):
        # A problem status the operation has no code for is not one it answers.
        if PROBLEM_MEDIA_TYPE in response.get("content", {}) and int(status) not in by_status:
            del responses[status]
    for problem_status, problems in by_status.items():
        responses[str(problem_status)] = _problem_response(problems, route.path_format)
    header_parameters = _header_names(route.dependant)
    for status, response in responses.items():
        _with_headers(response, {"X-Request-ID": True})
        if status.startswith("2") and "idempotency-key" in header_parameters:
            _with_headers(response, {"Idempotent-Replayed": False})
        if status.startswith("2") and route.response_model is AppealRead:
            _with_headers(response, {"ETag": True})
        codes = set(response.get("x-problem-codes", []))
        if codes & _RETRY_AFTER:
            # Required when every code of the status comes with it (not readyz's 503).
            _with_headers(response, {"Retry-After": codes <= _RETRY_AFTER})
    for status, sent in _RESPONSE_HEADERS.get(route.operation_id, {}).items():
        _with_headers(responses[status], sent)
    responses_sorted = dict(sorted(responses.items()))
    responses.clear()
    responses.update(responses_sorted)
