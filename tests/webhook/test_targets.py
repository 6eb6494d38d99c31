"""The SSRF guard, and the sender's use of it before every attempt."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st

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


# --- IPv6 addresses that reach an IPv4 address -------------------------------------------------

# The IPv4 addresses (private, loopback, link-local, CGNAT, this network) an IPv6 address may
# lead to: through NAT64 (the well-known /96 and the local-use /48), 6to4, the IPv4-compatible
# and IPv4-mapped forms, and Teredo (its server and its client).
_PRIVATE_V4 = st.sampled_from(
    ["127.0.0.1", "10.0.0.5", "172.16.3.4", "192.168.1.1", "169.254.169.254", "100.64.12.1"]
).map(ipaddress.IPv4Address)
_PUBLIC_V4 = st.just(ipaddress.IPv4Address("93.184.215.14"))


def _nat64(v4: ipaddress.IPv4Address) -> str:
    return str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(v4)))


def _nat64_local_96(v4: ipaddress.IPv4Address) -> str:
    return str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b:1::")) | int(v4)))


def _nat64_local_48(v4: ipaddress.IPv4Address) -> str:
    # RFC 6052 section 2.2 with a /48 prefix: 16 bits of the IPv4 address, the u octet, 16 more.
    high, low = int(v4) >> 16, int(v4) & 0xFFFF
    return str(
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b:1::")) | high << 64 | low << 40)
    )


def _sixtofour(v4: ipaddress.IPv4Address) -> str:
    return str(ipaddress.IPv6Address(0x2002 << 112 | int(v4) << 80 | 1))


def _compatible(v4: ipaddress.IPv4Address) -> str:
    return f"::{v4}"


def _mapped(v4: ipaddress.IPv4Address) -> str:
    return f"::ffff:{v4}"


def _teredo_client(v4: ipaddress.IPv4Address) -> str:
    server = int(ipaddress.IPv4Address("93.184.215.14"))
    return str(
        ipaddress.IPv6Address(0x20010000 << 96 | server << 64 | 0x8000 << 48 | 0xFFFFFFFF ^ int(v4))
    )


_EMBEDDINGS = st.sampled_from(
    [_nat64, _nat64_local_96, _nat64_local_48, _sixtofour, _compatible, _mapped, _teredo_client]
)


@hypothesis.given(embed=_EMBEDDINGS, v4=_PRIVATE_V4)
async def test_an_ipv6_address_reaching_a_private_ipv4_address_is_refused(
    embed: Callable[[ipaddress.IPv4Address], str], v4: ipaddress.IPv4Address
) -> None:
    address = embed(v4)

    with pytest.raises(RefusedTarget, match="not a public address"):
        await resolve(f"http://[{address}]/hooks", allowed=[])


@hypothesis.given(embed=st.sampled_from([_nat64, _sixtofour, _compatible]), v4=_PUBLIC_V4)
async def test_an_ipv6_address_reaching_a_public_ipv4_address_is_judged_by_it(
    embed: Callable[[ipaddress.IPv4Address], str], v4: ipaddress.IPv4Address
) -> None:
    address = ipaddress.IPv6Address(embed(v4))

    target = await resolve(f"https://[{address}]/hooks", allowed=[])

    assert target.url == f"https://[{address}]/hooks"


async def test_an_allowed_ipv4_network_admits_its_addresses_behind_nat64() -> None:
    target = await resolve("http://[64:ff9b::7f00:1]:9999/hooks", allowed=LOOPBACK)

    assert target.url == "http://[64:ff9b::7f00:1]:9999/hooks"


_CONTROL = st.sampled_from([chr(code) for code in range(0x20)] + ["\x7f"])


@hypothesis.given(control=_CONTROL, where=st.integers(min_value=0, max_value=31))
async def test_a_url_with_a_control_character_anywhere_is_refused(control: str, where: int) -> None:
    url = "http://127.0.0.1:9999/hooks?x=1"
    spoiled = url[:where] + control + url[where:]

    with pytest.raises(RefusedTarget, match="not a"):
        await resolve(spoiled, allowed=LOOPBACK)
