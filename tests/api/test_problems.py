"""Every kind of bad request gets an RFC 9457 problem document with a stable `code`, and nothing
is stored: routing, JSON, validation, body size, content type, tokens, and crashes."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.clock import FixedClock
from klageapi.core.config import Settings
from klageapi.core.logging import configure_logging
from klageapi.models import Appeal, AppealHistory, AuditEntry, Document
from tests.factories import NATIONAL_ID, appeal_body, count

AuthHeaders = Callable[..., dict[str, str]]
LogReader = Callable[[], list[dict[str, Any]]]

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "instance", "request_id"}
JSON = {"content-type": "application/json"}
REQUIRED_FIELDS = {
    "nav_office_unit_number",
    "municipality_number",
    "national_id",
    "decision",
    "received_on",
    "channel",
    "grounds",
    "external_reference",
}


def assert_problem(
    response: httpx.Response, *, status: int, code: str, instance: str = "/v1/appeals"
) -> dict[str, Any]:
    """The response is a complete problem document with this status and code; returns it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem.keys() >= PROBLEM_FIELDS, problem
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"urn:klageapi:problem:{code}"
    assert problem["instance"] == instance
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    assert problem["request_id"] == response.headers["x-request-id"]
    return problem


def error_fields(problem: dict[str, Any]) -> set[str]:
    return {error["field"] for error in problem["errors"]}


async def assert_nothing_stored(session: AsyncSession) -> None:
    assert await count(session, Appeal) == 0
    assert await count(session, AppealHistory) == 0
    assert await count(session, AuditEntry) == 0


def _run_log_stream() -> Any:
    """The stream the run's log handler writes to (pytest's capture), to restore it later."""
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            return handler.stream
    return sys.stdout


@pytest.fixture
def capture_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], LogReader]]:
    """Call it inside the test (capsys has a fresh stdout per test phase): from then on, JSON
    log lines go to the captured stdout, and the reader it returns parses them."""
    run_stream = _run_log_stream()

    def start() -> LogReader:
        configure_logging(level="INFO", json=True)  # binds the handler to sys.stdout as it is now
        capsys.readouterr()

        def read() -> list[dict[str, Any]]:
            lines = capsys.readouterr().out.splitlines()
            return [json.loads(line) for line in lines if line.startswith("{")]

        return read

    yield start
    with contextlib.redirect_stdout(run_stream):
        configure_logging(level="INFO", json=True)


@pytest.fixture
async def crashing_client(new_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a test app of its own with one more route, included after the app was
    built, that crashes."""
    router = APIRouter()

    async def boom() -> None:
        raise RuntimeError("password=hunter2 at /srv/klageapi/secret.py line 42")

    router.add_api_route("/boom", boom, methods=["GET"])
    new_app.include_router(router)
    transport = httpx.ASGITransport(app=new_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client:
        yield client


# Routing


@pytest.mark.parametrize("path", ["/v1/does-not-exist", "/nowhere", "/v1/appeals/x/y/z"])
async def test_unknown_route_is_route_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders, path: str
) -> None:
    response = await client.get(path, headers=auth())

    problem = assert_problem(response, status=404, code="route_not_found", instance=path)
    assert path in problem["detail"]


async def test_wrong_method_is_method_not_allowed_with_allow_header(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.delete("/v1/appeals", headers=auth())

    problem = assert_problem(response, status=405, code="method_not_allowed")
    assert "DELETE" in problem["detail"]
    assert "POST" in response.headers["allow"]
    await assert_nothing_stored(session)


async def test_invalid_path_parameter_names_the_parameter(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.get("/v1/appeals/not-a-uuid", headers=auth())

    problem = assert_problem(
        response, status=422, code="validation_failed", instance="/v1/appeals/not-a-uuid"
    )
    assert error_fields(problem) == {"appeal_id"}


# Tokens


async def test_missing_token_is_unauthenticated(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await client.post("/v1/appeals", json=appeal_body())

    assert_problem(response, status=401, code="unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer ")
    await assert_nothing_stored(session)


async def test_read_scope_cannot_register(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post(
        "/v1/appeals", json=appeal_body(), headers=auth(scope="klageapi:read")
    )

    problem = assert_problem(response, status=403, code="insufficient_scope")
    assert problem["required_scope"] == "klageapi:write"
    await assert_nothing_stored(session)


# Malformed JSON


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="syntax"),
        pytest.param(b'{"grounds": "x",}', id="trailing-comma"),
        pytest.param(json.dumps(appeal_body()).encode()[:-5], id="truncated"),
        pytest.param(b'{"grounds": "\xff\xfe"}', id="not-utf8"),
        pytest.param('{"grounds": "æøå"}'.encode("latin-1"), id="latin1"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
        pytest.param(b'{"national_id": ' + b"9" * 5000 + b"}", id="integer-too-long"),
    ],
)
async def test_malformed_json_body_is_malformed_json(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, body: bytes
) -> None:
    response = await client.post("/v1/appeals", content=body, headers={**auth(), **JSON})

    assert_problem(response, status=400, code="malformed_json")
    await assert_nothing_stored(session)


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"null", b"42", b"true"])
async def test_json_that_is_not_an_object_is_a_validation_failure(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, body: bytes
) -> None:
    response = await client.post("/v1/appeals", content=body, headers={**auth(), **JSON})

    problem = assert_problem(response, status=422, code="validation_failed")
    assert error_fields(problem) == {"body"}
    await assert_nothing_stored(session)


# Validation


async def test_empty_object_names_every_missing_field(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post("/v1/appeals", json={}, headers=auth())

    problem = assert_problem(response, status=422, code="validation_failed")
    assert error_fields(problem) == REQUIRED_FIELDS
    assert {error["type"] for error in problem["errors"]} == {"missing"}
    await assert_nothing_stored(session)


async def test_missing_nested_field_is_named_with_its_path(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    body = appeal_body(decision={"reference": "V-1", "decided_on": "2026-10-01"})

    response = await client.post("/v1/appeals", json=body, headers=auth())

    problem = assert_problem(response, status=422, code="validation_failed")
    assert error_fields(problem) == {"decision.notified_on"}
    await assert_nothing_stored(session)


async def test_wrong_types_are_each_named(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    body = appeal_body(
        national_id=15076500565,
        grounds=["Uenig"],
        received_on="yesterday",
        channel=True,
        decision={"reference": 42, "decided_on": "2026-10-01", "notified_on": "2026-10-02"},
    )

    response = await client.post("/v1/appeals", json=body, headers=auth())

    problem = assert_problem(response, status=422, code="validation_failed")
    assert error_fields(problem) == {
        "national_id",
        "grounds",
        "received_on",
        "channel",
        "decision.reference",
    }
    await assert_nothing_stored(session)


async def test_unknown_channel_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post("/v1/appeals", json=appeal_body(channel="fax"), headers=auth())

    problem = assert_problem(response, status=422, code="validation_failed")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("channel", "enum")]
    await assert_nothing_stored(session)


async def test_notified_before_decided_names_decision_notified_on(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    decision = {"reference": "V-1", "decided_on": "2026-10-05", "notified_on": "2026-10-04"}

    response = await client.post("/v1/appeals", json=appeal_body(decision=decision), headers=auth())

    problem = assert_problem(response, status=422, code="validation_failed")
    assert error_fields(problem) == {"decision.notified_on"}
    await assert_nothing_stored(session)


async def test_received_before_decided_names_received_on(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post(
        "/v1/appeals", json=appeal_body(received_on="2026-09-30"), headers=auth()
    )

    problem = assert_problem(response, status=422, code="validation_failed")
    assert error_fields(problem) == {"received_on"}
    await assert_nothing_stored(session)


async def test_dates_in_the_future_are_each_named(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    # The fixed clock stands at 2026-11-02.
    decision = {"reference": "V-1", "decided_on": "2026-11-03", "notified_on": "2026-11-04"}

    response = await client.post(
        "/v1/appeals", json=appeal_body(decision=decision, received_on="2026-11-05"), headers=auth()
    )

    problem = assert_problem(response, status=422, code="validation_failed")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("decision.decided_on", "date_in_future"),
        ("decision.notified_on", "date_in_future"),
        ("received_on", "date_in_future"),
    ]
    await assert_nothing_stored(session)


async def test_received_today_is_not_in_the_future(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.post(
        "/v1/appeals", json=appeal_body(received_on="2026-11-02"), headers=auth()
    )

    assert response.status_code == 201, response.text


async def test_today_is_the_norwegian_date_not_the_utc_date(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    # 23:30 UTC on 2 November is already 3 November in Oslo.
    clock.advance(dt.timedelta(hours=14))

    response = await client.post(
        "/v1/appeals", json=appeal_body(received_on="2026-11-03"), headers=auth()
    )

    assert response.status_code == 201, response.text


async def test_unknown_extra_field_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post("/v1/appeals", json=appeal_body(priority="high"), headers=auth())

    problem = assert_problem(response, status=422, code="validation_failed")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("priority", "extra_forbidden")]
    await assert_nothing_stored(session)


async def test_unknown_extra_field_in_the_decision_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    decision = {
        "reference": "V-1",
        "decided_on": "2026-10-01",
        "notified_on": "2026-10-02",
        "case_worker": "Ola",
    }

    response = await client.post("/v1/appeals", json=appeal_body(decision=decision), headers=auth())

    problem = assert_problem(response, status=422, code="validation_failed")
    assert error_fields(problem) == {"decision.case_worker"}
    await assert_nothing_stored(session)


async def test_refused_national_id_is_not_echoed(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post(
        "/v1/appeals", json=appeal_body(national_id="1507650056X"), headers=auth()
    )

    problem = assert_problem(response, status=422, code="validation_failed")
    assert error_fields(problem) == {"national_id"}
    assert "1507650056X" not in response.text
    await assert_nothing_stored(session)


# Body size


def _padded_body(size: int) -> bytes:
    """A valid registration padded with trailing whitespace to exactly `size` bytes."""
    body = json.dumps(appeal_body()).encode()
    return body + b" " * (size - len(body))


async def _chunks(total: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        part = min(chunk, total - sent)
        sent += part
        yield b" " * part


async def test_body_of_exactly_the_limit_is_accepted(
    client: httpx.AsyncClient, auth: AuthHeaders, settings: Settings
) -> None:
    body = _padded_body(settings.max_json_body_bytes)

    response = await client.post("/v1/appeals", content=body, headers={**auth(), **JSON})

    assert response.status_code == 201, response.text


async def test_body_over_the_limit_is_payload_too_large(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, settings: Settings
) -> None:
    body = _padded_body(settings.max_json_body_bytes + 1)

    response = await client.post("/v1/appeals", content=body, headers={**auth(), **JSON})

    # Refused by the middleware before the app runs, in the same document the handlers write.
    problem = assert_problem(response, status=413, code="payload_too_large")
    assert problem["limit"] == settings.max_json_body_bytes
    await assert_nothing_stored(session)


async def test_streamed_body_over_the_limit_without_length_is_payload_too_large(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, settings: Settings
) -> None:
    stream = _chunks(settings.max_json_body_bytes + 1)

    response = await client.post("/v1/appeals", content=stream, headers={**auth(), **JSON})

    assert "content-length" not in response.request.headers
    problem = assert_problem(response, status=413, code="payload_too_large")
    assert problem["limit"] == settings.max_json_body_bytes
    await assert_nothing_stored(session)


async def test_streamed_body_longer_than_its_content_length_is_payload_too_large(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, settings: Settings
) -> None:
    stream = _chunks(settings.max_json_body_bytes * 2)
    headers = {**auth(), **JSON, "content-length": "100"}

    response = await client.post("/v1/appeals", content=stream, headers=headers)

    assert_problem(response, status=413, code="payload_too_large")
    await assert_nothing_stored(session)


# Content type


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/jsonx",
        None,
    ],
)
async def test_body_that_is_not_declared_json_is_unsupported_media_type(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, content_type: str | None
) -> None:
    headers = auth() if content_type is None else {**auth(), "content-type": content_type}

    response = await client.post(
        "/v1/appeals", content=json.dumps(appeal_body()).encode(), headers=headers
    )

    problem = assert_problem(response, status=415, code="unsupported_media_type")
    assert problem["accepted"] == ["application/json"]
    await assert_nothing_stored(session)


async def test_form_data_is_unsupported_media_type(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post("/v1/appeals", data=appeal_body(), headers=auth())

    assert_problem(response, status=415, code="unsupported_media_type")
    await assert_nothing_stored(session)


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/x+json"]
)
async def test_json_content_types_are_accepted(
    client: httpx.AsyncClient, auth: AuthHeaders, content_type: str
) -> None:
    headers = {**auth(), "content-type": content_type}

    response = await client.post(
        "/v1/appeals", content=json.dumps(appeal_body()).encode(), headers=headers
    )

    assert response.status_code == 201, response.text


# Crashes


async def test_unexpected_exception_is_internal_error_without_internals(
    crashing_client: httpx.AsyncClient,
) -> None:
    response = await crashing_client.get("/boom", headers={"x-request-id": "crash-test-1"})

    problem = assert_problem(response, status=500, code="internal_error", instance="/boom")
    assert problem["request_id"] == "crash-test-1"
    for internal in ("hunter2", "RuntimeError", "Traceback", "secret.py", "line 42"):
        assert internal not in response.text


async def test_unexpected_exception_is_logged_with_the_request_id(
    crashing_client: httpx.AsyncClient, capture_logs: Callable[[], LogReader]
) -> None:
    log_records = capture_logs()

    response = await crashing_client.get("/boom")

    request_id = response.headers["x-request-id"]
    records = [r for r in log_records() if r.get("request_id") == request_id]
    crashes = [r for r in records if r["event"] == "unhandled_exception"]
    assert len(crashes) == 1
    assert crashes[0]["level"] == "error"
    assert "RuntimeError" in crashes[0]["exception"]
    access = [r for r in records if r["event"] == "request"]
    assert [(r["status"], r["route"]) for r in access] == [(500, "unmatched")]


async def test_refusals_are_not_logged_as_crashes(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    settings: Settings,
    capture_logs: Callable[[], LogReader],
) -> None:
    log_records = capture_logs()
    headers = {**auth(), **JSON}
    statuses = [
        (await client.get("/v1/nowhere", headers=headers)).status_code,
        (await client.post("/v1/appeals", content=b"{", headers=headers)).status_code,
        (await client.post("/v1/appeals", json={}, headers=auth())).status_code,
        (await client.post("/v1/appeals", content=b"{}", headers=auth())).status_code,
        (
            await client.post(
                "/v1/appeals", content=_chunks(settings.max_json_body_bytes + 1), headers=headers
            )
        ).status_code,
    ]

    assert statuses == [404, 400, 422, 415, 413]
    records = log_records()
    assert [r["status"] for r in records if r["event"] == "request"] == statuses
    assert [r for r in records if r["level"] in {"error", "critical"}] == []


# Hostile input


FULLWIDTH_DIGITS = str.maketrans("0123456789", "".join(chr(0xFF10 + digit) for digit in range(10)))

HOSTILE_BODIES: list[Any] = [
    pytest.param(b"[[[[[[[[[[]]]]]]]]]]", id="nested-arrays"),
    pytest.param(b"1e400", id="infinite-number"),
    pytest.param(b'{"grounds": NaN, "national_id": Infinity}', id="nan"),
    pytest.param(b'{"grounds": "\\ud800"}', id="lone-surrogate"),
    pytest.param(json.dumps({"grounds\u0000": 1}).encode(), id="null-byte-in-key"),
    pytest.param(appeal_body(national_id=10**400), id="huge-integer-id"),
    pytest.param(appeal_body(national_id=-1.5e308), id="huge-float-id"),
    pytest.param(appeal_body(national_id=[0] * 100_000), id="long-array-id"),
    pytest.param(
        appeal_body(national_id=NATIONAL_ID.translate(FULLWIDTH_DIGITS)), id="fullwidth-digits"
    ),
    pytest.param(appeal_body(national_id=NATIONAL_ID + "\n"), id="id-with-newline"),
    pytest.param(appeal_body(municipality_number="1103\n"), id="municipality-with-newline"),
    pytest.param(appeal_body(municipality_number="1103\u0000"), id="municipality-null-byte"),
    pytest.param(appeal_body(nav_office_unit_number="1103 "), id="unit-with-space"),
    pytest.param(appeal_body(grounds="Uenig\u0000 i vedtaket"), id="grounds-null-byte"),
    pytest.param(
        appeal_body(
            decision={
                "reference": "V\u0000",
                "decided_on": "2026-10-01",
                "notified_on": "2026-10-02",
            }
        ),
        id="decision-reference-null-byte",
    ),
    pytest.param(appeal_body(grounds="x" * 20_001), id="grounds-too-long"),
    pytest.param(appeal_body(grounds=""), id="grounds-empty"),
    pytest.param(appeal_body(external_reference="x" * 100_000), id="reference-very-long"),
    pytest.param(appeal_body(external_reference="SAK 1"), id="reference-with-space"),
    pytest.param(appeal_body(external_reference="SAK-\u0000"), id="external-reference-null-byte"),
    pytest.param(appeal_body(external_reference="SAK-æøå"), id="reference-not-ascii"),
    pytest.param(appeal_body(received_on="2026-02-30"), id="impossible-date"),
    pytest.param(appeal_body(received_on=10**30), id="huge-timestamp"),
    pytest.param(appeal_body(received_on="0000-01-01"), id="year-zero"),
    pytest.param(appeal_body(received_on="+002026-10-15"), id="expanded-year"),
    pytest.param(appeal_body(channel="DIGITAL"), id="channel-upper-case"),
    pytest.param(appeal_body(channel=["digital"]), id="channel-list"),
    pytest.param(appeal_body(channel=None), id="channel-null"),
    pytest.param(appeal_body(decision=[]), id="decision-list"),
    pytest.param(appeal_body(decision={"reference": {"$ne": 1}}), id="decision-operator"),
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
async def test_hostile_input_is_refused_never_crashes(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, body: Any
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()

    response = await client.post("/v1/appeals", content=content, headers={**auth(), **JSON})

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in {"malformed_json", "validation_failed"}
    await assert_nothing_stored(session)


async def test_unicode_text_is_stored_and_returned_intact(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    grounds = "Vedtaket er feil: æøå ÆØÅ, ǅ, e\u0301, עברית, 👩‍👩‍👧, \u200b\ufeff slutt."

    created = await client.post("/v1/appeals", json=appeal_body(grounds=grounds), headers=auth())
    read = await client.get(f"/v1/appeals/{created.json()['id']}", headers=auth())

    assert created.status_code == 201, created.text
    assert read.json()["grounds"] == grounds


# A client that goes away


def _upload_counts(app: FastAPI) -> Counter[str]:
    """The uploads the app's metrics have counted so far, by status."""
    counts: Counter[str] = Counter()
    for metric in app.state.metrics.registry.collect():
        if metric.name != "klageapi_http_requests":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total") and (
                sample.labels.get("route") == "/v1/appeals/{appeal_id}/documents"
            ):
                counts[sample.labels["status"]] += int(sample.value)
    return counts


async def test_an_abandoned_upload_is_no_server_error(
    app: FastAPI,
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    capture_logs: Callable[[], LogReader],
) -> None:
    registered = await client.post("/v1/appeals", json=appeal_body(), headers=auth())
    headers = {**auth(), "content-type": "application/pdf", "content-length": "100000"}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "server": ("klageapi.test", 80),
        "path": f"/v1/appeals/{registered.json()['id']}/documents",
        "raw_path": f"/v1/appeals/{registered.json()['id']}/documents".encode(),
        "query_string": b"category=appeal&title=Klage",
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
    }
    # The first 9 KB of the file, then the client hangs up.
    messages = [
        {"type": "http.request", "body": b"%PDF-1.7\n" + b"x" * 9000, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if len(messages) > 1 else messages[0]

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    log_records = capture_logs()
    counted_before = _upload_counts(app)  # the app and its metrics are shared by the run's tests

    await app(scope, receive, send)

    records = log_records()
    crashes = [r["exception"] for r in records if r["event"] == "unhandled_exception"]
    assert crashes == []
    access = [r for r in records if r["event"] == "request"]
    assert [(r["status"], r["route"]) for r in access] == [
        (499, "/v1/appeals/{appeal_id}/documents")
    ]
    assert _upload_counts(app) - counted_before == Counter({"499": 1})
    assert await count(session, Document) == 0
