"""Per-organisation limits, so that no client takes another's capacity: how many of an
organisation's requests run at once, and how fast it may send them (a token bucket).

An organisation over either limit gets 429 `rate_limited` with `Retry-After`, before its
request touches the database. Citizens are not counted here: their requests come through
nav.no, each with a token of its own.

The counts live in each API process's memory, not in PostgreSQL. What the limits protect is
per process (its connection pool, its event loop, its memory), and a shared count would cost a
database round trip, and a write, on every request: the very capacity being protected, and
gone when the database is. With N processes behind a load balancer an organisation may have
N times each limit in all; set them per process (the total you want, divided by N).

The token bucket is our own (a few lines): `limits`, the usual library, offers fixed and
moving windows, which allow no burst above the steady rate and say less about when to retry.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from klageapi.core.auth import Organisation, Principal, get_principal
from klageapi.core.errors import KlageError, raises

__all__ = ["OrganisationLimits", "RateLimited", "limit_organisation"]


class RateLimited(KlageError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, limit: str) -> None:
        super().__init__(detail, limit=limit, retry_after=retry_after)
        self.headers["Retry-After"] = str(retry_after)


@dataclass
class _Organisation:
    tokens: float
    refilled_at: float
    running: int = 0


class OrganisationLimits:
    """The limits of one process. `max_concurrent` 0 and `rate` 0 switch a limit off."""

    def __init__(
        self,
        *,
        max_concurrent: int,
        rate: float,
        burst: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_concurrent = max_concurrent
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._organisations: dict[str, _Organisation] = {}

    def admit(self, organisation: str) -> None:
        """Count one more request of the organisation, or raise RateLimited (counting none)."""
        now = self._monotonic()
        state = self._organisations.get(organisation)
        if state is None:
            state = self._organisations[organisation] = _Organisation(self.burst, now)
        if self.max_concurrent and state.running >= self.max_concurrent:
            raise RateLimited(
                f"This organisation already has {self.max_concurrent} requests running; "
                "retry when one has finished.",
                retry_after=1,
                limit="concurrent_requests",
            )
        if self.rate:
            state.tokens = min(self.burst, state.tokens + (now - state.refilled_at) * self.rate)
            state.refilled_at = now
            if state.tokens < 1:
                raise RateLimited(
                    f"This organisation is over its {self.rate:g} requests a second.",
                    retry_after=max(1, math.ceil((1 - state.tokens) / self.rate)),
                    limit="request_rate",
                )
            state.tokens -= 1
        state.running += 1

    def release(self, organisation: str) -> None:
        """One of the organisation's requests has finished."""
        state = self._organisations[organisation]
        state.running -= 1
        if state.running == 0 and (not self.rate or state.tokens >= self.burst):
            # Nothing to remember: a fresh entry would be the same.
            del self._organisations[organisation]

    def running(self, organisation: str) -> int:
        state = self._organisations.get(organisation)
        return 0 if state is None else state.running


@raises(RateLimited)
async def limit_organisation(
    request: Request, principal: Annotated[Principal, Depends(get_principal)]
) -> AsyncIterator[None]:
    """The dependency of every /v1 route: admits an organisation's request within its limits
    and counts it as running until its answer has been sent (a download to its last byte)."""
    if not isinstance(principal, Organisation):
        yield
        return
    limits: OrganisationLimits = request.app.state.organisation_limits
    organisation = principal.actor
    limits.admit(organisation)
    try:
        yield
    finally:
        limits.release(organisation)


OrganisationLimitDep = Annotated[None, Depends(limit_organisation)]
