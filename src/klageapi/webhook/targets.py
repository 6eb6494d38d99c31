"""The SSRF guard: a webhook goes only to public addresses, unless the operators allow more.

A target's name is resolved before every attempt, each address checked, and the request sent to
the checked address (with the original name as Host and TLS server name), so a name that
resolves differently a moment later (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from klageapi.core.errors import FieldError, ValidationFailed

__all__ = ["Network", "RefusedTarget", "Target", "resolve"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedTarget(ValidationFailed):
    code = "webhook_target_refused"

    def __init__(self, reason: str) -> None:
        super().__init__([FieldError("url", reason, "webhook_target_refused")])
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """Where to send: the URL with its host replaced by a checked address."""

    url: str
    host_header: str
    server_name: str | None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _refused(address: IPAddress, allowed: Sequence[Network]) -> bool:
    if any(address in network for network in allowed):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        inside = _ipv4_inside(address)
        if inside:
            return any(_refused(ipv4, allowed) for ipv4 in inside)
    # is_global is false for private, loopback, link-local (and so the cloud metadata address
    # 169.254.169.254), CGNAT (100.64.0.0/10), documentation and reserved ranges.
    return not address.is_global or address.is_multicast


def _ipv4_inside(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to, by which it is judged: the IPv4-mapped and
    -compatible forms, 6to4, Teredo (server and client) and NAT64 (RFC 6052). Python calls
    64:ff9b::7f00:1, 2002:7f00:1:: and ::127.0.0.1 global, though each reaches 127.0.0.1."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    bits = int(address)
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return [ipaddress.IPv4Address(bits & 0xFFFFFFFF)]
    if address in _NAT64_LOCAL_USE:
        # A network chooses its own prefix length inside the local-use /48: judged by every
        # place RFC 6052 lets the IPv4 address sit (/48, /56, /64, /96), refused if any is not
        # public. Operators who use it list their NAT64 prefix in the allowed networks.
        return [
            ipaddress.IPv4Address((bits >> 64 & 0xFFFF) << 16 | bits >> 40 & 0xFFFF),
            ipaddress.IPv4Address((bits >> 64 & 0xFF) << 24 | bits >> 32 & 0xFFFFFF),
            ipaddress.IPv4Address(bits >> 24 & 0xFFFFFFFF),
            ipaddress.IPv4Address(bits & 0xFFFFFFFF),
        ]
    return []


async def resolve(url: str, *, allowed: Sequence[Network]) -> Target:
    """The checked target of `url`, or RefusedTarget saying why not."""
    # urlsplit drops tabs, CR and LF without a word, so the URL stored would not be the one
    # sent to; no URL holds a control character.
    if any(char < " " or char == "\x7f" for char in url):
        raise RefusedTarget("it is not a valid URL: it holds a control character")
    try:
        # An unbalanced bracket in the host or a port that is no port raise here.
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedTarget("it is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("it must be an http or https URL with a host")
    host = parts.hostname
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except UnicodeError:
            # Not a host name at all (no IDNA form): refused before any lookup.
            raise RefusedTarget(f"the name {host!r} is not a host name") from None
        except OSError:
            raise RefusedTarget(f"the name {host!r} does not resolve") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not addresses:
        raise RefusedTarget(f"the name {host!r} does not resolve")
    for address in addresses:
        if _refused(address, allowed):
            raise RefusedTarget(f"{address} is not a public address")
    chosen = addresses[0]
    netloc = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    if parts.port is not None:
        netloc += f":{parts.port}"
    host_header = parts.netloc.rpartition("@")[2]
    checked = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    try:
        # The sender's client refuses what it cannot put on the wire (control characters,
        # lone surrogates): refuse it here, where both the ping and the dispatcher look.
        httpx.URL(checked)
    except (httpx.InvalidURL, UnicodeError):
        raise RefusedTarget("it is not a valid URL") from None
    return Target(
        url=checked,
        host_header=host_header,
        server_name=host if parts.scheme == "https" and literal is None else None,
    )
