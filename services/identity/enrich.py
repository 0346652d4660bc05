"""What an event's context says about the device: location, browser, where the visit came from."""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("parley.identity.enrich")

MAX_UA = 512


class GeoIP:
    """Country, region and city from a MaxMind-format database (GEOIP_DB); off without one."""

    def __init__(self, path: str | None) -> None:
        self._reader = None
        if path:
            import geoip2.database

            try:
                self._reader = geoip2.database.Reader(path)
            except (OSError, ValueError) as exc:
                log.warning("GeoIP database %s not usable: %s", path, exc)

    def lookup(self, ip: object) -> dict[str, str | None] | None:
        if self._reader is None or not isinstance(ip, str):
            return None
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return None
        if address.is_private or address.is_loopback or address.is_unspecified:
            return None
        try:
            found = self._reader.city(str(address))
        except Exception:  # noqa: BLE001 - not in the database or a record of another type
            return None
        geo = {
            "country_code": found.country.iso_code,
            "region": found.subdivisions.most_specific.iso_code,
            "city": found.city.name,
        }
        return geo if any(geo.values()) else None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


def _text(value: object, limit: int = 100) -> str | None:
    return value.strip()[:limit] or None if isinstance(value, str) else None


def geo_from_context(context: dict[str, Any], geoip: GeoIP) -> dict[str, str | None] | None:
    """CDN headers the edge trusted (context.geo) win; else the database by context.ip."""
    given = context.get("geo")
    if isinstance(given, dict):
        geo = {
            "country_code": (_text(given.get("country_code"), 2) or "").upper() or None,
            "region": _text(given.get("region")),
            "city": _text(given.get("city")),
        }
        if geo["country_code"] and re.fullmatch(r"[A-Z]{2}", geo["country_code"]):
            if geo["country_code"] in ("XX", "T1"):  # Cloudflare: unknown / Tor
                geo["country_code"] = None
            return geo if any(geo.values()) else None
    return geoip.lookup(context.get("ip"))


def host_of(url: object) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return None
    try:
        host = urlsplit(url.strip()[:2048]).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def referring_domain(referrer: object, page_url: object, own_hosts: set[str]) -> str | None:
    """The referrer's domain, unless it is the site itself (a click inside the site)."""
    ref = host_of(referrer)
    if not ref:
        return None
    page = host_of(page_url)
    if ref == page or ref in own_hosts:
        return None
    return ref


_BROWSERS = (
    ("Edge", r"Edg(?:e|A|iOS)?/([\d.]+)"),
    ("Opera", r"(?:OPR|Opera)/([\d.]+)"),
    ("Samsung Internet", r"SamsungBrowser/([\d.]+)"),
    ("Firefox", r"(?:Firefox|FxiOS)/([\d.]+)"),
    ("Chrome", r"(?:Chrome|CriOS)/([\d.]+)"),
    ("Safari", r"Version/([\d.]+).*Safari/"),
)
_OSES = (
    ("iOS", r"iPhone|iPad|iPod"),
    ("Android", r"Android"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X|Macintosh"),
    ("ChromeOS", r"CrOS"),
    ("Linux", r"Linux"),
)
_BOTS = re.compile(r"bot|crawler|spider|slurp|headless|curl|wget|python-requests|analytics-", re.I)


def parse_user_agent(ua: object) -> dict[str, str | None] | None:
    """Browser (with major version), OS and device class; a small table, no guessing beyond it."""
    if not isinstance(ua, str) or not ua.strip():
        return None
    ua = ua[:MAX_UA]
    browser = None
    for name, pattern in _BROWSERS:
        if match := re.search(pattern, ua):
            browser = f"{name} {match.group(1).split('.')[0]}"
            break
    os_name = next((name for name, pattern in _OSES if re.search(pattern, ua)), None)
    if _BOTS.search(ua):
        device = "bot"
    elif re.search(r"iPad|Tablet", ua) or ("Android" in ua and "Mobile" not in ua):
        device = "tablet"
    elif re.search(r"Mobi|iPhone|iPod", ua):
        device = "mobile"
    else:
        device = "desktop"
    return {"browser": browser, "os": os_name, "device": device}
