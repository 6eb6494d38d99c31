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


def _refused(address: IPAddress, allowed: Sequence[Network]) -> bool:
    if any(address in network for network in allowed):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _refused(address.ipv4_mapped, allowed)
    # is_global is false for private, loopback, link-local (and so the cloud metadata address
    # 169.254.169.254), CGNAT (100.64.0.0/10), documentation and reserved ranges.
    return not address.is_global or address.is_multicast


async def resolve(url: str, *, allowed: Sequence[Network]) -> Target:
    """The checked target of `url`, or RefusedTarget saying why not."""
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
