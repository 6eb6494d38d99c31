"""Telling a file's real type from its first bytes, so a declared type cannot lie."""

from __future__ import annotations

__all__ = ["SIGNATURES", "matches"]

SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
}

SNIFF_BYTES = max(len(signature) for known in SIGNATURES.values() for signature in known)


def matches(media_type: str, head: bytes) -> bool:
    """Whether the first bytes are those of `media_type` (types without a signature pass)."""
    signatures = SIGNATURES.get(media_type)
    return signatures is None or head.startswith(signatures)
