"""One signed POST against a real receiver on loopback: what the dispatcher and the ping use."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

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
