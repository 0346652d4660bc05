"""Who is emailed about an unread visitor message: the assignee, else every agent; never an
agent who is disabled or turned the emails off."""

from __future__ import annotations

from typing import Any

from services.dashboard.notify_targets import targets

ANN: dict[str, Any] = {"_id": "ann", "name": "Ann", "email": "ann@acme.test"}
BOB: dict[str, Any] = {"_id": "bob", "name": "Bob", "email": "bob@acme.test"}
OFF: dict[str, Any] = {"_id": "cy", "name": "Cy", "email": "cy@acme.test", "notify_email": False}
GONE: dict[str, Any] = {"_id": "di", "name": "Di", "email": "di@acme.test", "active": False}
TEAM = [ANN, BOB, OFF, GONE]


def _emails(chosen: list[dict[str, Any]]) -> list[str]:
    return [a["email"] for a in chosen]


def test_unassigned_goes_to_every_agent_who_wants_it() -> None:
    assert _emails(targets(TEAM, None)) == ["ann@acme.test", "bob@acme.test"]


def test_assigned_goes_to_the_assignee_only() -> None:
    assert _emails(targets(TEAM, "bob")) == ["bob@acme.test"]


def test_an_assignee_who_turned_it_off_gets_none_and_nobody_else_does() -> None:
    assert targets(TEAM, "cy") == []


def test_an_assignee_no_longer_in_the_team_falls_back_to_everyone() -> None:
    assert _emails(targets(TEAM, "left-long-ago")) == ["ann@acme.test", "bob@acme.test"]


def test_an_assignee_who_was_disabled_falls_back_to_everyone() -> None:
    assert _emails(targets(TEAM, "di")) == ["ann@acme.test", "bob@acme.test"]
