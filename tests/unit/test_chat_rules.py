"""Pure rules of the chat service: cursors, input checks, presence expiry, turn order, email events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.chat.assignment import next_in_turn
from services.chat.email_detect import email_event, email_in
from services.chat.model import person, summary_out
from services.chat.presence import Presence
from services.chat.rating import rating_event
from services.chat.store import new_conversation
from services.chat.store.inbox import decode_cursor, encode_cursor
from shared.errors import PermanentError
from shared.schema.chat_inbound import (
    INBOUND_VERSION,
    AnyInbound,
    VisitorEmail,
    VisitorMessage,
    read_inbound,
)


def test_a_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    at = datetime(2026, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)
    width = timedelta(minutes=5)
    assert decode_cursor(encode_cursor(at, "abc", width)) == (at, "abc", width)
    for forged in ("not-base64!", "W10", 42, "x" * 400, encode_cursor(at, "abc", width)[:-3]):
        with pytest.raises(PermanentError):
            decode_cursor(forged)


RECORD = {"type": "visitor.message", "workspace_id": "ws", "visitor_id": "v", "distinct_id": "v"}


def inbound(**fields: Any) -> AnyInbound:
    return read_inbound({"client_msg_id": "c1", "text": "hi", **RECORD, **fields})


def test_text_and_agents_are_checked() -> None:
    kept = inbound(text="<script>alert(1)</script>")
    assert isinstance(kept, VisitorMessage) and kept.text == "<script>alert(1)</script>"
    for bad in ("", "   ", 5, "x" * 10_001, None):
        with pytest.raises(PermanentError):
            inbound(text=bad)
    assert person({"id": "a1", "name": "Ann"}, "agent") == {
        "kind": "agent",
        "id": "a1",
        "name": "Ann",
        "avatar": None,
    }
    for raw in (None, {"id": "undefined"}, {"id": "a1", "name": ["x"]}, {"id": "a1", "avatar": 3}):
        with pytest.raises(PermanentError):
            person(raw, "agent")


def test_presence_expires_silent_agents_and_honours_sign_out() -> None:
    clock = [100.0]
    presence = Presence(ttl=45, clock=lambda: clock[0], sign_off_grace=0)
    assert presence.heartbeat("ws", {"agent_id": "ann", "name": "Ann"}) is True
    assert presence.heartbeat("ws", {"agent_id": "ann", "name": "Ann"}) is False
    presence.heartbeat("ws", {"agent_id": "bo", "name": "Bo"})
    assert [a.id for a in presence.online("ws")] == ["ann", "bo"]
    assert presence.heartbeat("ws", {"agent_id": "bo", "online": False}) is True
    clock[0] += 30
    presence.heartbeat("ws", {"agent_id": "cy", "name": "Cy"})
    clock[0] += 20
    assert [a.id for a in presence.online("ws")] == ["cy"]
    assert presence.expire() == ["ws"]
    assert presence.online("other") == []


def test_round_robin_order_wraps_and_skips_agents_gone_offline() -> None:
    assert next_in_turn([], None) is None
    assert next_in_turn(["bo", "ann"], None) == "ann"
    assert next_in_turn(["bo", "ann"], "ann") == "bo"
    assert next_in_turn(["bo", "ann"], "bo") == "ann"
    assert next_in_turn(["ann", "cy"], "bo") == "cy"


def test_email_found_in_chat_becomes_a_valid_unverified_event() -> None:
    assert email_in("write to ME@Example.org.") == "me@example.org"
    assert email_in("no address here @all") is None
    event = email_event("ws", "d1", "me@example.org", "m1", datetime(2026, 1, 1, tzinfo=UTC))
    assert (event.kind, event.source, event.trusted, event.message_id) == (
        "email",
        "chat",
        False,
        "chat-email:m1",
    )
    assert event.timestamp == "2026-01-01T00:00:00.000Z"


def test_a_summary_has_the_shape_the_dashboard_reads() -> None:
    doc = new_conversation("ws", "v1", "d1", datetime(2026, 1, 1, tzinfo=UTC))
    out = summary_out(doc, 0)
    assert set(out) == {
        "id",
        "workspace_id",
        "visitor_id",
        "distinct_id",
        "profile_id",
        "email",
        "status",
        "priority",
        "assignee_id",
        "snoozed_until",
        "last_message",
        "last_seq",
        "last_activity_at",
        "unread",
        "visitor_read_seq",
        "created_at",
        "updated_at",
        "labels",
        "merged_into",
        "rating",
    }
    assert out["last_activity_at"] == "2026-01-01T00:00:00.000Z"
    assert out["rating"] is None
    at = datetime(2026, 1, 2, tzinfo=UTC)
    rated = summary_out({**doc, "rating": {"score": 4, "comment": "ok", "at": at}}, 0)
    assert rated["rating"] == {"score": 4, "comment": "ok", "at": "2026-01-02T00:00:00.000Z"}


def test_a_rating_becomes_the_persons_conversation_rated_track_event() -> None:
    doc = new_conversation("ws", "v1", "d1", datetime(2026, 1, 1, tzinfo=UTC))
    at = datetime(2026, 1, 2, tzinfo=UTC)
    event = rating_event(doc, {"score": 5, "comment": "great", "at": at})
    assert (event.kind, event.event, event.anonymous_id, event.source) == (
        "track",
        "Conversation Rated",
        "d1",
        "chat",
    )
    assert event.properties == {"conversation_id": doc["_id"], "score": 5, "comment": "great"}
    assert event.timestamp == "2026-01-02T00:00:00.000Z"
    # a re-rating is its own event (its own time), a redelivery the same one
    again = rating_event(doc, {"score": 2, "comment": "", "at": datetime(2026, 1, 3, tzinfo=UTC)})
    assert again.message_id != event.message_id
    assert (
        rating_event(doc, {"score": 5, "comment": "great", "at": at}).message_id == event.message_id
    )


def test_a_client_message_id_is_a_token_not_a_person_id() -> None:
    assert inbound(client_msg_id="undefined").client_msg_id == "undefined"
    assert inbound(client_msg_id="00000000").client_msg_id == "00000000"
    for bad in ("", "x" * 101, "a b", "<img>", None, 12):
        with pytest.raises(PermanentError):
            inbound(client_msg_id=bad)


def test_an_inbound_record_names_its_kind_ids_and_version() -> None:
    email = inbound(type="visitor.email", email="a@b.co")
    assert isinstance(email, VisitorEmail) and email.v == INBOUND_VERSION
    for bad in ({"type": "visitor.poke"}, {"visitor_id": "undefined"}, {"v": 2}):
        with pytest.raises(PermanentError) as err:
            inbound(**bad)
        assert err.value.code == "invalid"
