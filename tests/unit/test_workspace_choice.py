"""Which workspace a session works in, and what a workspace may be named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dashboard.sessions import in_workspace
from services.dashboard.workspaces import MAX_NAME, clean_name

AGENT = {"_id": "ag_1", "email": "a@example.com", "workspace_id": "default", "role": "agent"}
MEMBERSHIPS = [
    {"workspace_id": "default", "role": "agent"},
    {"workspace_id": "ws_b", "role": "admin"},
]


def test_the_chosen_workspace_and_its_role_when_still_a_member() -> None:
    seen = in_workspace(AGENT, {"workspace_id": "ws_b"}, MEMBERSHIPS)
    assert (seen["workspace_id"], seen["role"]) == ("ws_b", "admin")
    assert (seen["home_workspace_id"], seen["home_role"]) == ("default", "agent")
    # a copy: the agent's own document is not changed
    assert AGENT["workspace_id"] == "default" and AGENT["role"] == "agent"


@pytest.mark.parametrize("chosen", [None, "", "ws_gone", 7, ["ws_b"], {"$ne": None}])
def test_anything_else_is_the_home_workspace(chosen: object) -> None:
    seen = in_workspace(AGENT, {"workspace_id": chosen}, MEMBERSHIPS)
    assert (seen["workspace_id"], seen["role"]) == ("default", "agent")


def test_a_session_copy_keeps_the_home_it_came_from() -> None:
    """Read again from a session's copy, the home is still the agent's own."""
    first = in_workspace(AGENT, {"workspace_id": "ws_b"}, MEMBERSHIPS)
    again = in_workspace(first, {}, MEMBERSHIPS)
    assert (again["workspace_id"], again["role"]) == ("default", "agent")


def test_names_are_trimmed_and_bounded() -> None:
    assert clean_name("  Shop   B \n") == "Shop B"
    assert clean_name("x" * MAX_NAME) == "x" * MAX_NAME
    for bad in ("", "   ", "x" * (MAX_NAME + 1), "a\x00b", "a\u200bb", "a\u202eb", None, 5):
        with pytest.raises(ValueError):
            clean_name(bad)


@given(st.one_of(st.text(max_size=200), st.none(), st.integers(), st.binary()))
def test_a_name_is_printable_text_or_refused(raw: object) -> None:
    try:
        name = clean_name(raw)
    except ValueError:
        return
    assert 0 < len(name) <= MAX_NAME and name == name.strip()
    assert all(ch.isprintable() for ch in name)
