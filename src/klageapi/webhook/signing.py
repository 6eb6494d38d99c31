"""Standard Webhooks signing: `whsec_` secrets and the `webhook-*` headers of a message."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Sequence

from standardwebhooks.webhooks import Webhook

__all__ = ["new_secret", "signed_headers"]


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, base64, with the Standard Webhooks prefix."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(
    secrets_: Sequence[str], *, message_id: str, timestamp: dt.datetime, body: bytes
) -> dict[str, str]:
    """The headers of one message, signed with every given secret (during a rotation, the new
    and the old one, space-separated, so a receiver that knows either accepts it)."""
    data = body.decode()
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=data)
        for secret in secrets_
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }
