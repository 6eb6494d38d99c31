"""Personal data never reaches the logs: the access log names route templates, not paths, and
the last line of defence redacts anything that looks like a national id."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from klageapi.core.logging import _redact_national_ids, configure_logging, get_logger
from tests.factories import D_NUMBER, NATIONAL_ID, appeal_body

AuthHeaders = Callable[..., dict[str, str]]
WRONG_NATIONAL_ID = "15076500566"  # NATIONAL_ID with a wrong check digit


class CapturedLogs:
    """What the log handler wrote to the captured stdout since `start`."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self._text = ""

    def start(self, *, json: bool = True) -> None:
        # capsys gives each test phase a fresh stdout: configure inside the test, so the
        # handler writes to the stdout captured now.
        configure_logging(level="INFO", json=json)
        self._capsys.readouterr()

    @property
    def text(self) -> str:
        self._text += self._capsys.readouterr().out
        return self._text

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [record for record in self.records() if record["event"] == event]


def _run_log_stream() -> Any:
    """The stream the run's log handler writes to, to point it back there afterwards."""
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            return handler.stream
    return sys.stdout


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[CapturedLogs]:
    run_stream = _run_log_stream()
    yield CapturedLogs(capsys)
    with contextlib.redirect_stdout(run_stream):
        configure_logging(level="INFO", json=True)


@pytest.fixture
async def crashing_client(new_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a test app of its own with a route that crashes with its path parameter in
    the message, the way a database error quotes the row it choked on."""
    router = APIRouter()

    async def boom(reference: str) -> None:
        raise RuntimeError(f"no row for {reference}")

    router.add_api_route("/boom/{reference}", boom, methods=["GET"])
    new_app.include_router(router)
    transport = httpx.ASGITransport(app=new_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client:
        yield client


# Through the app


async def test_registering_and_reading_an_appeal_logs_no_national_id(
    client: httpx.AsyncClient, auth: AuthHeaders, logs: CapturedLogs
) -> None:
    logs.start()
    body = appeal_body(grounds=f"Min datter ({D_NUMBER}) bor hos meg.")

    created = await client.post("/v1/appeals", json=body, headers=auth())
    read = await client.get(f"/v1/appeals/{created.json()['id']}", headers=auth())

    assert (created.status_code, read.status_code) == (201, 200)
    assert NATIONAL_ID in read.text  # the response carries it; the logs must not
    assert len(logs.events("request")) == 2
    assert NATIONAL_ID not in logs.text
    assert D_NUMBER not in logs.text


async def test_refused_national_id_is_not_logged(
    client: httpx.AsyncClient, auth: AuthHeaders, logs: CapturedLogs
) -> None:
    logs.start()

    response = await client.post(
        "/v1/appeals", json=appeal_body(national_id=WRONG_NATIONAL_ID), headers=auth()
    )

    assert response.status_code == 422
    assert [r["status"] for r in logs.events("request")] == [422]
    assert WRONG_NATIONAL_ID not in logs.text


async def test_access_log_names_route_template_status_and_request_id(
    client: httpx.AsyncClient, auth: AuthHeaders, logs: CapturedLogs
) -> None:
    logs.start()

    created = await client.post("/v1/appeals", json=appeal_body(), headers=auth())
    appeal_id = created.json()["id"]
    read = await client.get(f"/v1/appeals/{appeal_id}", headers=auth())

    access = logs.events("request")
    assert [(r["method"], r["route"], r["status"]) for r in access] == [
        ("POST", "/v1/appeals", 201),
        ("GET", "/v1/appeals/{appeal_id}", 200),
    ]
    assert [r["request_id"] for r in access] == [
        created.headers["x-request-id"],
        read.headers["x-request-id"],
    ]
    for record in access:
        assert record["logger"] == "klageapi.access"
        assert record["level"] == "info"
        assert isinstance(record["duration_ms"], int | float)
        assert record["timestamp"].endswith("Z")
        assert appeal_id not in json.dumps(record)


async def test_request_id_with_eleven_digits_in_a_row_is_logged_whole(
    client: httpx.AsyncClient, logs: CapturedLogs
) -> None:
    # About one generated request id in fifty looks like this.
    request_id = "abc12345678901def0123456789abcde"
    logs.start()

    response = await client.get("/healthz", headers={"x-request-id": request_id})

    assert response.headers["x-request-id"] == request_id
    assert [r["request_id"] for r in logs.events("request")] == [request_id]


async def test_request_id_carrying_a_national_id_is_redacted_in_the_logs(
    client: httpx.AsyncClient, logs: CapturedLogs
) -> None:
    logs.start()

    await client.get("/healthz", headers={"x-request-id": f"case-{NATIONAL_ID}"})

    assert [r["request_id"] for r in logs.events("request")] == ["case-[redacted]"]
    assert NATIONAL_ID not in logs.text


async def test_crash_quoting_a_national_id_is_logged_redacted(
    crashing_client: httpx.AsyncClient, logs: CapturedLogs
) -> None:
    logs.start()

    response = await crashing_client.get(f"/boom/{NATIONAL_ID}")

    assert response.status_code == 500
    crashes = logs.events("unhandled_exception")
    assert len(crashes) == 1
    assert crashes[0]["request_id"] == response.headers["x-request-id"]
    assert crashes[0]["path"] == "/boom/[redacted]"
    assert "RuntimeError: no row for [redacted]" in crashes[0]["exception"]
    assert NATIONAL_ID not in logs.text


# The redaction itself


def test_redaction_processor_redacts_an_exception_text() -> None:
    event = {
        "event": "insert_failed",
        "exception": f'Key (national_id)=({NATIONAL_ID}) violates check "x"',
    }

    redacted = _redact_national_ids(None, "error", event)

    assert redacted == {
        "event": "insert_failed",
        "exception": 'Key (national_id)=([redacted]) violates check "x"',
    }


def test_redaction_processor_redacts_nested_values() -> None:
    event = {"event": "x", "ids": [NATIONAL_ID, (D_NUMBER,)], "row": {"fnr": NATIONAL_ID, "n": 7}}

    redacted = _redact_national_ids(None, "info", event)

    assert redacted == {
        "event": "x",
        "ids": ["[redacted]", ["[redacted]"]],
        "row": {"fnr": "[redacted]", "n": 7},
    }


@dataclass
class _Body:
    national_id: str


@pytest.mark.parametrize(
    "value",
    [int(NATIONAL_ID), float(NATIONAL_ID), NATIONAL_ID.encode(), {NATIONAL_ID}, _Body(NATIONAL_ID)],
    ids=["int", "float", "bytes", "set", "object"],
)
def test_a_national_id_that_is_not_a_string_is_logged_redacted(
    value: object, logs: CapturedLogs
) -> None:
    logs.start()

    get_logger("tests.redaction").info("lookup", value=value)

    [record] = logs.events("lookup")
    assert "[redacted]" in str(record["value"])
    assert NATIONAL_ID not in logs.text


def test_numbers_and_objects_without_a_national_id_are_logged_as_they_are(
    logs: CapturedLogs,
) -> None:
    logs.start()

    get_logger("tests.redaction").info("done", count=3, seconds=0.25, body=_Body("x"), ok=True)

    [record] = logs.events("done")
    assert (record["count"], record["seconds"], record["ok"]) == (3, 0.25, True)
    assert record["body"] == "_Body(national_id='x')"


@pytest.mark.parametrize(
    "text",
    [
        "organisation 977777771",
        "account 12345678901234",
        "phone 4712345678",
        "appeal 8f0c0a1e-1234-4a5b-9c3d-a12345678901",
        "request abc12345678901def0123456789abcde",
    ],
    ids=["organisation-number", "longer-number", "shorter-number", "uuid", "request-id"],
)
def test_redaction_keeps_what_is_not_a_national_id(text: str) -> None:
    assert _redact_national_ids(None, "info", {"event": text}) == {"event": text}


def test_exception_with_a_national_id_in_its_message_is_logged_redacted(
    logs: CapturedLogs,
) -> None:
    logs.start()

    try:
        raise ValueError(f"duplicate key value violates unique constraint: ({NATIONAL_ID})")
    except ValueError:
        get_logger("tests.redaction").exception("insert_failed")

    [record] = logs.events("insert_failed")
    assert (
        "ValueError: duplicate key value violates unique constraint: ([redacted])"
        in (record["exception"])
    )
    assert NATIONAL_ID not in logs.text


def test_structlog_fields_with_a_national_id_are_logged_redacted(logs: CapturedLogs) -> None:
    logs.start()

    get_logger("tests.redaction").info("lookup", national_id=NATIONAL_ID, query={"fnr": D_NUMBER})

    [record] = logs.events("lookup")
    assert (record["national_id"], record["query"]) == ("[redacted]", {"fnr": "[redacted]"})
    assert NATIONAL_ID not in logs.text


def test_standard_library_records_are_logged_redacted(logs: CapturedLogs) -> None:
    logs.start()

    logging.getLogger("sqlalchemy.engine.Engine").error("parameters: ('%s', 3)", NATIONAL_ID)

    [record] = logs.events("parameters: ('[redacted]', 3)")
    assert record["logger"] == "sqlalchemy.engine.Engine"
    assert NATIONAL_ID not in logs.text


def test_console_logs_are_redacted_too(logs: CapturedLogs) -> None:
    logs.start(json=False)

    try:
        raise ValueError(f"no row for {NATIONAL_ID}")
    except ValueError:
        get_logger("tests.redaction").exception("lookup_failed", national_id=D_NUMBER)

    assert "lookup_failed" in logs.text
    assert "[redacted]" in logs.text
    assert NATIONAL_ID not in logs.text
    assert D_NUMBER not in logs.text


async def test_the_access_log_names_the_caller_s_organisation_supplier_and_problem(
    client: httpx.AsyncClient, auth: AuthHeaders, logs: CapturedLogs, make_token: Any
) -> None:
    logs.start()
    vendor = {"authority": "iso6523-actorid-upis", "ID": "0192:910000004"}

    refused = await client.get(
        f"/v1/appeals/{uuid.uuid4()}", headers=auth(scope="klageapi:read", supplier=vendor)
    )
    anonymous = await client.get("/v1/appeals")
    citizen_token = make_token(org=None, pid=NATIONAL_ID, acr="idporten-loa-high")
    citizen = await client.get(
        "/v1/me/appeals",
        headers={"Authorization": f"Bearer {citizen_token}"},
    )
    listed = await client.get("/v1/appeals", headers=auth())

    assert (refused.status_code, anonymous.status_code) == (404, 401)
    assert (citizen.status_code, listed.status_code) == (200, 200)
    lines = logs.events("request")
    assert [
        {key: line.get(key) for key in ("organisation", "supplier", "caller", "problem")}
        for line in lines
    ] == [
        {
            "organisation": "0192:977777771",
            "supplier": "0192:910000004",
            "caller": None,
            "problem": "appeal_not_found",
        },
        {"organisation": None, "supplier": None, "caller": None, "problem": "unauthenticated"},
        {"organisation": None, "supplier": None, "caller": "citizen", "problem": None},
        {"organisation": "0192:977777771", "supplier": None, "caller": None, "problem": None},
    ]
    assert NATIONAL_ID not in logs.text
