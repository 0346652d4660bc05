"""The one "storable JSON" check both edges use, against what BSON and strict JSON accept."""

from __future__ import annotations

import json
from typing import Any

import bson
import pytest
from bson.errors import InvalidDocument
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.events_out import normalise
from shared.errors import PermanentError
from shared.events import IngestEvent
from shared.storable import MAX_DEPTH, _first_problem, check_storable, is_clean, storable_problem
from shared.workspaces import Workspace
from tests import strategies


def _nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


@pytest.mark.parametrize(
    ("value", "code", "where"),
    [
        ({"t": "hi \ud800"}, "bad_text", "message.t"),
        ({"\udfffk": 1}, "bad_text", "message.?k"),
        ({"a\x00b": 1}, "bad_text", "message.a\x00b"),
        ({"n": 2**63}, "bad_number", "message.n"),
        ({"n": -(2**63) - 1}, "bad_number", "message.n"),
        ({"n": [1, float("nan")]}, "bad_number", "message.n[1]"),
        ({"n": float("-inf")}, "bad_number", "message.n"),
        (_nested(MAX_DEPTH + 1), "too_deep", "message"),
    ],
)
def test_what_the_store_refuses_is_named_with_its_path(value, code: str, where: str) -> None:
    problem = storable_problem(value)
    assert problem is not None and problem.code == code
    assert where in str(problem)


def test_depth_counts_lists_and_objects_alike() -> None:
    assert storable_problem([[[]]], max_depth=3) is None
    problem = storable_problem([{"a": []}], max_depth=2)
    assert problem is not None and problem.code == "too_deep"


def test_what_the_store_takes_passes() -> None:
    fine = {
        "s": "naïve ☃ \U0001f600 \x00",
        "$dollar": {"dotted.key": [1, 2.5, True, None, ""]},
        "": 0,
        "big": 2**63 - 1,
        "small": -(2**63),
        "deep": _nested(MAX_DEPTH - 1),
    }
    check_storable(fine)
    json.dumps(fine, allow_nan=False)


def test_a_hostile_nesting_is_walked_without_recursion() -> None:
    value: list = []
    for _ in range(100_000):
        value = [value]
    problem = storable_problem(value)
    assert problem is not None and problem.code == "too_deep"


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend(
                (v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def _store_refuses(value: Any) -> bool:
    try:
        bson.encode({"v": value})
        json.dumps(value, allow_nan=False)
    except (OverflowError, UnicodeEncodeError, InvalidDocument, ValueError):
        return True
    return False


@settings(max_examples=200, deadline=None)
@given(strategies.any_value)
def test_the_check_agrees_with_bson_and_strict_json(value: Any) -> None:
    problem = storable_problem({"v": value})
    if problem is None:
        assert not _store_refuses(value)
    else:
        assert problem.code in ("bad_text", "bad_number", "too_deep")
        assert _store_refuses(value) or _depth({"v": value}) > MAX_DEPTH


@settings(max_examples=200, deadline=None)
@given(strategies.segment_messages(), st.booleans(), st.sampled_from(["api", "widget"]))
def test_normalise_refuses_with_a_reason_or_gives_a_storable_event(
    raw: Any, trusted: bool, source: str
) -> None:
    workspace = Workspace("w", "W", "wk", "sk", "secret", enforce_identity_verification=True)
    try:
        event = normalise(raw, workspace, trusted=trusted, source=source)
    except PermanentError as exc:
        assert exc.code and str(exc)
        return
    stored = event.to_dict()
    bson.encode(stored)
    json.dumps(stored, allow_nan=False)
    assert IngestEvent.from_dict(json.loads(json.dumps(stored))) == event


class _Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {"t": "hi \ud800"},
        {"\udfffk": 1},
        {"a\x00b": 1},
        {"n": 2**63},
        {"n": [1, float("nan")]},
        _nested(MAX_DEPTH + 1),
        {1: "a key that is not text"},
        {"s": {1, 2}},
        {"t": _Text("a str subclass: the detailed walk decides")},
    ],
)
def test_the_fast_walk_never_passes_what_the_detailed_walk_looks_at(value: Any) -> None:
    assert is_clean(value) is False


@settings(max_examples=300, deadline=None)
@given(strategies.any_value)
def test_the_fast_walk_and_the_detailed_walk_agree_on_json_values(value: Any) -> None:
    assert is_clean({"v": value}) == (_first_problem({"v": value}, "message", MAX_DEPTH) is None)
