"""The one "storable JSON" check both edges use, against what BSON and strict JSON accept."""

from __future__ import annotations

import json

import pytest

from shared.storable import MAX_DEPTH, check_storable, storable_problem


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
