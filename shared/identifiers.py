"""What counts as a usable id or email, in one place for every edge and the identity service.

The illegal-id list is the union of PostHog's (server side), Mixpanel's (/import)
and Segment's suggested blocklist, from research/identity.md.
"""

from __future__ import annotations

import re

_ILLEGAL_CASE_INSENSITIVE = {
    "anonymous",
    "guest",
    "distinctid",
    "distinct_id",
    "id",
    "not_authenticated",
    "email",
    "undefined",
    "true",
    "false",
    "null",
    "none",
    "nil",
    "<nil>",
    "n/a",
    "na",
    "unknown",
    "anon",
    "nan",
    "[object object]",
    "[]",
    "{}",
    "-1",
    "0",
    "00000000-0000-0000-0000-000000000000",
}
_ZEROS = re.compile(r"^[0-]*$")  # Segment: ids made only of zeros and dashes
MAX_ID_LENGTH = 200

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def illegal_id_reason(value: object) -> str | None:
    """None for a usable id, else why it is refused."""
    if not isinstance(value, str):
        return "must be a string"
    text = value.strip()
    if not text:
        return "is blank"
    if len(text) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    for quote in ("'", '"'):
        if len(text) >= 2 and text[0] == quote and text[-1] == quote:
            text = text[1:-1].strip()
    if text.lower() in _ILLEGAL_CASE_INSENSITIVE or _ZEROS.match(text):
        return f"{value!r} is a placeholder, not an id"
    return None


def is_valid_id(value: object) -> bool:
    return illegal_id_reason(value) is None


def normalize_email(value: object) -> str | None:
    """Trimmed, lower-cased email, or None when it is not a plausible address."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        return None
    return email


def find_email(text: str) -> str | None:
    """The first plausible email written in free text (a chat message)."""
    for match in EMAIL_IN_TEXT.finditer(text or ""):
        email = normalize_email(match.group(0).strip("."))
        if email:
            return email
    return None
