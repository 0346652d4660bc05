"""What an event's context says about the device: location, browser, where the visit came from."""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import ua_parser

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


# ua-parser's families, shortened to the names the dashboard shows
_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
}
_OS_NAMES = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS", "Ubuntu": "Linux", "Fedora": "Linux"}
# what ua-parser leaves as a plain desktop but is not a person's browser
_BOTS = re.compile(r"bot|crawler|spider|slurp|headless|curl|wget|python-requests|analytics-", re.I)
_TABLETS = re.compile(r"iPad|Tablet|Kindle|Silk/|PlayBook", re.I)


def parse_user_agent(ua: object) -> dict[str, str | None] | None:
    """Browser (with major version), OS and device class (desktop, tablet, mobile, bot)."""
    if not isinstance(ua, str) or not ua.strip():
        return None
    ua = ua[:MAX_UA]
    parsed = ua_parser.parse(ua)
    browser = None
    if parsed.user_agent is not None and parsed.user_agent.family != "Other":
        name = _BROWSER_NAMES.get(parsed.user_agent.family, parsed.user_agent.family)
        browser = f"{name} {parsed.user_agent.major}" if parsed.user_agent.major else name
    os_name = None
    if parsed.os is not None and parsed.os.family != "Other":
        os_name = _OS_NAMES.get(parsed.os.family, parsed.os.family)
        if os_name == "iOS" and parsed.device is not None and parsed.device.family == "iPad":
            os_name = "iPadOS"
    return {"browser": browser, "os": os_name, "device": _device_class(ua, parsed)}


def _device_class(ua: str, parsed: ua_parser.Result) -> str:
    device = parsed.device
    if (device is not None and device.family == "Spider") or _BOTS.search(ua):
        return "bot"
    brand = (device.brand or "") if device is not None else ""
    # an iPad (iPadOS says "iPad"), or an Android browser without "Mobile" (Google's rule)
    if _TABLETS.search(ua) or "Tablet" in brand or ("Android" in ua and "Mobile" not in ua):
        return "tablet"
    if re.search(r"Mobi|iPhone|iPod|Android", ua):
        return "mobile"
    return "desktop"
