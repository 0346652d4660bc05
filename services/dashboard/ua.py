"""A short 'Browser on OS' for the profile sidebar, from the fields identity parsed.

Identity parses each user agent once (services/identity/enrich.py) and stores its browser,
OS and device class on the visitor; the dashboard only renders them.
"""

from __future__ import annotations

from typing import Any


def describe(visitor: dict[str, Any] | None) -> str:
    if not visitor:
        return ""
    browser, system = visitor.get("browser") or "", visitor.get("os") or ""
    if browser and system:
        text = f"{browser} on {system}"
    else:
        text = browser or system or (visitor.get("user_agent") or "")[:60]
    if text and visitor.get("device") in ("tablet", "mobile"):
        text += f" ({visitor['device']})"
    return text
