"""The committed OpenAPI document is the contract: the app must match it exactly."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from klageapi.api import contract
from klageapi.api.app import openapi_document
from klageapi.case_package.errors import ReceiptConflict
from klageapi.core.db import SessionDep
from klageapi.core.errors import KlageError, raises
from klageapi.core.routing import JsonRoute
from tests._problem_codes import tap as problem_tap
from tests._problem_codes import undeclared
from tests.journey import AuthHeaders

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_app_schema_matches_the_committed_document() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))

    assert openapi_document() == committed, (
        "The app's OpenAPI schema differs from openapi/openapi.json. If the change is intended, "
        "run `uv run klageapi openapi` and commit the result."
    )


def test_every_operation_has_a_stable_id_and_declares_its_problems() -> None:
    document = openapi_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("operationId"), f"{method} {path} has no operationId"
            if path.startswith("/v1/"):
                problems = [
                    status
                    for status, response in operation["responses"].items()
                    if "application/problem+json" in response.get("content", {})
                ]
                assert "401" in problems, f"{method} {path} does not declare 401"


def test_every_operation_has_an_english_summary_from_the_table() -> None:
    from klageapi.api.summaries import SUMMARIES

    operations = [
        operation
        for operations in openapi_document()["paths"].values()
        for operation in operations.values()
    ]

    assert {operation["operationId"] for operation in operations} == set(SUMMARIES)
    for operation in operations:
        assert operation["summary"] == SUMMARIES[operation["operationId"]]
        # Not FastAPI's title-cased function name ("Start Nav Review").
        assert operation["summary"] != operation["operationId"].replace("_", " ").title()


# -- problem codes ---------------------------------------------------------------------------


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _known_codes() -> dict[str, int]:
    """Every code of the exception tree, and those the handlers and middleware render."""

    def walk(cls: type[KlageError]) -> Iterator[type[KlageError]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    known = {cls.code: cls.status for cls in walk(KlageError)}
    for status, code, _ in (
        contract.MALFORMED_JSON,
        contract.DATABASE_UNAVAILABLE,
        contract.DATABASE_UNREACHABLE,
        contract.SCHEMA_BEHIND,
    ):
        known[code] = status
    return known


def test_every_problem_response_lists_its_codes_each_of_its_status() -> None:
    known = _known_codes()
    for path, method, operation in _operations(openapi_document()):
        for status, response in operation["responses"].items():
            if "application/problem+json" not in response.get("content", {}):
                assert "x-problem-codes" not in response
                continue
            codes = response["x-problem-codes"]
            assert codes, f"{method} {path} {status} declares a problem without codes"
            for code in codes:
                assert known.get(code) == int(status), f"{method} {path}: {code} is not {status}"
            examples = response["content"]["application/problem+json"]["examples"]
            assert sorted(examples) == sorted(codes)
            for code, example in examples.items():
                assert (example["value"]["code"], example["value"]["status"]) == (code, int(status))


def test_the_codes_of_a_routes_dependencies_are_derived_from_them() -> None:
    """A dependency that declares a refusal brings its code into every operation using it,
    with no table to update; an operation without it does not get it."""

    # An existing refusal: a class made here would join the exception tree for the whole run.
    @raises(ReceiptConflict)
    async def refusing() -> None:
        return None

    router = APIRouter(route_class=JsonRoute)

    @router.get("/with", operation_id="with_it", dependencies=[Depends(refusing)])
    async def with_it(session: SessionDep) -> None:
        return None

    @router.post("/without", operation_id="without_it")
    async def without_it(body: dict[str, int]) -> None:
        return None

    app = FastAPI()
    app.include_router(router)
    document = get_openapi(title="t", version="1", routes=app.routes)

    contract.complete(document, app.routes)

    with_codes = {
        status: response["x-problem-codes"]
        for status, response in document["paths"]["/with"]["get"]["responses"].items()
        if "x-problem-codes" in response
    }
    assert with_codes == {"409": ["receipt_conflict"], "503": ["database_unavailable"]}
    without = document["paths"]["/without"]["post"]["responses"]
    assert {
        status: without[status]["x-problem-codes"] for status in without if status != "200"
    } == {
        "400": ["malformed_json"],
        "413": ["payload_too_large"],
        "415": ["unsupported_media_type"],
        "422": ["validation_failed"],
    }


async def test_a_code_answered_but_not_declared_fails_the_check(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    """The end-of-run check (tests/_problem_codes.py) sees each problem the app answers: here a
    real 404, which passes against the committed contract and fails against one without it."""
    before = len(problem_tap.answered)
    response = await client.get(f"/v1/appeals/{uuid.uuid4()}", headers=auth())
    assert response.json()["code"] == "appeal_not_found"
    answered = problem_tap.answered[before:]
    assert [(a.operation, a.status, a.code) for a in answered] == [
        ("get_appeal", 404, "appeal_not_found")
    ]
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert undeclared(answered, committed) == ({}, 0)

    stripped = copy.deepcopy(committed)
    stripped["paths"]["/v1/appeals/{appeal_id}"]["get"]["responses"]["404"]["x-problem-codes"] = []

    missing, _ = undeclared(answered, stripped)
    assert list(missing) == [("get_appeal", 404, "appeal_not_found")]


# -- security --------------------------------------------------------------------------------


def test_every_operation_names_its_scheme_and_scope() -> None:
    document = openapi_document()
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"maskinporten", "idporten"}
    flow = schemes["maskinporten"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "https://maskinporten.no/token"
    assert set(flow["scopes"]) == {"klageapi:read", "klageapi:write", "klageapi:admin"}
    security = {
        operation["operationId"]: operation["security"] for _, _, operation in _operations(document)
    }
    assert security["register_appeal"] == [{"maskinporten": ["klageapi:write"]}]
    assert security["list_appeals"] == [{"maskinporten": ["klageapi:read"]}]
    assert security["put_county_route"] == [{"maskinporten": ["klageapi:admin"]}]
    assert security["get_processing_times"] == [
        {"maskinporten": ["klageapi:read"]},
        {"maskinporten": ["klageapi:admin"]},
    ]
    assert security["get_my_appeal"] == [{"idporten": []}]
    assert security["healthz"] == security["readyz"] == security["metrics"] == []
    for operation_id, requirement in security.items():
        if operation_id not in {"healthz", "readyz", "metrics"}:
            assert requirement, f"{operation_id} names no security"


async def test_the_declared_scope_is_the_one_the_operation_asks_for(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    """Each organisation operation's 403 names the scope the contract declares for it."""
    document = openapi_document()
    for path, method, operation in _operations(document):
        [first, *_] = operation["security"] or [{}]
        scopes = first.get("maskinporten")
        if not scopes:
            continue
        url = path.format(**{name: uuid.uuid4() for name in _path_names(path)})
        response = await client.request(method, url, headers=auth(scope=""))
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        assert response.json()["required_scope"] == scopes[0], f"{method} {path}"


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


# -- headers ---------------------------------------------------------------------------------


def test_response_headers_are_declared_where_they_are_sent() -> None:
    document = openapi_document()
    operations = {operation["operationId"]: operation for _, _, operation in _operations(document)}

    def headers(operation_id: str, status: str) -> dict[str, Any]:
        declared: dict[str, Any] = operations[operation_id]["responses"][status].get("headers", {})
        return declared

    for operation in operations.values():
        for response in operation["responses"].values():
            assert response["headers"]["X-Request-ID"]["required"] is True
    assert headers("get_appeal", "200")["ETag"]["required"] is True
    assert headers("start_nav_review", "200")["ETag"]["required"] is True
    for operation_id in ("register_appeal", "upload_document", "forward_appeal"):
        assert headers(operation_id, "201")["Location"]["required"] is True
        assert "Idempotent-Replayed" in headers(operation_id, "201")
    assert headers("register_appeal", "503")["Retry-After"]["required"] is True
    assert headers("get_document_content", "206")["Content-Range"]["required"] is True
    assert headers("get_document_content", "416")["Content-Range"]["required"] is True
    assert headers("get_my_appeal", "200")["Content-Language"]["required"] is True
    assert "Idempotent-Replayed" not in headers("get_appeal", "200")


# -- examples --------------------------------------------------------------------------------


def test_every_json_request_body_has_examples_valid_by_its_schema() -> None:
    document = openapi_document()
    registry = Registry().with_resource(
        "urn:contract", Resource.from_contents(document, DRAFT202012)
    )
    for path, method, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        body = content["application/json"]
        assert body.get("examples"), f"{method} {path} has no example body"
        schema = {"$ref": "urn:contract#" + body["schema"]["$ref"].removeprefix("#")}
        validator = Draft202012Validator(
            schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        for name, example in body["examples"].items():
            errors = [error.message for error in validator.iter_errors(example["value"])]
            assert not errors, f"{method} {path} example {name}: {errors}"
