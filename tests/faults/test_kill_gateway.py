"""kill -9 of a gateway with chatting visitors: they resync on the other one, no gap, no double."""

from __future__ import annotations

import asyncio
import functools
import signal
from typing import Any

import pytest
from yarl import URL

from shared.bus import Bus
from shared.settings import Settings
from tests.faults.conftest import Spawn
from tests.faults.harness import ServiceProcess, say
from tests.integration.visitor_ws_client import Visitor
from tests.integration.widget_bus import agent_says

pytestmark = pytest.mark.slow

VISITORS = 6


class Address:
    """What `Visitor.connect` needs of a server: `make_url`."""

    def __init__(self, process: ServiceProcess) -> None:
        self.base = URL(process.url)

    def make_url(self, path: str) -> URL:
        return self.base.join(URL(path))


def _echo_of(cmid: str, frame: dict[str, Any]) -> bool:
    return frame["type"] == "message" and frame["message"]["client_msg_id"] == cmid


async def test_kill_9_gateway_visitors_resync_on_the_other_with_no_gap(
    start_service, settings: Settings, bus: Bus, spawn: Spawn
) -> None:
    await start_service("chat")
    gateway_a, gateway_b = spawn("gateway"), spawn("gateway")
    await asyncio.gather(gateway_a.ready(), gateway_b.ready())

    visitors = [
        await Visitor.connect(Address(gateway_a), settings.write_key) for _ in range(VISITORS)
    ]
    conversations = []
    for n, visitor in enumerate(visitors):
        cmid = f"before-{n:04d}"
        await visitor.say("before the crash", cmid)
        mine = await visitor.wait_for(functools.partial(_echo_of, cmid))
        conversations.append(mine["message"]["conversation_id"])

    gateway_a.kill(signal.SIGKILL)
    for visitor in visitors:
        await asyncio.wait_for(visitor.closed.wait(), 10)
    # the agent answers while nobody is connected
    for n, cid in enumerate(conversations):
        await agent_says(bus, cid, "while you were away", f"gap-{n:04d}")

    loop = asyncio.get_running_loop()
    started = loop.time()
    resynced = []
    for visitor in visitors:
        seen = visitor.messages()
        back = await Visitor.connect(
            Address(gateway_b),
            settings.write_key,
            token=visitor.welcome["token"],
            last_seq=seen[-1]["seq"],
        )
        await back.wait_for(lambda f: f["type"] == "history")
        resynced.append(back)
    recovery = loop.time() - started

    gaps = doubles = 0
    for before, after in zip(visitors, resynced, strict=True):
        await before.session.close()
        seqs = [m["seq"] for m in before.messages()] + [m["seq"] for m in after.messages()]
        doubles += len(seqs) - len(set(seqs))
        gaps += len(set(range(1, max(seqs) + 1)) - set(seqs))
        assert [m["text"] for m in after.messages()] == ["while you were away"]
        await after.close()
    say(
        "kill -9 gateway",
        {"visitors": VISITORS, "gaps": gaps, "doubles": doubles, "resync s": round(recovery, 2)},
    )
    assert gaps == 0 and doubles == 0
