"""The bus request payloads (shared/schema/*_requests.py): one code, a message naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from msgspec import UNSET

from services.chat.model import message_out, summary_out
from services.chat.store import new_conversation
from shared.errors import PermanentError
from shared.schema import chat_requests as chat
from shared.schema import identity_requests as identity
from shared.schema.chat_replies import ConversationSummary, LastMessage, Message
from shared.schema.requests import read_request

WS = {"workspace_id": "ws1"}


def refused(raw: Any, shape: type, *, lax: bool = False) -> str:
    with pytest.raises(PermanentError) as err:
        read_request(raw, shape, lax=lax)
    assert err.value.code == "invalid"
    return str(err.value)


@pytest.mark.parametrize(
    ("raw", "shape", "field"),
    [
        ({**WS, "visitor_id": "v1", "limit": "5"}, chat.HistoryRequest, "limit"),
        ({**WS, "visitor_id": "undefined"}, chat.HistoryRequest, "visitor_id"),
        ({"workspace_id": " ", "visitor_id": "v1"}, chat.HistoryRequest, "workspace_id"),
        ({**WS, "conversation_id": "c1", "agent_id": "a1"}, chat.ConversationRead, "seq"),
        ({**WS, "conversation_id": "c1", "status": "gone"}, chat.ConversationUpdate, "status"),
        ({**WS, "since": "yesterday"}, chat.ConversationsChanged, "since"),
        ({**WS, "view": "mine"}, chat.ConversationsList, "agent_id"),
        ({**WS, "distinct_ids": ["d1", "null"]}, chat.ConversationsByProfile, "distinct_ids"),
        (
            {**WS, "conversation_id": "c1", "agent": {"id": "a1"}, "client_msg_id": "m1"},
            chat.AgentSend,
            "text",
        ),
        (
            {**WS, "conversation_id": "c1", "agent": {"id": "a1"}, "text": "hi"},
            chat.AgentSend,
            "client_msg_id",
        ),
    ],
)
def test_a_bad_chat_request_is_invalid_and_names_its_field(
    raw: dict[str, Any], shape: type, field: str
) -> None:
    assert field in refused(raw, shape)


def test_every_chat_request_must_be_an_object() -> None:
    assert "JSON object" in refused(["ws1"], chat.PresenceRequest)


def test_ids_are_trimmed_and_limits_capped() -> None:
    req = read_request(
        {"workspace_id": " ws1 ", "visitor_id": "v1", "limit": 999}, chat.HistoryRequest
    )
    assert (req.workspace_id, req.page_size()) == ("ws1", 100)
    assert read_request({**WS, "visitor_id": "v1"}, chat.HistoryRequest).page_size() == 50


def test_an_update_tells_unassign_from_unchanged() -> None:
    base = {**WS, "conversation_id": "c1"}
    assert read_request({**base, "assignee_id": None}, chat.ConversationUpdate).assignee_id is None
    kept = read_request({**base, "priority": "high"}, chat.ConversationUpdate)
    assert kept.assignee_id is UNSET
    assert "nothing to change" in refused(base, chat.ConversationUpdate)
    assert "snoozed_until" in refused(
        {**base, "status": "open", "snoozed_until": "2030-01-01T00:00:00Z"},
        chat.ConversationUpdate,
    )


def test_identity_takes_query_strings_as_they_come() -> None:
    raw = {**WS, "q": "", "stage": "", "limit": "7"}
    search = read_request(identity.without_blanks(raw), identity.Search, lax=True)
    assert (search.q, search.stage, search.page_size()) == (None, None, 7)
    assert "stage" in refused({**WS, "stage": "vip"}, identity.Search, lax=True)
    assert "limit" in refused({**WS, "limit": "0"}, identity.Search, lax=True)
    assert "before" in refused({**WS, "profile_id": "p1", "before": "soon"}, identity.Events)
    assert "profile_id" in refused(identity.without_blanks({**WS, "profile_id": ""}), identity.Get)
    assert "give user_id" in refused(WS, identity.Find)


def test_identity_bulk_lookups_refuse_what_is_not_an_id() -> None:
    assert "ids" in refused({**WS, "ids": ["p1", 5]}, identity.Summaries, lax=True)
    assert "distinct_ids" in refused(
        {**WS, "distinct_ids": ["d"] * 201}, identity.Summaries, lax=True
    )


def test_an_asker_builds_a_request_and_the_server_checks_it() -> None:
    built = chat.HistoryRequest(workspace_id="ws1", visitor_id="undefined", limit=5)
    assert "visitor_id" in refused(msgspec.to_builtins(built), chat.HistoryRequest)


def test_chat_replies_are_built_from_their_structs() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    author = {"kind": "agent", "id": "a1", "name": "Ann", "avatar": None}
    doc = {"_id": "m1", "conversation_id": "c1", "seq": 3, "client_msg_id": "x"}
    message = message_out({**doc, "author": author, "text": "hi", "created_at": at})
    assert list(message) == list(Message.__struct_fields__)
    assert message["created_at"] == "2026-01-01T00:00:00.000Z" and message["internal"] is False
    last = {"text": "hi", "author_kind": "visitor", "created_at": at, "seq": 3}
    summary = summary_out({**new_conversation("ws", "v1", "d1", at), "last_message": last}, None)
    assert list(summary) == list(ConversationSummary.__struct_fields__)
    assert list(summary["last_message"]) == list(LastMessage.__struct_fields__)
