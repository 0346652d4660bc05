"""Follow identity's `person_deleted` fact: the person's conversations and messages go.

Then chat tells the mail service which conversations went (`P.chat.fact.erased`), since
mail keys its rows by conversation. Idempotent: a redelivered fact finds nothing left,
and the erased fact's message id is the deleted person's, so JetStream keeps one.
"""

from __future__ import annotations

from typing import Any

from services.chat.store import ChatStore
from shared.bus import Bus
from shared.errors import PermanentError
from shared.identifiers import is_valid_id

MAX_IDS = 100_000


def _ids(fact: dict[str, Any], name: str) -> list[str]:
    values = fact.get(name) or []
    if not isinstance(values, list) or len(values) > MAX_IDS:
        raise PermanentError(f"person_deleted fact: bad {name}", code="bad_payload")
    return [v for v in values if isinstance(v, str) and v]


async def apply_delete(store: ChatStore, bus: Bus, fact: dict[str, Any]) -> dict[str, int]:
    ws = fact.get("workspace_id")
    if not isinstance(ws, str) or not ws or not is_valid_id(str(fact.get("profile_id"))):
        raise PermanentError("person_deleted fact without a workspace", code="bad_payload")
    found = await store.conversations_of_person(
        ws, _ids(fact, "person_ids"), _ids(fact, "distinct_ids"), _ids(fact, "visitor_ids")
    )
    ids = sorted(c["_id"] for c in found)
    if ids:
        erased = {"kind": "erased", "workspace_id": ws, "conversation_ids": ids}
        # before the erase: mail forgets its rows even if chat stops midway
        await bus.publish_durable(
            bus.subjects.chat_fact("erased"), erased, f"erased:{ws}:{fact['profile_id']}"
        )
    return await store.erase_conversations(ws, found)
