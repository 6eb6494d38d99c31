"""The committed OpenAPI document is the contract: the app must match it exactly."""

from __future__ import annotations

import json
from pathlib import Path

from klageapi.api.app import openapi_document

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
