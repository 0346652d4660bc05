"""Hypothesis strategies for hostile JSON: what a Segment client or a widget frame could be.

Values reach everything the edges must refuse: lone surrogates in strings and keys,
NUL in keys, integers past 64 bits, NaN and Infinity, deep nesting; and Segment-shaped
messages whose fields are sometimes right, sometimes of any type.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


@st.composite
def mostly(draw: st.DrawFn, usual: st.SearchStrategy, rare: st.SearchStrategy) -> Any:
    """`usual` nine times in ten, else `rare`: hostile values without drowning the rest."""
    return draw(rare if draw(st.integers(0, 9)) == 0 else usual)


# text, now and then with a lone surrogate or a NUL (st.text leaves surrogates out)
nasty_text = mostly(
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=6)
    | st.sampled_from(["hi \ud800", "\udfff", "a\x00b"]),
)
numbers = mostly(
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([2**63, -(2**63) - 1, 2**70, int("9" * 400)]) | st.floats(),
)
scalars = st.none() | st.booleans() | numbers | nasty_text
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4)
    ),
    max_leaves=20,
)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


deep_values = st.integers(min_value=30, max_value=40).map(nested)
any_value = mostly(json_values, deep_values)

TIMES = st.sampled_from(
    [
        "2026-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:59:59Z",
        "1999-12-31T23:59:59Z",
        "not a time",
    ]
)
SEGMENT_TYPES = st.sampled_from(["identify", "alias", "track", "page", "screen", "group", "email"])
ids = st.sampled_from(["u-1", "a-1", "42", 2**62]) | numbers


def _field(draw: st.DrawFn, good: st.SearchStrategy) -> Any:
    """Mostly a right value, sometimes any JSON value at all, sometimes absent (None)."""
    roll = draw(st.integers(0, 9))
    if roll < 2:
        return _ABSENT
    return draw(good if roll < 9 else any_value)


_ABSENT = object()


@st.composite
def segment_messages(draw: st.DrawFn) -> Any:
    """A Segment message: each field present or not, right or of any JSON type."""
    if draw(st.integers(0, 9)) == 0:
        return draw(any_value)  # not even an object, sometimes
    message: dict[str, Any] = {}
    for name, good in [
        ("type", SEGMENT_TYPES),
        ("userId", ids),
        ("anonymousId", ids),
        ("previousId", ids),
        ("groupId", ids),
        ("messageId", st.uuids().map(str)),
        ("event", st.sampled_from(["Signed Up", " "])),
        ("name", st.just("Home")),
        ("timestamp", TIMES),
        ("sentAt", TIMES),
        ("traits", st.dictionaries(nasty_text, any_value, max_size=3)),
        ("properties", st.dictionaries(nasty_text, any_value, max_size=3)),
        ("email", st.just("sally@example.com")),
        ("context", st.dictionaries(st.sampled_from(["user_hash", "ip", "page"]), any_value)),
        ("integrations", any_value),
    ]:
        value = _field(draw, good)
        if value is not _ABSENT:
            message[name] = value
    return message
