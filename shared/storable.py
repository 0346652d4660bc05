"""Is this parsed JSON something the database can store and give back as strict JSON?

Both edges (the ingest API and the widget socket) check every message with
`check_storable` before answering "accepted", so nothing they take is refused
later by BSON (the identity and chat consumers would dead-letter it) or read
back as invalid JSON. What MongoDB (and SecantusDB) refuse, measured:
- strings that are not valid UTF-8: a lone surrogate (`"\\ud800"`) in a value or a key;
- a NUL character in a key;
- integers outside the signed 64-bit range (BSON has no bigger integer).
What they store but strict JSON cannot carry back: NaN and ±Infinity (Python's
`json` reads the `NaN`/`Infinity` tokens and writes them back bare), refused too.
Keys starting with `$` or containing `.` are stored fine inside documents (trait
names are cleaned by identity anyway), so they pass.

The walk is iterative and bounded by `max_depth`, so a hostile nesting never
reaches the interpreter's recursion limit.
"""

from __future__ import annotations

import math
import re
from typing import Any

from shared.errors import PermanentError

MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_problem(text: str, where: str, *, key: bool) -> PermanentError | None:
    if _SURROGATE.search(text):
        return PermanentError(f"{where} has text that is not valid UTF-8", code="bad_text")
    if key and "\x00" in text:
        return PermanentError(f"{where} has a key with a NUL character", code="bad_text")
    return None


def _scalar_problem(value: Any, where: str) -> PermanentError | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return None
        return PermanentError(f"{where} is an integer outside the 64-bit range", code="bad_number")
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return PermanentError(f"{where} is NaN or Infinity, not a JSON number", code="bad_number")
    if isinstance(value, str):
        return _text_problem(value, where, key=False)
    return PermanentError(f"{where} is not a JSON value", code="bad_type")


def is_clean(value: Any, max_depth: int = MAX_DEPTH) -> bool:
    """True only when `value` is surely storable: the walk every message takes, without the
    paths of `_first_problem` (a string per key, built for the rare refusal). Exact JSON
    types only; anything else (a subclass, a problem) is left to the detailed walk."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str:
            if not item.isascii() and _SURROGATE.search(item):
                return False
        elif kind is dict:
            if depth > max_depth:
                return False
            for key, child in item.items():
                if type(key) is not str or "\x00" in key:
                    return False
                if not key.isascii() and _SURROGATE.search(key):
                    return False
                stack.append((child, depth + 1))
        elif kind is list:
            if depth > max_depth:
                return False
            stack.extend((child, depth + 1) for child in item)
        elif kind is int:
            if not INT64_MIN <= item <= INT64_MAX:
                return False
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif item is not None and kind is not bool:
            return False
    return True


def storable_problem(
    value: Any, name: str = "message", max_depth: int = MAX_DEPTH
) -> PermanentError | None:
    """None when `value` is storable JSON, else the first problem found (with where it is)."""
    if is_clean(value, max_depth):
        return None
    return _first_problem(value, name, max_depth)


def _first_problem(value: Any, name: str, max_depth: int) -> PermanentError | None:
    stack: list[tuple[Any, str, int]] = [(value, name, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                return PermanentError(
                    f"{name} is nested deeper than {max_depth} levels", code="too_deep"
                )
            if isinstance(item, list):
                stack.extend((v, f"{where}[{i}]"[:200], depth + 1) for i, v in enumerate(item))
                continue
            for key, child in item.items():
                if not isinstance(key, str):
                    return PermanentError(f"{where} has a key that is not text", code="bad_type")
                path = f"{where}.{_SURROGATE.sub('?', key[:40])}"[:200]
                if problem := _text_problem(key, path, key=True):
                    return problem
                stack.append((child, path, depth + 1))
        elif problem := _scalar_problem(item, where):
            return problem
    return None


def check_storable(value: Any, name: str = "message", max_depth: int = MAX_DEPTH) -> None:
    """Raise the PermanentError `storable_problem` finds."""
    if problem := storable_problem(value, name, max_depth):
        raise problem
