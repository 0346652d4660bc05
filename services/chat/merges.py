"""Follow identity's merges: conversations of a merged-away profile move to the survivor."""

from __future__ import annotations

from typing import Any

from services.chat.live import Live
from services.chat.store import ChatStore
from shared.errors import PermanentError
from shared.events import ProfileMerged
from shared.identifiers import is_valid_id

MAX_LIVE_UPDATES = 200


async def apply_merge(store: ChatStore, live: Live, payload: dict[str, Any]) -> int:
    """Re-point; idempotent (a redelivered fact finds nothing left to move). Returns the count."""
    fact = ProfileMerged.from_dict(payload)
    if not (is_valid_id(fact.survivor_id) and is_valid_id(fact.merged_id) and fact.workspace_id):
        raise PermanentError("merge fact with illegal ids", code="bad_payload")
    if fact.survivor_id == fact.merged_id:
        return 0
    moved, shown = await store.move_profile(
        fact.workspace_id, fact.merged_id, fact.survivor_id, MAX_LIVE_UPDATES
    )
    for doc in shown:
        await live.conversation_updated(doc)
    return moved
