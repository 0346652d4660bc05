"""The suppression book's index (shared/suppressions.py): what it learns and forgets from
the watch, and that a drop is counted once per message, per workspace."""

from __future__ import annotations

from typing import Any, cast

from shared import suppressions
from shared.bus import Bus
from shared.suppressions import Suppression, SuppressionBook


def _book() -> SuppressionBook:
    return SuppressionBook(cast(Bus, None))


def _record(ws: str, profile: str, ids: list[str]) -> Suppression:
    return suppressions.new(ws, profile, ids, {"kind": "api"})


def test_a_learned_suppression_drops_its_ids_in_its_workspace_only() -> None:
    book = _book()
    record = _record("w1", "p1", ["u-1", "anon-1", "", "u-1"])
    book._learn(record)
    assert record.ids == ["anon-1", "u-1"], "deduplicated, empty ids left out"
    assert book.dropping("w1", (None, "anon-1", None)) == record.id
    assert book.dropping("w1", ("u-1", "anon-1", None)) == record.id
    assert book.dropping("w2", ("u-1", None, None)) is None
    assert book.dropping("w1", ("u-2", None, None)) is None
    assert book._counts[record.id] == 2, "one drop a message, whatever it names"


def test_forgetting_keeps_the_ids_another_suppression_still_names() -> None:
    book = _book()
    first, second = _record("w", "p1", ["a", "shared"]), _record("w", "p2", ["b", "shared"])
    book._learn(first)
    book._learn(second)
    book._forget(second.id)
    assert book.dropping("w", ("shared",)) == first.id, "still named by the first"
    assert book.dropping("w", ("b",)) is None
    assert book.dropping("w", ("a",)) == first.id
    book._forget(first.id)
    assert book.dropping("w", ("a",)) is None
    assert book.dropping("w", ("shared",)) is None
    assert book.of_workspace("w") == []


def test_a_record_round_trips_and_its_id_is_a_plain_key() -> None:
    record = _record("w:odd ws", "p/with.dots", ["x"])
    assert Suppression.from_json(record.to_json()) == record
    assert suppressions._plain(record.id)
    assert not suppressions._plain("../etc") and not suppressions._plain("s" + "g" * 31)
    view: dict[str, Any] = record.view()
    assert view["dropped"] == 0 and view["ids"] == ["x"]
