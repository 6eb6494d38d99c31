"""Refusals about webhook subscriptions (the tree is in core/errors.py)."""

from __future__ import annotations

import uuid

from klageapi.core.errors import FieldError, NotFound, ValidationFailed

__all__ = [
    "DeliveryNotFound",
    "ReplayWindowTooLong",
    "SubscriptionNotFound",
    "WebhookPingFailed",
    "WebhookUrlNotHttps",
]


class SubscriptionNotFound(NotFound):
    code = "webhook_subscription_not_found"

    def __init__(self, subscription_id: uuid.UUID) -> None:
        super().__init__(f"No webhook subscription {subscription_id} of the caller's.")


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"

    def __init__(self, delivery_id: uuid.UUID) -> None:
        super().__init__(f"No delivery {delivery_id} of this subscription.")


class WebhookUrlNotHttps(ValidationFailed):
    code = "webhook_url_not_https"

    def __init__(self) -> None:
        super().__init__([FieldError("url", "must be an https URL", "webhook_url_not_https")])


class WebhookPingFailed(ValidationFailed):
    code = "webhook_ping_failed"

    def __init__(self, answer: str, excerpt: str | None) -> None:
        super().__init__(
            [FieldError("url", f"the signed ping was answered with {answer}", "webhook_ping")],
            detail=f"The signed ping to the URL did not get a 2xx answer: {answer}.",
        )
        self.extra["ping_answer"] = answer
        if excerpt:
            self.extra["ping_response_excerpt"] = excerpt[:500]


class ReplayWindowTooLong(ValidationFailed):
    code = "replay_window_too_long"

    def __init__(self, days: int) -> None:
        super().__init__(
            [FieldError("since", f"a replay covers at most {days} days", "replay_window")]
        )
