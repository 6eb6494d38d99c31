"""ETags of appeals and the If-Match preconditions on changing them."""

from __future__ import annotations

import re

from fastapi import Response

from klageapi.appeal.errors import PreconditionFailed, PreconditionRequired
from klageapi.appeal.schemas import AppealRead, appeal_read
from klageapi.models import Appeal

__all__ = ["answer", "etag", "expected_versions"]

_STRONG_VERSION_TAG = re.compile(r'"([0-9]{1,9})"')


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
    # RFC 9110 section 13.1.1: If-Match compares strongly, so a weak tag (W/"3") never
    # matches. A version is ASCII digits: str.isdigit() also admits "²", which int() refuses.
    versions = {
        int(match.group(1))
        for tag in if_match.split(",")
        if (match := _STRONG_VERSION_TAG.fullmatch(tag.strip())) is not None
    }
    if not versions:
        raise PreconditionFailed(current_version=None)
    return frozenset(versions)
