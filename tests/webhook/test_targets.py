"""The SSRF guard, and the sender's use of it before every attempt."""

from __future__ import annotations

import datetime as dt
import ipaddress

import httpx
import pytest

from klageapi.webhook import sender
from klageapi.webhook.targets import RefusedTarget, resolve
from tests.webhook.conftest import Receiver

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hooks",
        "http://localhost:8080/hooks",
        "http://10.0.0.5/",
        "http://172.16.3.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.12.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://239.255.255.250/",
        "http://0.0.0.0/",
        "gopher://example.no/",
        "http:///no-host",
    ],
)
async def test_non_public_and_odd_targets_are_refused(url: str) -> None:
    with pytest.raises(RefusedTarget):
        await resolve(url, allowed=[])


@pytest.mark.parametrize(
    "url",
    [
        "http://u]x/hooks",
        "http://[::1/hooks",
        "http://127.0.0.1:99999/hooks",
        "http://127.0.0.1:port/hooks",
        "http://\udb8a\u0087/hooks",
        "http://127.0.0.1/hooks\x07",
        "http://127.0.0.1/\udb8a",
    ],
)
async def test_a_url_that_is_no_url_is_refused_not_raised(url: str) -> None:
    # Found by the fuzzer: each of these raised ValueError or httpx.InvalidURL (a 500) instead.
    with pytest.raises(RefusedTarget, match="not a"):
        await resolve(url, allowed=LOOPBACK)


async def test_an_allowed_network_may_be_reached() -> None:
    target = await resolve("http://127.0.0.1:9999/hooks?x=1", allowed=LOOPBACK)

    assert target.url == "http://127.0.0.1:9999/hooks?x=1"
    assert target.host_header == "127.0.0.1:9999"


async def test_the_allow_list_covers_only_what_it_names() -> None:
    with pytest.raises(RefusedTarget):
        await resolve("http://10.0.0.1/", allowed=LOOPBACK)


async def test_a_public_address_is_sent_to_as_checked_with_its_name_kept() -> None:
    target = await resolve("https://93.184.215.14/hooks", allowed=[])

    assert target.url == "https://93.184.215.14/hooks"
    assert target.server_name is None


async def test_the_sender_checks_again_before_each_attempt(receiver: Receiver) -> None:
    async with httpx.AsyncClient() as client:
        outcome = await sender.send(
            client,
            url=receiver.url,
            secrets=["whsec_" + "A" * 43 + "="],
            message_id="msg_1",
            body=b"{}",
            timeout_seconds=2,
            allowed=[],
        )

    assert not outcome.delivered
    assert outcome.error is not None and outcome.error.startswith("refused")
    assert receiver.received == []


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), ("Mon, 23 Nov 2026 12:00:30 GMT", 30.0), ("soon", None), (None, None)],
)
def test_retry_after_is_read_as_seconds_or_a_date(value: str | None, seconds: float | None) -> None:
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)

    assert sender._retry_after(value, now) == seconds
