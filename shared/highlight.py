"""Search highlighting: a text as plain segments (piece, is it a match), never HTML.

The dashboard renders a match as `<mark>{{ piece }}</mark>` with autoescape on, so the
mark is built around escaped text and a query or message that looks like markup stays
text (chat's snippets and the dashboard's person labels use the same rule).
"""

from __future__ import annotations

import re


def highlight(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """`text` as segments (piece, is it a match), every occurrence of a term marked."""
    wanted = [t for t in terms if t]
    if not wanted or not text:
        return [(text, False)] if text else []
    pattern = re.compile(
        "|".join(re.escape(t) for t in sorted(wanted, key=len, reverse=True)), re.I
    )
    out: list[tuple[str, bool]] = []
    at = 0
    for found in pattern.finditer(text):
        if found.start() > at:
            out.append((text[at : found.start()], False))
        out.append((found.group(0), True))
        at = found.end()
    if at < len(text):
        out.append((text[at:], False))
    return out
