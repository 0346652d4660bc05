"""Canned replies' placeholders: `{{first_name}}` and kin filled from the person's profile.

The same rules as the composer's (static/live.js, fillPlaceholders), for the reply form
without scripts. Text in, text out: the values are never parsed, and the message is
escaped wherever it is shown."""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*(?:\|([^{}]*))?\}\}")


def values_of(profile: dict[str, Any] | None, agent: dict[str, Any]) -> dict[str, str]:
    """What each placeholder stands for, for this person and the agent replying."""
    p = profile or {}
    name = str(p.get("name") or "").strip()
    traits = p.get("traits")
    if not isinstance(traits, dict):
        traits = {}
    first = str(traits.get("first_name") or "").strip() or (name.split() or [""])[0]
    return {
        "name": name,
        "first_name": first,
        "email": str(p.get("email") or ""),
        "user_id": str(p.get("user_id") or ""),
        "agent_name": str(agent.get("name") or ""),
    }


def fill(text: str, values: dict[str, str]) -> str:
    """Each known placeholder replaced by its value, else its `|fallback`; others as written."""

    def one(match: re.Match[str]) -> str:
        key, fallback = match.group(1), match.group(2)
        if key not in values:
            return match.group(0)
        return values[key] or (fallback or "").strip()

    return PLACEHOLDER.sub(one, text)
