"""Reading a bus request as its type (shared/schema/*_requests.py).

A request that does not fit its Struct is refused with one code, `invalid`, and
msgspec's message, which names the field (`Expected `int`, got `str` - at
`$.limit``, `Object missing required field `seq``). What a type cannot say (a
placeholder id, a time) is checked by the Struct's `check()` (with `check_ids` /
`check_times`), whose ValueError names the field too. `check` is not
`__post_init__` on purpose: an asker builds the Struct without the server's checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from shared.errors import PermanentError
from shared.events import parse_time
from shared.identifiers import illegal_id_reason

T = TypeVar("T")


def read_request(raw: Any, shape: type[T], *, lax: bool = False) -> T:
    """`raw` as `shape`, or PermanentError `invalid`. `lax`: numbers may come as strings."""
    if not isinstance(raw, dict):
        raise PermanentError("request must be a JSON object", code="invalid")
    try:
        request = msgspec.convert(raw, shape, strict=not lax)
        if (check := getattr(request, "check", None)) is not None:
            check()
        return request
    except (msgspec.ValidationError, ValueError) as exc:
        raise PermanentError(str(exc), code="invalid") from exc


def checked_id(name: str, value: str) -> str:
    """An id trimmed, or ValueError naming the field (a placeholder like `undefined`)."""
    if (reason := illegal_id_reason(value)) is not None:
        raise ValueError(f"{name} {reason}")
    return value.strip()


def check_ids(request: msgspec.Struct, names: Iterable[str]) -> None:
    """Trim each named id field that is set; refuse a blank or placeholder one."""
    for name in names:
        value = getattr(request, name)
        if isinstance(value, str):
            setattr(request, name, checked_id(name, value))


def check_times(request: msgspec.Struct, names: Iterable[str]) -> None:
    """Each named field that is set must be an ISO-8601 time (shared.events.parse_time)."""
    for name in names:
        value = getattr(request, name)
        if value is not None and parse_time(value) is None:
            raise ValueError(f"{name} must be an ISO-8601 time")
