"""Who is really calling: the peer address, or what a trusted proxy says it forwarded.

`X-Forwarded-For` and CDN headers are believed only when the peer is in
`PARLEY_TRUSTED_PROXIES` (addresses or CIDR networks); anyone can send them.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from shared.web import SETTINGS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return tuple(nets)


def _in(address: str, nets: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def from_trusted_proxy(request: web.Request) -> bool:
    nets = _networks(request.app[SETTINGS].trusted_proxies)
    return bool(request.remote and nets and _in(request.remote, nets))


def client_ip(request: web.Request) -> str:
    """The peer, unless it is a trusted proxy: then the nearest untrusted X-Forwarded-For hop."""
    remote = request.remote or "unknown"
    nets = _networks(request.app[SETTINGS].trusted_proxies)
    if not (nets and _in(remote, nets)):
        return remote
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, nets):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote
    return remote
