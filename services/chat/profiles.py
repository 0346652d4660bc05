"""Which person a conversation belongs to, asked of identity lazily and in the background.

Identity may be down or not yet caught up with the visitor's first events, so a
message is never held up by it: a conversation without a profile id schedules a
few look-ups (now, then after longer and longer waits) and is updated when one
answers. A look-up or update that fails because a server did not answer is tried
again at the next wait; any other failure is logged. The next visitor message of a
conversation still without a profile id schedules it again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from services.chat.live import Live
from services.chat.search_terms import person_terms, short_id
from services.chat.store import ChatStore
from shared.bus import Bus
from shared.errors import is_infrastructure_error
from shared.schema import read_reply
from shared.schema.identity_requests import Resolve
from shared.schema.profiles import ProfileSummary
from shared.tasks import BackgroundTasks

log = logging.getLogger("parley.chat.profiles")

RETRY_DELAYS = (0.0, 2.0, 10.0, 30.0, 60.0)


class ProfileResolver:
    def __init__(self, bus: Bus, store: ChatStore, live: Live, delays=RETRY_DELAYS) -> None:
        self.bus = bus
        self.store = store
        self.live = live
        self.delays = delays
        self._pending = BackgroundTasks(log, "profile look-up")

    def schedule(self, conversation: dict[str, Any]) -> None:
        cid = conversation["_id"]
        if conversation.get("profile_id") or self._pending.running(cid):
            return
        self._pending.start(self._resolve(conversation), key=cid)

    async def close(self) -> None:
        await self._pending.close()

    async def _resolve(self, conversation: dict[str, Any]) -> None:
        for delay in self.delays:
            await asyncio.sleep(delay)
            try:
                if await self._attempt(conversation):
                    return
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    raise
                log.info("profile of %s not resolved yet: %r", conversation["_id"], exc)
        log.warning(
            "conversation %s still has no profile id; its next message tries again",
            conversation["_id"],
        )

    async def _attempt(self, conversation: dict[str, Any]) -> bool:
        """True once the conversation has its profile id (or no longer needs this one)."""
        ws, distinct_id = conversation["workspace_id"], conversation["distinct_id"]
        reply = await self.bus.request(
            self.bus.subjects.request("identity", "profile.resolve"),
            Resolve(workspace_id=ws, distinct_id=distinct_id),
            timeout=2,
        )
        if reply is None:
            return False  # identity has not seen this visitor yet
        found = read_reply(reply, ProfileSummary)
        # only if the visitor is still that distinct id and nobody set it meanwhile
        updated = await self.store.set_fields(
            ws,
            conversation["_id"],
            {"profile_id": found.id},
            guard={"distinct_id": distinct_id, "profile_id": None},
        )
        if updated is not None:
            await self.store.learn_person(ws, conversation["_id"], _person_terms(found, updated))
            await self.live.conversation_updated(updated)
        return True


def _person_terms(found: ProfileSummary, conversation: dict[str, Any]) -> list[str]:
    """What search finds the person by, now that identity named them."""
    return person_terms(
        name=found.name,
        email=found.email or conversation.get("email"),
        user_id=found.user_id,
        visitor=short_id(conversation["visitor_id"]),
    )
