"""Admission control on the visitor's side: when chat falls behind, the widget is told at
once (a `busy` frame after `accepted`) while every message is still stored, once."""

from __future__ import annotations

import asyncio
from typing import Any

from services.chat.load import BUSY_AFTER
from services.gateway.visitor.ws import CHAT_LOAD
from shared.bus import Bus
from shared.settings import Settings
from tests.integration.chat_support import Frames, conversation_of
from tests.integration.visitor_ws_client import Visitor
from tests.support import eventually


async def _now(value: bool) -> bool:
    return value


async def test_a_backlog_makes_chat_busy_the_widget_is_told_and_nothing_is_lost_or_doubled(
    start_service, bus: Bus, settings: Settings
) -> None:
    chat = await start_service("chat")
    gateway = await start_service("gateway")
    load = gateway.app[CHAT_LOAD]
    words = await Frames.on(bus, bus.subjects.chat_load)
    visitor = await Visitor.connect(gateway, settings.write_key)
    vid = visitor.welcome["visitor_id"]
    await visitor.say("first", "message-0")
    await conversation_of(bus, vid)
    assert not visitor.matching(lambda f: f["type"] == "busy"), "calm: no warning"

    # chat away long enough for a backlog to wait past BUSY_AFTER
    await chat.close()
    for n in range(1, 4):
        ref = f"message-{n}"
        await visitor.say(f"while away {n}", ref)

        def accepted(frame: dict[str, Any], ref: str = ref) -> bool:
            return bool(frame["type"] == "accepted" and frame["ref"] == ref)

        await visitor.wait_for(accepted)
    await asyncio.sleep(BUSY_AFTER + 0.5)
    await start_service("chat")
    await words.wait_for(lambda w: w["busy"] is True and w["delay"] > BUSY_AFTER)
    await eventually(lambda: _now(load.busy), timeout=5)

    await visitor.say("are you there?", "message-4")
    busy = await visitor.wait_for(lambda f: f["type"] == "busy")
    assert busy["ref"] == "message-4" and busy["delay"] > BUSY_AFTER
    accepted_at = visitor.frames.index(
        next(f for f in visitor.frames if f["type"] == "accepted" and f["ref"] == "message-4")
    )
    assert visitor.frames.index(busy) == accepted_at + 1, "told with the accept, not later"

    # the quick message brings the wait down: chat says it is calm again
    await words.wait_for(lambda w: w["busy"] is False)
    await eventually(lambda: _now(not load.busy), timeout=5)
    await visitor.say("thanks", "message-5")
    await visitor.wait_for(lambda f: f["type"] == "accepted" and f["ref"] == "message-5")

    history = await conversation_of(bus, vid, messages=6)
    stored = [(m["client_msg_id"], m["seq"]) for m in history["messages"]]
    assert stored == [(f"message-{n}", n + 1) for n in range(6)], "every message once, in order"

    def stored_ids() -> set[str]:
        mine = visitor.matching(
            lambda f: f["type"] == "message" and f["message"]["author"]["kind"] == "visitor"
        )
        return {f["message"]["id"] for f in mine}

    await eventually(lambda: _now(len(stored_ids()) == 6), timeout=5)
    assert len(visitor.matching(lambda f: f["type"] == "busy")) == 1
    await visitor.close()
