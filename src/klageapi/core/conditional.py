"""Conditional requests (RFC 9110 section 13): matching ETags."""

from __future__ import annotations

__all__ = ["none_match"]


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names the ETag (compared weakly, section 13.1.2) or is `*`:
    the client's copy is current, and the answer is 304."""
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags
