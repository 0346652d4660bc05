"""Which person a conversation belongs to, asked of identity lazily and in the background.

Identity may be down or not yet caught up with the visitor's first events, so a
message is never held up by it: a conversation without a profile id schedules a
few look-ups (now, then after a short wait) and is updated when one answers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from services.chat.live import Live
from services.chat.store import ChatStore
from shared.bus import Bus
from shared.errors import BusError

log = logging.getLogger("parley.chat.profiles")

RETRY_DELAYS = (0.0, 2.0, 10.0)


class ProfileResolver:
    def __init__(self, bus: Bus, store: ChatStore, live: Live, delays=RETRY_DELAYS) -> None:
        self.bus = bus
        self.store = store
        self.live = live
        self.delays = delays
        self._pending: dict[str, asyncio.Task] = {}

    def schedule(self, conversation: dict[str, Any]) -> None:
        cid = conversation["_id"]
        if conversation.get("profile_id") or cid in self._pending:
            return
        task = asyncio.create_task(self._resolve(conversation))
        self._pending[cid] = task
        task.add_done_callback(lambda _: self._pending.pop(cid, None))

    async def close(self) -> None:
        for task in list(self._pending.values()):
            task.cancel()
        await asyncio.gather(*self._pending.values(), return_exceptions=True)

    async def _resolve(self, conversation: dict[str, Any]) -> None:
        ws, distinct_id = conversation["workspace_id"], conversation["distinct_id"]
        subject = self.bus.subjects.request("identity", "profile.resolve")
        for delay in self.delays:
            await asyncio.sleep(delay)
            try:
                found = await self.bus.request(
                    subject, {"workspace_id": ws, "distinct_id": distinct_id}, timeout=2
                )
            except BusError as exc:
                log.debug("profile not resolved yet: %s", exc)
                continue
            if isinstance(found, dict) and isinstance(found.get("id"), str):
                # only if the visitor is still that distinct id and nobody set it meanwhile
                updated = await self.store.set_fields(
                    conversation["_id"],
                    {"profile_id": found["id"]},
                    guard={"distinct_id": distinct_id, "profile_id": None},
                )
                if updated is not None:
                    await self.live.conversation_updated(updated)
                return
