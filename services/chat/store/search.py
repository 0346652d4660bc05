"""Conversation search: pages of conversations holding every query term, newest first,
and the message each one matched in.

The terms live in the conversation's `search_terms` (services/chat/search_terms.py),
one multikey index `(search_terms, workspace_id, last_activity_at, _id)`: the longest
term is an index equality, the others checked on what it finds (`$expr`), labels and dates
plain filters; the page is read like the inbox's (services/chat/store/inbox.py, which
on SecantusDB reads through time windows). The same query runs on mongod: its `$text`
index finds whole words only (no `example.com` inside an address, no piece of a user
id), so it could not serve the person's fields; docs/dashboard.md says more.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

from services.chat.store.inbox import Keep, recent_page
from services.chat.store.schema import by_id
from shared.dialect import Dialect

SNIPPET_SCAN = 200  # the newest messages of a result looked at for its snippet


def search_query(
    workspace_id: str,
    terms: list[str],
    label: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if terms:
        # the longest term (likely the rarest) is the index equality; the others are
        # checked on what it finds: with `$all` bench/search.py's two-word query ran past
        # its 10 s time-out on SecantusDB at 1,000 conversations (no index bounds for it);
        # mongod reads the same equality from the index and filters alike
        first = max(terms, key=len)
        query["search_terms"] = first
        rest = [t for t in terms if t != first]
        if rest:
            query["$expr"] = {"$setIsSubset": [{"$literal": rest}, "$search_terms"]}
    query["workspace_id"] = workspace_id
    if label:
        query["labels"] = label
    if since or until:
        query["last_activity_at"] = {
            **({"$gte": since} if since else {}),
            **({"$lt": until} if until else {}),
        }
    return query


def by_term_index(
    workspace_id: str,
    terms: list[str],
    label: str | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[dict[str, Any], Keep] | None:
    """The windowed dialect's search: the longest term through the `(search_terms,
    workspace_id, last_activity_at)` index, the other terms and the label checked on what
    it finds (SecantusDB walks no index for a filter with `$expr` or one field more than
    the index's equalities: a two-word query ran past 10 s at 1,000 conversations)."""
    if not terms:
        return None
    first = max(terms, key=len)
    indexed = search_query(workspace_id, [first], None, since, until)
    rest = set(terms) - {first}

    def keep(doc: dict[str, Any]) -> bool:
        held = set(doc.get("search_terms") or ())
        return rest <= held and (label is None or label in (doc.get("labels") or ()))

    return indexed, keep


class Search:
    conversations: AsyncIOMotorCollection
    messages: AsyncIOMotorCollection
    dialect: Dialect

    async def search_page(
        self,
        workspace_id: str,
        terms: list[str],
        limit: int,
        cursor: str | None = None,
        label: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Conversations holding every term (and the label, in the dates), newest first."""
        query = search_query(workspace_id, terms, label, since, until)
        windowed = by_term_index(workspace_id, terms, label, since, until)
        return await recent_page(self.conversations, query, limit, cursor, self.dialect, windowed)

    async def matching_message(
        self, workspace_id: str, conversation_id: str, terms: list[str], last_seq: int
    ) -> dict[str, Any] | None:
        """The newest of the conversation's latest SNIPPET_SCAN messages naming a term."""
        if not terms:
            return None
        pattern = re.compile("|".join(re.escape(t) for t in terms), re.I)
        query = {
            "workspace_id": workspace_id,
            "conversation_id": conversation_id,
            "seq": {"$gt": last_seq - SNIPPET_SCAN},
        }
        found = self.messages.find(query, {"text": 1, "seq": 1, "created_at": 1, "internal": 1})
        for message in sorted(await found.to_list(None), key=lambda m: -m["seq"]):
            if pattern.search(message.get("text") or ""):
                return message
        return None

    async def learn_person(self, workspace_id: str, conversation_id: str, terms: list[str]) -> None:
        """The person's terms are now `terms` (a name or user id became known)."""
        words = {"$ifNull": ["$search_words", []]}
        stage = {
            "$set": {
                "search_person": {"$literal": terms},
                "search_terms": {"$setUnion": [words, {"$literal": terms}]},
            }
        }
        await self.conversations.update_one(by_id(workspace_id, conversation_id), [stage])
