"""Fuzzing by class: generators for the inputs a contract fuzzer does not draw, sent to every
operation of the committed OpenAPI document over ASGI. Each class once gave a 500:

- header values of odd Unicode (digits Python's str.isdigit() admits but int() refuses,
  superscripts, fractions, any latin-1 text, thousands of digits) in every header the API reads
  by hand (If-Match, If-None-Match, Range, Content-Digest, Accept-Language, Idempotency-Key,
  X-Request-ID);
- date-times valid in RFC 3339 that leave the calendar once converted to UTC (year 1 at
  +14:00, year 9999 at -14:00), in every date-time body field and query parameter;
- JSON nested deeper than the parser descends, in every body (with or without a body of the
  operation's own, with an Idempotency-Key) and inside a bearer token's header and payload;
- a query parameter of one value given more than once (a contract fuzzer's "object in the
  query", sent as repeated keys): 422, never the last value taken as if it were the only one.

Every answer must be below 500, and every 4xx an RFC 9457 problem document.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st

from tests.conftest import NAV_STAVANGER_ORG
from tests.journey import pdf, register, upload

AuthHeaders = Callable[..., dict[str, str]]
Operation = tuple[str, str, dict[str, Any]]

OPENAPI_DOCUMENT = Path(__file__).parents[2] / "openapi" / "openapi.json"
EVERY_SCOPE = "klageapi:read klageapi:write klageapi:admin"
PROBLEM_JSON = "application/problem+json"

_PROPERTY = hypothesis.settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)


@functools.cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI_DOCUMENT.read_text())
    return document


@functools.cache
def _operations() -> list[Operation]:
    return [
        (method.upper(), path, operation)
        for path, operations in _document()["paths"].items()
        for method, operation in operations.items()
    ]


def _is_date_time(schema: dict[str, Any]) -> bool:
    return schema.get("format") == "date-time" or any(
        _is_date_time(option) for option in schema.get("anyOf", [])
    )


def _body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None:
        return None
    schema: dict[str, Any] = _document()["components"]["schemas"][
        body["schema"]["$ref"].rsplit("/", 1)[-1]
    ]
    return schema


@functools.cache
def _date_time_inputs() -> list[tuple[Operation, str, str]]:
    """(operation, "query" or "body", name) of every date-time the contract accepts."""
    found = []
    for method, path, operation in _operations():
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and _is_date_time(parameter["schema"]):
                found.append(((method, path, operation), "query", parameter["name"]))
        schema = _body_schema(operation) or {}
        for name, field in schema.get("properties", {}).items():
            if _is_date_time(field):
                found.append(((method, path, operation), "body", name))
    return found


def _query_parameters() -> list[tuple[Operation, str, bool]]:
    """(operation, name, takes several values) of every query parameter the contract declares."""
    return [
        ((method, path, operation), parameter["name"], _is_array(parameter["schema"]))
        for method, path, operation in _operations()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]


def _is_array(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array" or any(
        _is_array(option) for option in schema.get("anyOf", [])
    )


# --- the generators ------------------------------------------------------------------------------

# Digits of every kind: ASCII, and those str.isdigit() admits though int() refuses them.
_ODD_DIGITS = "0123456789²³¹¼½¾"
_LATIN_1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
_ODD_TEXT = st.text(alphabet=st.one_of(st.sampled_from(_ODD_DIGITS), _LATIN_1), max_size=40)
_LONG_DIGITS = st.integers(min_value=4_000, max_value=6_000).map(lambda length: "9" * length)

ODD_HEADER_VALUES = st.one_of(
    _ODD_TEXT,
    _LONG_DIGITS,
    st.builds(lambda text: f'"{text}"', _ODD_TEXT),  # an entity tag
    st.builds(lambda text: f'W/"{text}"', _ODD_TEXT),
    st.builds(lambda a, b: f"bytes={a}-{b}", _ODD_TEXT | _LONG_DIGITS, _ODD_TEXT | _LONG_DIGITS),
    st.builds(lambda text: f"sha-256=:{text}:", _ODD_TEXT),
    st.builds(lambda text: f"nb;q={text}, en", _ODD_TEXT | _LONG_DIGITS),
)
"""What a client may put in a header: any latin-1 text, shaped like what the header holds."""

HAND_PARSED_HEADERS = (
    "If-Match",
    "If-None-Match",
    "Range",
    "Content-Digest",
    "Accept-Language",
    "Idempotency-Key",
    "X-Request-ID",
)

_OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
EXTREME_DATE_TIMES = st.builds(
    lambda naive, zone: naive.replace(tzinfo=zone).isoformat(),
    st.one_of(
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(1, 1, 2)),
        st.datetimes(min_value=dt.datetime(9999, 12, 30), max_value=dt.datetime.max),
    ),
    _OFFSETS,
)
"""RFC 3339 date-times at the ends of the calendar, in any time zone."""

NESTED_JSON = st.builds(
    lambda depth, opening, closed: (
        opening * depth + (("]" if opening == "[" else "1}") * depth if closed else "")
    ),
    st.integers(min_value=500, max_value=60_000),
    st.sampled_from(["[", '{"a":']),
    st.booleans(),
)
"""JSON nested deeper than a recursive parser descends: valid (closed) or cut off."""


# --- the world the operations are sent into ------------------------------------------------------


@pytest.fixture
async def path_values(client: httpx.AsyncClient, auth: AuthHeaders) -> dict[str, str]:
    """Ids that exist, so that a request reaches past its 404 to what parses the input."""
    appeal = await register(client, auth)
    await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())
    document = await upload(client, auth, appeal["id"], category="appeal", data=pdf(300))
    return {
        "appeal_id": appeal["id"],
        "document_id": document["id"],
        "unit_number": "1103",
        "office_id": "sf-rogaland",
        "county": "11",
    }


# Bodies that pass validation, for the operations that read a header only after it.
_VALID_BODIES: dict[str, dict[str, Any]] = {
    "record_nav_outcome": {"outcome": "upheld", "decided_on": "2026-10-30", "reasoning": "Ja."},
}


def _url(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([a-z_]+)\}", lambda m: values.get(m.group(1), str(uuid.uuid4())), path)


def _assert_answered(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM_JSON, response.text
        assert "code" in response.json()


async def _send(
    client: httpx.AsyncClient,
    operation: Operation,
    values: dict[str, str],
    *,
    headers: dict[str, Any],
    content: bytes | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    method, path, _ = operation
    if content is not None:
        headers = {"Content-Type": "application/json", **headers}
    return await client.request(
        method, _url(path, values), headers=headers, content=content, params=params
    )


# --- the properties ------------------------------------------------------------------------------


@_PROPERTY
@hypothesis.given(
    operation=st.sampled_from(_operations()),
    header=st.sampled_from(HAND_PARSED_HEADERS),
    value=ODD_HEADER_VALUES,
)
@hypothesis.example(
    operation=next(op for op in _operations() if op[2].get("operationId") == "record_nav_outcome"),
    header="If-Match",
    value='"²"',
)
async def test_odd_unicode_in_any_header_read_by_hand_is_never_a_500(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    path_values: dict[str, str],
    operation: Operation,
    header: str,
    value: str,
) -> None:
    headers = {**auth(scope=EVERY_SCOPE), header: value.strip().encode("latin-1")}
    operation_id = operation[2].get("operationId")
    params = None
    if operation_id == "upload_document":  # valid but for the header: the header is read
        headers["Content-Type"] = "application/pdf"
        params = {"category": "supporting_document", "title": "Vedlegg"}
        body: bytes | None = pdf(300)
    elif _body_schema(operation[2]) is not None:
        body = json.dumps(_VALID_BODIES.get(operation_id, {})).encode()
        headers["Content-Type"] = "application/json"
    else:
        body = None

    response = await _send(
        client, operation, path_values, headers=headers, content=body, params=params
    )

    _assert_answered(response)


@_PROPERTY
@hypothesis.given(data=st.data(), value=EXTREME_DATE_TIMES)
async def test_a_date_time_at_the_ends_of_the_calendar_is_never_a_500(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    path_values: dict[str, str],
    data: st.DataObject,
    value: str,
) -> None:
    operation, where, name = data.draw(st.sampled_from(_date_time_inputs()), label="input")
    headers = auth(scope=EVERY_SCOPE)

    response = await _send(
        client,
        operation,
        path_values,
        headers=headers,
        content=json.dumps({name: value}).encode() if where == "body" else None,
        params={name: value} if where == "query" else None,
    )

    _assert_answered(response)


@_PROPERTY
@hypothesis.given(
    operation=st.sampled_from([op for op in _operations() if op[0] != "GET"]),
    nested=NESTED_JSON,
    keyed=st.booleans(),
)
async def test_deeply_nested_json_in_any_body_is_never_a_500(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    path_values: dict[str, str],
    operation: Operation,
    nested: str,
    keyed: bool,
) -> None:
    headers = auth(scope=EVERY_SCOPE)
    if keyed:
        headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4()}"

    response = await _send(client, operation, path_values, headers=headers, content=nested.encode())

    _assert_answered(response)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@_PROPERTY
@hypothesis.given(
    operation=st.sampled_from(_operations()),
    nested=NESTED_JSON.filter(lambda text: len(text) < 11_000),
    part=st.sampled_from(["header", "payload"]),
)
async def test_deeply_nested_json_in_a_bearer_token_is_401(
    client: httpx.AsyncClient,
    path_values: dict[str, str],
    operation: Operation,
    nested: str,
    part: str,
) -> None:
    if not operation[2].get("security"):
        hypothesis.assume(False)  # a public route reads no token
    header = _b64(nested) if part == "header" else _b64('{"alg":"RS256"}')
    payload = (
        _b64(nested) if part == "payload" else _b64(f'{{"iss":"x","sub":"{NAV_STAVANGER_ORG}"}}')
    )

    response = await _send(
        client, operation, path_values, headers={"Authorization": f"Bearer {header}.{payload}.c2ln"}
    )

    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthenticated"


@_PROPERTY
@hypothesis.given(
    data=st.data(), values=st.lists(st.text(_LATIN_1, max_size=12), min_size=2, max_size=4)
)
async def test_a_query_parameter_of_one_value_given_twice_is_422(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    path_values: dict[str, str],
    data: st.DataObject,
    values: list[str],
) -> None:
    single = [(op, name) for op, name, several in _query_parameters() if not several]
    operation, name = data.draw(st.sampled_from(single), label="parameter")
    method, path, _ = operation

    response = await client.request(
        method,
        _url(path, path_values),
        headers=auth(scope=EVERY_SCOPE),
        params=[(name, value) for value in values],
    )

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"] == [
        {"field": name, "message": "is given more than once; give it once", "type": "repeated"}
    ]


async def test_a_query_parameter_of_several_values_may_be_repeated(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    several = [(op, name) for op, name, many in _query_parameters() if many]
    assert several, "the contract has list parameters (status, type)"
    examples = {
        "status": ["received", "under_nav_review"],
        "type": ["appeal.received", "package.forwarded"],
        "state": ["failing", "disabled"],
    }
    for (method, path, _), name in several:
        response = await client.request(
            # Every scope: the list of failing subscriptions is an administrator's.
            method,
            path,
            headers=auth(scope=EVERY_SCOPE),
            params=[(name, v) for v in examples[name]],
        )
        assert response.status_code == 200, (path, response.text)


async def test_an_upload_with_a_repeated_title_stores_nothing(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)
    await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/documents",
        params=[("category", "appeal"), ("title", "Klage"), ("title", "Noe annet")],
        headers={**auth(), "Content-Type": "application/pdf"},
        content=pdf(300),
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "title"
    listed = await client.get(f"/v1/appeals/{appeal['id']}/documents", headers=auth())
    assert listed.json()["items"] == []
