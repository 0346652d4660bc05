"""Widget frames read as their types (shared/schema/frames.py), with the protocol's codes."""

from __future__ import annotations

import typing

import pytest

from services.gateway.visitor.frames import GRANTED, HANDLERS
from shared.schema.frames import AnyFrame, FrameRefused, IdentifyFrame, read_frame, read_hello

MID = "abcdefgh"


def test_every_frame_type_has_a_handler_and_a_schema() -> None:
    tags = {shape.__struct_config__.tag for shape in typing.get_args(AnyFrame)}
    assert tags == set(HANDLERS)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "nope"}, "unknown_type"),
        ({"type": "read", "seq": -1}, "invalid"),
        ({"type": "read", "seq": True}, "invalid"),
        ({"type": "resync", "after_seq": "3"}, "invalid"),
        ({"type": "message", "client_msg_id": "short", "text": "hi"}, "invalid"),
        ({"type": "message", "client_msg_id": MID, "text": "   "}, "invalid"),
        ({"type": "identify", "message_id": MID, "user_id": "x" * 201}, "too_large"),
        ({"type": "identify", "message_id": MID, "user_id": " "}, "invalid"),
        ({"type": "identify", "message_id": MID, "user_id": "u", "traits": []}, "invalid"),
        ({"type": "track", "message_id": MID}, "invalid"),
        ({"type": "page", "message_id": MID, "url": ""}, "invalid"),
        ({"type": "rate", "conversation_id": "c1"}, "invalid"),
        ({"type": "rate", "conversation_id": "c1", "score": 0}, "invalid"),
        ({"type": "rate", "conversation_id": "c1", "score": 6}, "invalid"),
        ({"type": "rate", "conversation_id": "c1", "score": True}, "invalid"),
        ({"type": "rate", "conversation_id": "c1", "score": 4.0}, "invalid"),
        ({"type": "rate", "conversation_id": "c1", "score": "4"}, "invalid"),
        ({"type": "rate", "conversation_id": "c1", "score": 4, "comment": 5}, "invalid"),
        ({"type": "rate", "conversation_id": "c1", "score": 4, "comment": "x" * 1001}, "too_large"),
        ({"type": "rate", "conversation_id": "x" * 65, "score": 4}, "too_large"),
        ({"type": "rate", "conversation_id": "", "score": 4}, "invalid"),
    ],
)
def test_a_frame_off_its_schema_is_refused_with_the_protocols_code(frame: dict, code: str) -> None:
    with pytest.raises(FrameRefused) as info:
        read_frame(frame)
    assert info.value.code == code
    assert str(info.value)


def test_a_good_frame_is_read_with_its_fields_and_extra_keys_ignored() -> None:
    frame = read_frame(
        {"type": "identify", "message_id": MID, "user_id": "u-1", "user_hash": "h", "x": 1}
    )
    assert frame == IdentifyFrame(message_id=MID, user_id="u-1", user_hash="h")


def test_a_hello_may_carry_a_continue_link_token_and_nothing_else_in_its_place() -> None:
    hello = read_hello({"type": "hello", "token": None, "continue_token": "abc.def"})
    assert hello.continue_token == "abc.def"
    assert read_hello({"type": "hello"}).continue_token is None
    with pytest.raises(FrameRefused) as refused:
        read_hello({"type": "hello", "continue_token": {"ws": "default"}})
    assert refused.value.code == "invalid"


def test_a_continue_links_socket_may_not_send_what_touches_the_person() -> None:
    assert set(GRANTED) <= set(HANDLERS)
    for person_frame in ("identify", "alias", "email", "track", "page"):
        assert person_frame in HANDLERS and person_frame not in GRANTED


def test_a_rating_frame_reads_with_an_optional_comment() -> None:
    frame = read_frame(
        {"type": "rate", "conversation_id": "c1", "score": 5, "message_id": "rating"}
    )
    assert (frame.conversation_id, frame.score, frame.comment) == ("c1", 5, "")  # type: ignore[union-attr]
    assert "new_conversation" not in GRANTED and "rate" in GRANTED  # a continue link rates only
