"""One signed POST to a subscriber, and what came of it. Used by the dispatcher and the ping."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from klageapi import __version__
from klageapi.event.schemas import event_read
from klageapi.models import Event
from klageapi.webhook.signing import signed_headers
from klageapi.webhook.targets import Network, RefusedTarget, Target, resolve

__all__ = [
    "EXCERPT_BYTES",
    "RETRY_AFTER_LONGEST_READ",
    "Outcome",
    "event_message",
    "ping_message",
    "send",
]

EXCERPT_BYTES = 2048
RETRY_AFTER_LONGEST_READ = 10.0**9  # seconds: some 30 years, past any configured cap
_USER_AGENT = f"klageapi-webhooks/{__version__}"


@dataclass(frozen=True)
class Outcome:
    attempted_at: dt.datetime
    duration_ms: int
    status_code: int | None = None
    response_excerpt: str | None = None
    error: str | None = None
    retry_after_seconds: float | None = None

    @property
    def delivered(self) -> bool:
        """Only a 2xx counts; a redirect is not followed and is a failure."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str:
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return self.error or "no answer"


def event_message(event: Event) -> bytes:
    """The body of an event's delivery: `{type, timestamp, data}`, data as in the feed."""
    return _body(event.type, event.recorded_at, event_read(event).model_dump(mode="json"))


def ping_message(subscription_id: str, now: dt.datetime) -> bytes:
    return _body("webhook.ping", now, {"subscription_id": subscription_id})


def _body(type_: str, timestamp: dt.datetime, data: dict[str, object]) -> bytes:
    message = {"type": type_, "timestamp": timestamp.isoformat(), "data": data}
    return json.dumps(message, separators=(",", ":")).encode()


async def send(
    client: httpx.AsyncClient,
    *,
    url: str,
    secrets: Sequence[str],
    message_id: str,
    body: bytes,
    timeout_seconds: float,
    allowed: Sequence[Network],
    target: Target | None = None,
) -> Outcome:
    """POST `body` to `url`, signed, within `timeout_seconds` all told; never raises. The URL
    is resolved and checked first, unless its checked `target` is given."""
    attempted_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()

    def outcome(**fields: object) -> Outcome:
        duration = round((time.perf_counter() - started) * 1000)
        return Outcome(attempted_at=attempted_at, duration_ms=duration, **fields)  # type: ignore[arg-type]

    if target is None:
        try:
            target = await resolve(url, allowed=allowed)
        except RefusedTarget as refused:
            return outcome(error=f"refused: {refused.reason}")
    headers = signed_headers(secrets, message_id=message_id, timestamp=attempted_at, body=body)
    headers |= {"host": target.host_header, "user-agent": _USER_AGENT}
    extensions = {"sni_hostname": target.server_name} if target.server_name else {}
    request = client.build_request(
        "POST",
        target.url,
        content=body,
        headers=headers,
        extensions=extensions,
        timeout=timeout_seconds,
    )
    try:
        async with asyncio.timeout(timeout_seconds):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                excerpt = await _excerpt(response)
            finally:
                await response.aclose()
    except TimeoutError:
        return outcome(error=f"no answer within {timeout_seconds:g} s")
    except httpx.HTTPError as error:
        return outcome(error=f"{type(error).__name__}: {error}"[:500])
    return outcome(
        status_code=response.status_code,
        response_excerpt=excerpt,
        retry_after_seconds=_retry_after(response.headers.get("retry-after"), attempted_at),
    )


async def _excerpt(response: httpx.Response) -> str:
    """The first 2 KB of the answer, read no further. An empty answer (204) is read to its end
    too: only a response read to its end leaves the connection open for the next delivery."""
    taken = bytearray()
    async for chunk in response.aiter_raw():
        taken += chunk
        if len(taken) >= EXCERPT_BYTES:
            break
    return bytes(taken[:EXCERPT_BYTES]).decode("utf-8", errors="replace")


def _retry_after(value: str | None, now: dt.datetime) -> float | None:
    """RFC 9110 Retry-After: delay-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    # ASCII digits only: str.isdigit() admits "²", which float() refuses (a crash of the
    # dispatcher); a delay of more digits than a float holds is read as the longest.
    if value.isascii() and value.isdigit():
        return min(float(value), RETRY_AFTER_LONGEST_READ)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
