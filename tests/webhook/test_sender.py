"""One signed POST against a real receiver on loopback: what the dispatcher and the ping use."""

from __future__ import annotations

import datetime as dt
import ipaddress

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st

from klageapi.webhook import sender
from tests.webhook.conftest import Answer, Receiver

_LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def _post(client: httpx.AsyncClient, receiver: Receiver, index: int) -> sender.Outcome:
    return await sender.send(
        client,
        url=receiver.url,
        secrets=[_SECRET],
        message_id=f"msg_{index}",
        body=b'{"type":"test"}',
        timeout_seconds=5,
        allowed=_LOOPBACK,
    )


@pytest.mark.parametrize(
    "answer",
    [Answer(status=204), Answer(status=200), Answer(status=200, body=b"ok")],
    ids=["204", "200 empty", "200 with a body"],
)
async def test_deliveries_keep_one_connection_open(receiver: Receiver, answer: Answer) -> None:
    receiver.default = answer
    async with httpx.AsyncClient() as client:
        outcomes = [await _post(client, receiver, index) for index in range(3)]

    assert all(outcome.delivered for outcome in outcomes)
    assert len({r.peer for r in receiver.received}) == 1


async def test_a_long_answer_is_kept_to_its_first_two_kilobytes(receiver: Receiver) -> None:
    receiver.default = Answer(status=500, body=b"x" * 100_000)
    async with httpx.AsyncClient() as client:
        outcome = await _post(client, receiver, 1)

    assert outcome.status_code == 500
    assert outcome.response_excerpt == "x" * sender.EXCERPT_BYTES


_NOW = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)


@hypothesis.given(
    value=st.one_of(
        st.text(alphabet="0123456789²³¹¼½٣ ", max_size=20),
        st.integers(min_value=300, max_value=6_000).map(lambda digits: "9" * digits),
        st.text(max_size=40),
    )
)
@hypothesis.example(value="²")
@hypothesis.example(value="9" * 5000)
def test_any_retry_after_a_receiver_sends_is_a_finite_delay_or_none(value: str) -> None:
    delay = sender._retry_after(value, _NOW)

    assert delay is None or 0 <= delay <= sender.RETRY_AFTER_LONGEST_READ
    if delay is not None:
        dt.timedelta(seconds=delay)  # usable as a delay: no OverflowError


def test_retry_after_in_seconds_and_as_a_date_is_read() -> None:
    assert sender._retry_after(" 120 ", _NOW) == 120.0
    assert sender._retry_after("Mon, 02 Nov 2026 09:31:00 GMT", _NOW) == 60.0
