"""Refusals about documents."""

from __future__ import annotations

import math
import uuid

from klageapi.core.errors import (
    Conflict,
    FieldError,
    KlageError,
    NotFound,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)

__all__ = [
    "AppealErased",
    "ContentBeingErased",
    "DocumentChecksumMismatch",
    "DocumentMediaTypeMismatch",
    "DocumentNotFound",
    "DocumentTypeNotAllowed",
    "EmptyDocument",
    "RangeNotSatisfiable",
]


class DocumentNotFound(NotFound):
    code = "document_not_found"

    def __init__(self, document_id: uuid.UUID) -> None:
        super().__init__(
            f"No document {document_id} that you may see.", document_id=str(document_id)
        )


class DocumentTypeNotAllowed(UnsupportedMediaType):
    code = "media_type_not_allowed"

    def __init__(self, media_type: str, allowed: list[str]) -> None:
        super().__init__(
            f"{media_type or 'No content type'} is not accepted; send one of {', '.join(allowed)}.",
            accepted=allowed,
        )


class DocumentMediaTypeMismatch(UnsupportedMediaType):
    code = "media_type_mismatch"

    def __init__(self, media_type: str) -> None:
        super().__init__(f"The file's first bytes are not those of {media_type}.")


class DocumentChecksumMismatch(ValidationFailed):
    code = "content_digest_mismatch"

    def __init__(self) -> None:
        super().__init__(
            [
                FieldError(
                    "Content-Digest",
                    "the sha-256 of the received bytes differs from the one declared",
                    "content_digest_mismatch",
                )
            ]
        )


class EmptyDocument(ValidationFailed):
    code = "empty_document"

    def __init__(self) -> None:
        super().__init__([FieldError("body", "the file is empty", "empty_document")])


class RangeNotSatisfiable(KlageError):
    status = 416
    code = "range_not_satisfiable"
    title = "Range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"The document has {size} bytes.", size=size)
        self.headers["Content-Range"] = f"bytes */{size}"


class ContentBeingErased(ServiceUnavailable):
    """The very same bytes were erased with another appeal's documents a moment ago, or are
    being: nothing was stored; sent again after Retry-After, they are stored anew."""

    code = "content_being_erased"
    title = "The same content is being erased"

    def __init__(self, *, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            "A file with the same bytes was just erased with another appeal's documents;"
            f" send it again in {seconds} s.",
            retry_after=seconds,
        )
        self.headers["Retry-After"] = str(seconds)


class AppealErased(Conflict):
    """The appeal's documents and personal data were erased after the retention period: a file
    attached now would never be erased, so none is taken."""

    code = "appeal_erased"
    title = "The appeal's documents were erased"

    def __init__(self, appeal_id: uuid.UUID) -> None:
        super().__init__(
            "The appeal's retention period has passed and its documents and personal data were"
            " erased: it takes no more files. The Statsforvalter's and NAV's archives have the"
            " case.",
            appeal_id=str(appeal_id),
        )
