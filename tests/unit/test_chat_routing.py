"""Pure rules of presence and routing: who is available, in which order agents are tried."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.chat.presence import Presence
from services.chat.routing import order_of
from shared.workspaces import DEFAULT_CAPACITY, Workspace


class Clock:
    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self) -> float:
        return self.at


def workspace(**fields: Any) -> Workspace:
    base = Workspace(id="w", name="W", write_key="wk", secret_key="sk", identity_secret="s")
    return dataclasses.replace(base, **fields)


def test_least_busy_tries_the_fewest_held_first_ties_by_id() -> None:
    assert order_of("least_busy", {"cy": 1, "ann": 2, "bo": 1}, None) == ["bo", "cy", "ann"]


def test_round_robin_starts_after_the_last_one_given_and_wraps() -> None:
    loads = {"ann": 0, "bo": 3, "cy": 1}
    assert order_of("round_robin", loads, "ann") == ["bo", "cy", "ann"]
    assert order_of("round_robin", loads, "cy") == ["ann", "bo", "cy"]
    assert order_of("round_robin", {}, "cy") == []


def test_an_away_agent_is_online_but_not_available() -> None:
    presence = Presence(warmup=0, clock=Clock())
    presence.heartbeat("w", {"agent_id": "ann", "name": "Ann"})
    presence.heartbeat("w", {"agent_id": "bo", "name": "Bo"})
    ws = workspace(away_agents=["bo"])
    assert [a.id for a in presence.online("w")] == ["ann", "bo"]
    assert [a.id for a in presence.available(ws)] == ["ann"]


def test_auto_away_keeps_a_signed_off_agent_available_for_the_set_time() -> None:
    clock = Clock()
    presence = Presence(ttl=45, warmup=0, sign_off_grace=5, clock=clock)
    presence.heartbeat("w", {"agent_id": "ann", "name": "Ann"}, linger=600)
    presence.heartbeat("w", {"agent_id": "ann", "online": False}, linger=600)
    clock.at = 599
    assert presence.expire() == [] and len(presence.online("w")) == 1
    clock.at = 600
    assert presence.expire() == ["w"] and presence.online("w") == []


def test_capacity_defaults_until_set() -> None:
    ws = workspace(agent_capacity={"ann": 2})
    assert ws.capacity_of("ann") == 2 and ws.capacity_of("bo") == DEFAULT_CAPACITY
