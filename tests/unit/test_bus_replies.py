"""The bus replies (shared/schema/chat_replies.py, profiles.py): built through their Structs
by the answering service, read back into them by the asker, a broken one refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.chat.model import message_of
from services.identity.model import summary
from shared.errors import BusError
from shared.schema import builtins, read_reply
from shared.schema.chat_replies import History
from shared.schema.profiles import ProfileSummaries, ProfileSummary

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _message(seq: int, internal: bool = False) -> dict:
    return {
        "_id": f"m{seq}",
        "conversation_id": "c1",
        "seq": seq,
        "client_msg_id": f"c-{seq}",
        "author": {"kind": "visitor", "id": "v1", "name": None, "avatar": None},
        "text": "hi",
        "created_at": AT,
        "internal": internal,
    }


def test_a_history_reply_reads_back_as_it_was_built() -> None:
    built = History(
        conversation_id="c1",
        messages=[message_of(_message(1)), message_of(_message(2))],
        last_seq=2,
        status="open",
        agent_read_seq=1,
    )
    wire = builtins(built)
    assert wire["messages"][0]["created_at"] == "2026-01-01T00:00:00.000Z"
    assert read_reply(wire, History) == built
    # before the first message: the defaults the widget relies on
    assert builtins(History()) == {
        "conversation_id": None,
        "messages": [],
        "last_seq": 0,
        "has_more": False,
        "status": None,
        "visitor_read_seq": 0,
        "agent_read_seq": 0,
        "email": None,
        "rating": None,
    }


def test_a_reply_off_its_shape_is_a_bad_reply_naming_the_field() -> None:
    for broken, field in (
        ({"messages": "none"}, "messages"),
        ({"status": "archived"}, "status"),
        ({"last_seq": "7"}, "last_seq"),
    ):
        with pytest.raises(BusError) as err:
            read_reply(broken, History)
        assert err.value.code == "bad_reply" and field in str(err.value)


def test_identity_summaries_are_the_profile_summary_shape() -> None:
    person = {"_id": "p1", "stage": "contact", "name": "Sally", "email": "s@x.io", "user_id": None}
    wire = summary(person)
    assert wire == {
        "id": "p1",
        "stage": "contact",
        "name": "Sally",
        "email": "s@x.io",
        "user_id": None,
    }
    found = read_reply({"profiles": {"p1": wire, "p9": None}, "distinct_ids": {}}, ProfileSummaries)
    assert found.profiles == {"p1": ProfileSummary("p1", "contact", "Sally", "s@x.io"), "p9": None}
    with pytest.raises(BusError):
        read_reply({**wire, "stage": "lead"}, ProfileSummary)
