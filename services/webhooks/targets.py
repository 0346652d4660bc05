"""Where a delivery may go: an http(s) URL of bounded length, and never (unless
`PARLEY_WEBHOOKS_ALLOW_PRIVATE`) a private, loopback, link-local or otherwise special
address: no SSRF into the operator's network.

The check runs at send time, on the addresses the host resolves to right then: every
address must pass, and the connection goes to those checked addresses (the resolver
below is the connector's only resolver), so a DNS answer cannot change in between."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

MAX_URL = 2000


class RefusedTarget(Exception):
    """The URL or the address it resolves to may not be delivered to (final)."""


def check_url(url: Any) -> str:
    """The URL if its shape is acceptable (registering and sending), else RefusedTarget."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise RefusedTarget(f"url must be 1-{MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("url must be http(s) with a host")
    if parts.username or parts.password:
        raise RefusedTarget("url must not carry credentials")
    if any(c.isspace() for c in url):
        raise RefusedTarget("url must not contain spaces")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise RefusedTarget("url has a malformed port") from exc
    return url


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # `is_global` is False for private, loopback, link-local, shared (100.64/10),
    # documentation and reserved ranges; multicast is refused on its own
    return ip.is_global and not ip.is_multicast


def check_literal(host: str, allow_private: bool) -> None:
    """A host written as an IP address (aiohttp does not resolve those): checked here."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    if not allow_private and not is_public(host.strip("[]")):
        raise RefusedTarget(f"{host} is a private, loopback or link-local address")


class GuardedResolver(AbstractResolver):
    """Resolves like the system does, then refuses the host if any address is not public."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, family=family, flags=socket.AI_ADDRCONFIG
            )
        except socket.gaierror as exc:
            raise OSError(f"cannot resolve {host}: {exc}") from exc
        results: list[ResolveResult] = []
        for fam, _, proto, _, sockaddr in infos:
            address = str(sockaddr[0])
            if not self.allow_private and not is_public(address):
                raise RefusedTarget(f"{host} resolves to {address}, a non-public address")
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": int(sockaddr[1]),
                    "family": fam,
                    "proto": proto,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        if not results:
            raise OSError(f"{host} has no address")
        return results

    async def close(self) -> None:
        return None
