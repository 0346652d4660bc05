"""Conversation search terms: what a conversation is found by, and what a query asks.

Pure. A conversation keeps a bounded set of normalized terms in `search_terms` (one
multikey index, services/chat/store/schema.py): every distinct word of its messages
(the first `MAX_WORDS`, in `search_words`) and every substring of 3 to `MAX_PIECE`
characters of the person's name, email, user id and short visitor id (`search_person`,
replaced whenever the person becomes better known). Words and pieces are cut to
`MAX_PIECE` characters alike. A query is its words, each one term, and a conversation matches when it holds
them all: words of messages match whole, the person's fields by substring, so
`example.com` finds every address there. Highlighting marks the query's words in
a text as plain segments; the template escapes each one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shared.highlight import highlight

__all__ = ["highlight"]

WORD = re.compile(r"[\w@.+-]+", re.UNICODE)
MIN_PIECE = 3
MAX_PIECE = 20
MAX_WORD = MAX_PIECE  # words and pieces are cut alike, so a long query word still finds
MAX_FIELD = 64
MAX_WORDS = 1000
MAX_QUERY_TERMS = 8
EDGE = ".-+@_"


def short_id(value: str) -> str:
    """The visitor's short id, as the inbox labels them ("Visitor 6ecaf0",
    services/dashboard/people.py keeps the same rule)."""
    return value if len(value) <= 12 else value[-6:]


def words(text: str) -> list[str]:
    """The distinct normalized words of a text, in order of first appearance. A token
    like `sally@example.com.` counts as itself and as its parts (`sally`, `example`)."""
    seen: dict[str, None] = {}
    for raw in WORD.findall(text.casefold()):
        token = raw.strip(EDGE)
        if not token:
            continue
        for part in (token, *re.split(r"[@.+-]+", token)):
            part = part.strip(EDGE)[:MAX_WORD]
            if part:
                seen.setdefault(part, None)
    return list(seen)


def message_words(texts: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        for word in words(text):
            seen.setdefault(word, None)
    return list(seen)


def substrings(value: str) -> set[str]:
    """Every piece of MIN_PIECE..MAX_PIECE characters of `value` (its first MAX_FIELD)."""
    text = value.casefold().strip()[:MAX_FIELD]
    pieces = set()
    for size in range(MIN_PIECE, MAX_PIECE + 1):
        for start in range(0, len(text) - size + 1):
            pieces.add(text[start : start + size])
    return pieces


def person_terms(
    name: str | None = None,
    email: str | None = None,
    user_id: str | None = None,
    visitor: str | None = None,
) -> list[str]:
    """The person's terms: substrings of each field plus its whole words (a two-letter
    name like "Al" is still found). `visitor`: the short id the inbox labels
    "Visitor 6ecaf0" with, so that label finds it too."""
    terms: set[str] = set()
    for value in (name, email, user_id, visitor):
        if value:
            terms |= substrings(value)
            terms.update(w[:MAX_PIECE] for w in words(value))
    if visitor:
        terms.add("visitor")
    return sorted(terms)


def query_terms(query: str) -> list[str]:
    """The terms a query asks for (all must match), at most MAX_QUERY_TERMS."""
    terms: dict[str, None] = {}
    for raw in WORD.findall(query.casefold()):
        token = raw.strip(EDGE)
        if token:
            terms.setdefault(token[:MAX_PIECE], None)
    return list(terms)[:MAX_QUERY_TERMS]


def snippet(text: str, terms: list[str], width: int = 160) -> str:
    """The part of `text` around its first match, at most about `width` characters."""
    wanted = [re.escape(t) for t in terms if t]
    hit = re.search("|".join(wanted), text, re.I) if wanted else None
    if hit is None or len(text) <= width:
        return text[:width]
    start = max(0, hit.start() - width // 3)
    piece = text[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(text) else "")
