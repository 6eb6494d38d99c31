"""Per-organisation limits: requests at once and the request rate (a token bucket); an
organisation over either gets 429 `rate_limited` with Retry-After, nothing stored, and another
organisation is not affected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import hypothesis
import pytest
from fastapi import FastAPI
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.api.app import openapi_document
from klageapi.core.config import Settings
from klageapi.core.limits import OrganisationLimits, RateLimited
from klageapi.models import Appeal, AuditEntry, Document, Event, IdempotencyRecord
from tests.conftest import NAV_OSLO_ORG, NAV_STAVANGER_ORG, CommittedApp
from tests.factories import appeal_body, count

AuthHeaders = Callable[..., dict[str, str]]

STAVANGER = f"0192:{NAV_STAVANGER_ORG}"
OSLO_BODY = {"nav_office_unit_number": "0301", "municipality_number": "0301"}


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _stored(session: AsyncSession) -> dict[str, int]:
    models: list[Any] = [Appeal, Event, AuditEntry, Document, IdempotencyRecord]
    return {model.__name__: await count(session, model) for model in models}


def _assert_rate_limited(response: httpx.Response, *, limit: str) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    problem: dict[str, Any] = response.json()
    assert (problem["code"], problem["status"], problem["limit"]) == ("rate_limited", 429, limit)
    assert problem["retry_after"] == int(response.headers["retry-after"])
    return problem


# The token bucket and the count, on their own


def test_a_burst_is_admitted_then_the_steady_rate() -> None:
    clock = _Clock()
    limits = OrganisationLimits(max_concurrent=0, rate=2.0, burst=3, monotonic=clock)
    for _ in range(3):
        limits.admit(STAVANGER)
        limits.release(STAVANGER)

    with pytest.raises(RateLimited) as refused:
        limits.admit(STAVANGER)
    clock.now += 0.5  # one token back at 2 a second
    limits.admit(STAVANGER)

    assert refused.value.headers["Retry-After"] == "1"
    assert refused.value.extra["limit"] == "request_rate"


def test_retry_after_says_when_a_token_is_back() -> None:
    clock = _Clock()
    limits = OrganisationLimits(max_concurrent=0, rate=0.1, burst=1, monotonic=clock)
    limits.admit(STAVANGER)
    clock.now += 2.5

    with pytest.raises(RateLimited) as refused:
        limits.admit(STAVANGER)

    assert refused.value.headers["Retry-After"] == "8"  # 0.25 of a token; 0.75 more at 0.1/s


def test_a_refused_request_spends_no_token_and_counts_as_not_running() -> None:
    clock = _Clock()
    limits = OrganisationLimits(max_concurrent=1, rate=1.0, burst=2, monotonic=clock)
    limits.admit(STAVANGER)

    with pytest.raises(RateLimited) as refused:
        limits.admit(STAVANGER)  # over the count: no token taken
    limits.release(STAVANGER)
    limits.admit(STAVANGER)  # the second token is still there

    assert refused.value.extra["limit"] == "concurrent_requests"
    assert limits.running(STAVANGER) == 1


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(
    rate=st.floats(min_value=0.01, max_value=1000),
    burst=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=200),
)
def test_the_bucket_admits_no_more_than_its_burst_and_rate_and_retry_after_is_enough(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = _Clock()
    limits = OrganisationLimits(max_concurrent=0, rate=rate, burst=burst, monotonic=clock)
    began, admitted = clock.now, 0
    for gap in gaps:
        clock.now += gap
        try:
            limits.admit(STAVANGER)
        except RateLimited as refused:
            # Waiting as long as Retry-After says is always enough.
            later = _Clock()
            later.now = clock.now + int(refused.headers["Retry-After"])
            probe = OrganisationLimits(max_concurrent=0, rate=rate, burst=burst, monotonic=later)
            probe._organisations = {  # the same bucket, seen later
                key: type(state)(state.tokens, state.refilled_at, 0)
                for key, state in limits._organisations.items()
            }
            probe.admit(STAVANGER)
            continue
        admitted += 1
        limits.release(STAVANGER)
        assert admitted <= burst + rate * (clock.now - began) + 1e-6


def test_zero_switches_each_limit_off() -> None:
    limits = OrganisationLimits(max_concurrent=0, rate=0, burst=1)
    for _ in range(1000):
        limits.admit(STAVANGER)
    assert limits.running(STAVANGER) == 1000


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLAGEAPI_ORGANISATION_MAX_CONCURRENT_REQUESTS", "7")
    monkeypatch.setenv("KLAGEAPI_ORGANISATION_REQUESTS_PER_SECOND", "2.5")
    monkeypatch.setenv("KLAGEAPI_ORGANISATION_REQUEST_BURST", "9")

    settings = Settings(environment="development")

    assert (
        settings.organisation_max_concurrent_requests,
        settings.organisation_requests_per_second,
        settings.organisation_request_burst,
    ) == (7, 2.5, 9)
    assert (Settings.model_fields["organisation_max_concurrent_requests"].default,) == (32,)


# Over HTTP


@pytest.fixture
def limited(app: FastAPI) -> Callable[..., OrganisationLimits]:
    """Gives the app limits of the test's choosing (conftest's app has them off)."""

    def give(**limits: Any) -> OrganisationLimits:
        app.state.organisation_limits = OrganisationLimits(**limits)
        return app.state.organisation_limits  # type: ignore[no-any-return]

    return give


async def test_over_the_rate_a_registration_is_429_and_nothing_is_stored(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    limited: Callable[..., OrganisationLimits],
) -> None:
    limited(max_concurrent=0, rate=0.001, burst=2)
    for _ in range(2):
        admitted = await client.post("/v1/appeals", json=appeal_body(), headers=auth())
        assert admitted.status_code == 201, admitted.text
    before = await _stored(session)

    refused = await client.post(
        "/v1/appeals", json=appeal_body(), headers={**auth(), "Idempotency-Key": "over-1"}
    )

    _assert_rate_limited(refused, limit="request_rate")
    assert int(refused.headers["retry-after"]) > 900  # a token comes back every 1000 s
    assert await _stored(session) == before


async def test_another_organisation_is_not_affected_by_one_over_its_rate(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    limited: Callable[..., OrganisationLimits],
) -> None:
    limited(max_concurrent=0, rate=0.001, burst=1)
    await client.get("/v1/appeals", headers=auth())
    refused = await client.get("/v1/appeals", headers=auth())

    oslo = await client.post(
        "/v1/appeals", json=appeal_body(**OSLO_BODY), headers=auth(org=NAV_OSLO_ORG)
    )

    _assert_rate_limited(refused, limit="request_rate")
    assert oslo.status_code == 201, oslo.text
    assert await count(session, Appeal) == 1


async def test_over_the_count_of_requests_at_once_an_upload_is_429_and_others_go_on(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    # Requests running at once, committing as in production (the test's one session cannot
    # serve two requests at a time).
    client = race_track.client
    appeal = (await client.post("/v1/appeals", json=appeal_body(), headers=auth())).json()
    limits = OrganisationLimits(max_concurrent=2, rate=0, burst=1)
    race_track.app.state.organisation_limits = limits
    path = f"/v1/appeals/{appeal['id']}/documents?category=appeal&title=Klage"
    release = asyncio.Event()
    started = asyncio.Semaphore(0)

    async def slow_upload() -> httpx.Response:
        async def trickle() -> AsyncIterator[bytes]:
            yield b"%PDF-1.7\n"
            started.release()
            await release.wait()
            yield b"x" * 100

        headers = {**auth(), "Content-Type": "application/pdf"}
        return await client.post(path, content=trickle(), headers=headers)

    running = [asyncio.create_task(slow_upload()) for _ in range(2)]
    try:
        for _ in range(2):
            async with asyncio.timeout(10):
                await started.acquire()
        before = await _committed(race_track)
        third = await client.post(
            path,
            content=b"%PDF-1.7\n" + b"y" * 100,
            headers={**auth(), "Content-Type": "application/pdf", "Idempotency-Key": "third"},
        )
        stored_after_refusal = await _committed(race_track)
        oslo = await client.get("/v1/appeals", headers=auth(org=NAV_OSLO_ORG))
        counted = limits.running(STAVANGER)
    finally:
        release.set()
    finished = await asyncio.gather(*running)
    after = await client.get(f"/v1/appeals/{appeal['id']}", headers=auth())

    problem = _assert_rate_limited(third, limit="concurrent_requests")
    assert third.headers["retry-after"] == "1"
    assert "2 requests running" in problem["detail"]
    assert stored_after_refusal == before
    assert oslo.status_code == 200
    assert counted == 2
    assert [response.status_code for response in finished] == [201, 201]
    assert after.status_code == 200  # the slots were given back
    assert limits.running(STAVANGER) == 0
    assert (await _committed(race_track))["Document"] == 2


async def _committed(track: CommittedApp) -> dict[str, int]:
    async with AsyncSession(track.engine) as session:
        return await _stored(session)


async def test_a_citizen_is_not_counted_as_an_organisation(
    client: httpx.AsyncClient,
    make_token: Callable[..., str],
    limited: Callable[..., OrganisationLimits],
) -> None:
    limited(max_concurrent=1, rate=0.001, burst=1)
    token = make_token(org=None, pid="15076500565", acr="idporten-loa-high", scope=None)

    answers = [
        await client.get("/v1/me/appeals", headers={"Authorization": f"Bearer {token}"})
        for _ in range(3)
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200]


def test_every_v1_operation_of_organisations_declares_the_429_and_no_citizens_one_does() -> None:
    paths = openapi_document()["paths"]
    citizens = 0
    for path, operations in paths.items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            response = operation["responses"].get("429")
            if operation["security"] == [{"idporten": []}]:
                citizens += 1
                assert response is None, f"{method} {path}: citizens are not counted"
                continue
            assert response is not None, f"{method} {path}"
            assert "application/problem+json" in response["content"]
    assert citizens == 8  # /v1/me/appeals...: the view, the documents and the tasks
