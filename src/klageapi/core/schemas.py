"""Schemas shared by every domain: the problem document and the base model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PROBLEM_MEDIA_TYPE", "FieldErrorRead", "Problem", "Schema", "problem_responses"]

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Schema(BaseModel):
    """Base for request and response bodies: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


class FieldErrorRead(BaseModel):
    field: str = Field(examples=["decision.notified_on"])
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document; `code` is stable and meant for machines."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:klageapi:problem:validation_failed"])
    title: str
    status: int
    detail: str
    code: str = Field(examples=["validation_failed"])
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldErrorRead] | None = None


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or invalid bearer token",
    403: "The token lacks the needed scope",
    404: "No such object, or not visible to the caller",
    409: "Conflicts with the current state",
    410: "Erased after its retention period",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "Validation failed",
    429: "Over the organisation's limits; retry after Retry-After seconds",
    503: "Not ready, or the database or the document store unavailable: retry after Retry-After",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` entries declaring that these statuses answer with a problem document."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Problem"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
