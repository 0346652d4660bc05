"""A malformed `person_unmerged` fact is refused before chat touches anything (a dead letter
with its reason, services/chat/unmerges.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.chat.unmerges import apply_unmerge
from shared.errors import PermanentError

GOOD = {
    "kind": "person_unmerged",
    "workspace_id": "default",
    "profile_id": "p_back",
    "survivor_id": "p_kept",
    "merge_id": "m1",
    "distinct_ids": ["a-1"],
}


class Untouched:
    """A store any call to which fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was used: {name}")


@pytest.mark.parametrize(
    "bad",
    [
        {"workspace_id": ""},
        {"workspace_id": None},
        {"distinct_ids": "a-1"},
        {"distinct_ids": ["a"] * 100_001},
        {"profile_id": "undefined"},
        {"survivor_id": None},
        {"survivor_id": "p_back"},
    ],
)
async def test_a_malformed_fact_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(PermanentError):
        await apply_unmerge(Untouched(), Untouched(), {**GOOD, **bad})  # type: ignore[arg-type]
