"""What visitors are told: online only with an agent online inside business hours."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from services.chat.presence import Presence, visitor_frame, visitor_view
from shared.schema.live import Face
from shared.workspaces import Workspace

MONDAY_NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def workspace(**fields: Any) -> Workspace:
    return Workspace(
        id="ws", name="Shop", write_key="", secret_key="", identity_secret="", **fields
    )


def online(*names: str) -> Presence:
    presence = Presence(ttl=45, clock=lambda: 0.0)
    for name in names:
        presence.heartbeat("ws", {"agent_id": name.lower(), "name": name})
    return presence


def test_an_online_agent_inside_business_hours_is_online_for_visitors() -> None:
    hours = {"timezone": "UTC", "days": {"mon": ["09:00", "17:00"]}}
    view = visitor_view(online("Ann").online("ws"), workspace(business_hours=hours), MONDAY_NOON)
    assert view["online_agents"] == 1 and view["open"] is True
    assert view["agents"] == [{"id": "ann", "name": "Ann", "avatar": None}]


def test_outside_business_hours_nobody_is_online_and_the_away_message_shows() -> None:
    hours = {"timezone": "UTC", "days": {"tue": ["09:00", "17:00"]}}
    ws = workspace(business_hours=hours, away_message="Back Tuesday")
    view = visitor_view(online("Ann").online("ws"), ws, MONDAY_NOON)
    assert view == {
        "online_agents": 0,
        "agents": [],
        "away_message": "Back Tuesday",
        "open": False,
        "reply_minutes": None,
    }


def test_the_widget_frame_has_no_agent_ids_and_at_most_five_faces() -> None:
    agents = online("A", "B", "C", "D", "E", "F").online("ws")
    frame = visitor_frame(visitor_view(agents, workspace(), MONDAY_NOON))
    assert frame.online_agents == 6
    assert frame.agents == [Face(name=n, avatar=None) for n in "ABCDE"]
    assert msgspec.to_builtins(frame)["type"] == "presence"


def test_only_a_changed_view_is_news_and_a_start_waits_out_the_warmup() -> None:
    clock = [100.0]
    presence = Presence(clock=lambda: clock[0], warmup=20)
    assert not presence.settled()
    clock[0] += 20
    assert presence.settled()
    frame = {"type": "presence", "online_agents": 0}
    assert presence.is_news("ws", frame)
    presence.announced("ws", frame)
    assert not presence.is_news("ws", dict(frame))
    assert presence.is_news("ws", {**frame, "online_agents": 1})
    assert presence.is_news("other", frame)


def test_a_sign_off_waits_out_a_page_load_before_the_agent_goes_offline() -> None:
    clock = [100.0]
    presence = Presence(ttl=45, clock=lambda: clock[0], sign_off_grace=5)
    presence.heartbeat("ws", {"agent_id": "ann", "name": "Ann"})
    presence.heartbeat("ws", {"agent_id": "bo", "name": "Bo"})
    # Ann's page reloads: her socket closes, the new one sends a heartbeat at once
    assert presence.heartbeat("ws", {"agent_id": "ann", "online": False}) is False
    clock[0] += 1
    assert presence.heartbeat("ws", {"agent_id": "ann", "name": "Ann"}) is False
    # Bo signs out for good: gone once the grace is over, found by the expiry round
    assert presence.heartbeat("ws", {"agent_id": "bo", "online": False}) is False
    clock[0] += 4.9
    assert [a.id for a in presence.online("ws")] == ["ann", "bo"]
    assert presence.expire() == []
    clock[0] += 0.2
    assert presence.expire() == ["ws"]
    assert [a.id for a in presence.online("ws")] == ["ann"]
    # a sign-off never extends a heartbeat that is about to run out (Ann's: at 146)
    clock[0] = 144.0
    presence.heartbeat("ws", {"agent_id": "ann", "online": False})
    clock[0] = 146.5
    assert presence.online("ws") == []
