"""ETags of appeals and the If-Match preconditions on changing them."""

from __future__ import annotations

from fastapi import Response

from klageapi.appeal.errors import PreconditionFailed, PreconditionRequired
from klageapi.appeal.schemas import AppealRead, appeal_read
from klageapi.models import Appeal

__all__ = ["answer", "etag", "expected_versions"]


def etag(appeal: Appeal) -> str:
    return f'"{appeal.version}"'


def answer(appeal: Appeal, response: Response) -> AppealRead:
    """The appeal as an endpoint answers with it, its version as the response's ETag."""
    response.headers["ETag"] = etag(appeal)
    return appeal_read(appeal)


def expected_versions(if_match: str | None, *, required: bool) -> frozenset[int] | None:
    """The versions an If-Match admits; None for no condition (absent, or `*`)."""
    if if_match is None:
        if required:
            raise PreconditionRequired()
        return None
    if if_match.strip() == "*":
        if required:  # "any version" is not a version the client has seen
            raise PreconditionRequired()
        return None
    versions = set()
    for tag in if_match.split(","):
        value = tag.strip().removeprefix("W/").strip('"')
        if value.isdigit() and len(value) < 10:
            versions.add(int(value))
    if not versions:
        raise PreconditionFailed(current_version=None)
    return frozenset(versions)
