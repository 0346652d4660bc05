"""The page cursor every paged list hands out: a short list of JSON values, base64url.

Opaque to clients; each store decides what the values are and checks them on the way
back in (`decode` only promises a list).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

MAX_LENGTH = 300


def encode(values: list[Any]) -> str:
    data = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode(cursor: object) -> list[Any]:
    """The values `encode` was given; ValueError for anything it did not make."""
    if not isinstance(cursor, str) or len(cursor) > MAX_LENGTH:
        raise ValueError("not a cursor")
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not a cursor") from exc
    if not isinstance(values, list):
        raise ValueError("not a cursor")
    return values
