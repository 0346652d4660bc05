"""Each trait's recent values, kept on the person document (no extra write).

An entry is `[event time, message id, mode, source, value]`; a trait keeps the
`KEEP` latest by (event time, message id), one per message. Taking the latest of a
union is commutative and idempotent, like every other write of `model.py`: the same
events in any order, redelivered or merged in, leave the same history.
"""

from __future__ import annotations

import json
from typing import Any

KEEP = 10  # entries per trait
MAX_KEYS = 100  # traits with a history on one person
MAX_VALUE = 500  # characters of a value's JSON; a longer one is kept cut, as text
MODES = ("set", "set_once", "unset")

Entry = list  # [at, message id, mode, source, value]


def _bounded(value: Any) -> Any:
    try:
        text = json.dumps(value, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)[:MAX_VALUE]
    return value if len(text) <= MAX_VALUE else text[:MAX_VALUE]


def entry(at: str, message_id: str, mode: str, source: str | None, value: Any) -> Entry:
    return [at, message_id, mode, source, _bounded(value)]


def _latest(entries: list[Entry]) -> list[Entry]:
    by_message: dict[str, Entry] = {}
    for e in entries:
        kept = by_message.get(e[1])
        if kept is None or (e[0], e[2]) > (kept[0], kept[2]):
            by_message[e[1]] = e
    ordered = sorted(by_message.values(), key=lambda e: (e[0], e[1]), reverse=True)
    return ordered[:KEEP]


def record(person: dict[str, Any], key: str, new: Entry) -> None:
    """Add one write to `key`'s history (in place)."""
    history = person.setdefault("trait_history", {})
    if key not in history and len(history) >= MAX_KEYS:
        return
    history[key] = _latest([*history.get(key, []), new])


def union(into: dict[str, Any], other: dict[str, Any]) -> None:
    """A merge: each trait's history is the latest of both (in place on `into`)."""
    history = into.setdefault("trait_history", {})
    for key, entries in (other.get("trait_history") or {}).items():
        if key not in history and len(history) >= MAX_KEYS:
            continue
        history[key] = _latest([*history.get(key, []), *entries])


def view(entries: list[Entry]) -> list[dict[str, Any]]:
    """Newest first, as the API shows them."""
    return [
        {"at": e[0], "message_id": e[1], "mode": e[2], "source": e[3], "value": e[4]}
        for e in entries
    ]
