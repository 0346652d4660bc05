"""Follow identity's `person_unmerged` fact: the conversations of the split-off distinct ids
go back from the survivor to the re-created profile (the reverse of merges.py).

Idempotent: a redelivered fact finds none left on the survivor. A conversation of those
ids not yet labelled with a profile is labelled when chat first asks identity, which
answers with the re-created profile already (services/chat/profiles.py)."""

from __future__ import annotations

from typing import Any

from services.chat.live import Live
from services.chat.store import ChatStore
from shared.errors import PermanentError
from shared.identifiers import is_valid_id

MAX_LIVE_UPDATES = 200
MAX_IDS = 100_000


async def apply_unmerge(store: ChatStore, live: Live, fact: dict[str, Any]) -> int:
    """Re-point; returns how many conversations moved."""
    ws, survivor, profile = (fact.get(k) for k in ("workspace_id", "survivor_id", "profile_id"))
    dids = fact.get("distinct_ids")
    if not isinstance(ws, str) or not ws or not isinstance(dids, list) or len(dids) > MAX_IDS:
        raise PermanentError("person_unmerged fact without a workspace or ids", code="bad_payload")
    if not (is_valid_id(str(survivor)) and is_valid_id(str(profile))) or survivor == profile:
        raise PermanentError("person_unmerged fact with illegal ids", code="bad_payload")
    wanted = [d for d in dids if isinstance(d, str) and d]
    moved, shown = await store.split_profile(
        ws, str(survivor), str(profile), wanted, MAX_LIVE_UPDATES
    )
    for doc in shown:
        await live.conversation_updated(doc)
    return moved
