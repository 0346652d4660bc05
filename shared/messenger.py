"""How a workspace's widget looks and speaks: greeting, launcher colour and side, and
per-language overrides of the widget's strings (docs/widget.md, "Messenger").

The dashboard validates with `parse_strings`/`parse_color` before it saves; the
gateway sends `widget_look` in the `welcome` frame. Everything here is plain text:
the widget renders it with textContent only, and markup-looking input is refused so
an admin sees at once that it will not become HTML.
"""

from __future__ import annotations

import re
from typing import Any

# the widget's catalogue keys (services/gateway/widget/lib/i18n.js, `EN`); a unit test
# keeps the two lists equal
STRING_KEYS = (
    "greeting", "away", "online_one", "online_many", "online", "replies_minutes",
    "replies_hour", "replies_day", "title", "open", "hide", "close", "placeholder", "send",
    "sending", "sent", "seen", "not_sent", "retry", "connecting", "offline", "unavailable",
    "expired", "back", "resolved", "typing", "someone", "support", "via_email", "unread",
    "log_label", "message_label", "email_label", "email_ask", "email_wait", "email_away",
    "email_where", "notify", "email_confirm", "email_change", "too_long", "not_sent_why",
    "bad_email", "slow_down", "offline_try", "busy", "now", "min", "hour", "day",
    "your_conversations", "a_conversation", "rate_question", "rate_star", "rate_comment",
    "rate_send", "rate_thanks", "rate_failed", "new_conversation",
)  # fmt: skip
SHIPPED = ("en", "fr", "de", "es", "pt")
RTL = ("ar", "he")
LANGUAGES = SHIPPED + RTL
MAX_STRING = 300
MAX_GREETING = 300
POSITIONS = ("right", "left")
DEFAULT_COLOR = "#1f5fd6"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MARKUP = re.compile(r"<[a-zA-Z/!]|&[a-zA-Z#][a-zA-Z0-9]*;")


class Invalid(ValueError):
    """What is wrong, in words for the settings page."""


def plain(text: str, limit: int, what: str) -> str:
    value = text.strip()
    if len(value) > limit:
        raise Invalid(f"{what}: at most {limit} characters.")
    if _CONTROL.search(value):
        raise Invalid(f"{what}: control characters are not allowed.")
    if _MARKUP.search(value):
        raise Invalid(f"{what}: plain text only (no HTML tags or entities).")
    return value


def parse_color(raw: str) -> str:
    value = raw.strip()
    if not _COLOR.match(value):
        raise Invalid("Launcher colour: a colour like #1f5fd6.")
    return value.lower()


def parse_strings(lang: str, text: str) -> dict[str, str]:
    """`key = text` lines for one language; blank lines are skipped."""
    if lang not in LANGUAGES:
        raise Invalid(f"Unknown language {lang!r}.")
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or key not in STRING_KEYS:
            raise Invalid(f"{lang}, line {number}: {key[:40]!r} is not a widget string key.")
        out[key] = plain(value, MAX_STRING, f"{lang}, {key}")
    if len(out) > len(STRING_KEYS):
        raise Invalid(f"{lang}: too many strings.")
    return out


def strings_text(strings: dict[str, str]) -> str:
    """The settings form's textarea for one language (the inverse of `parse_strings`)."""
    return "\n".join(f"{k} = {v}" for k, v in strings.items())


def text_on(color: str) -> str:
    """Black or white text, whichever contrasts more with `color` (WCAG luminance)."""
    if not _COLOR.match(color):
        return "#ffffff"

    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#ffffff" if (1.05 / (lum + 0.05)) >= ((lum + 0.05) / 0.05) else "#000000"


def widget_look(
    greeting: str, color: str, position: str, strings: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """The `look` of the welcome frame."""
    return {
        "greeting": greeting or None,
        "color": color if _COLOR.match(color) else DEFAULT_COLOR,
        "text_color": text_on(color),
        "position": position if position in POSITIONS else "right",
        "strings": {k: v for k, v in strings.items() if k in LANGUAGES},
    }
