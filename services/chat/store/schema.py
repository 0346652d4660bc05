"""The chat collections, their indexes (which depend on the server's dialect), new documents.

conversations: one per (workspace, visitor); `last_seq` allocates message numbers
  atomically; `visitor_count` counts visitor messages (unread = count - read mark);
  `unfolded` lists the ids of messages given a seq and not folded in yet;
  `recent_client_ids` the client ids of the latest 50 (services/chat/fold.py).
  `merged_into` (absent or null until `conversation.merge` merges it into that one;
  `merge_copied`, `merge_started_at` follow the copy: services/chat/thread_merge.py).
messages: unique per (workspace, conversation, client_msg_id) and per seq.
reads: one read mark per (workspace, conversation, agent).
assign_state: the round-robin position per workspace (`_id` is the workspace id).
agent_slots: per (workspace, agent) the conversations routing counts against their
  capacity (services/chat/store/slots.py).
labels: the workspace's labels `{_id, workspace_id, name, colour}` (store/labels.py);
  a conversation's `labels` lists the ids of those it carries.
inbox_counts: per workspace the inbox views' counts (`_id` is the workspace id;
  store/counts.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING as ASC
from pymongo import IndexModel

from services.chat.search_terms import person_terms, short_id
from shared.dialect import Dialect


def indexes(dialect: Dialect) -> dict[str, list[IndexModel]]:
    """The indexes; the newest-first key runs ascending where the dialect needs it
    (`ascending_keys_only`); a database moved between dialects keeps the other
    direction's indexes until they are dropped by hand."""
    newest = dialect.newest_first
    recent = [("last_activity_at", newest), ("_id", newest)]
    return {
        "conversations": [
            IndexModel([("workspace_id", ASC), ("visitor_id", ASC)], unique=True),
            IndexModel([("workspace_id", ASC), *recent]),
            IndexModel([("workspace_id", ASC), ("status", ASC), *recent]),
            IndexModel([("workspace_id", ASC), ("assignee_id", ASC), *recent]),
            IndexModel([("workspace_id", ASC), ("assignee_id", ASC), ("status", ASC), *recent]),
            IndexModel([("workspace_id", ASC), ("updated_at", ASC), ("_id", ASC)]),
            IndexModel([("workspace_id", ASC), ("profile_id", ASC), *recent]),
            # the inbox's label filter (a multikey index: one key per label carried)
            IndexModel([("workspace_id", ASC), ("labels", ASC), *recent]),
            IndexModel([("workspace_id", ASC), ("distinct_id", ASC)]),
            IndexModel([("status", ASC), ("snoozed_until", ASC)]),
            # search (services/chat/store/search.py): the terms first, SecantusDB's planner
            # picks its index by the filter's first key
            IndexModel([("search_terms", ASC), ("workspace_id", ASC), *recent]),
            # the median first response of the last days (services/chat/reply_time.py)
            IndexModel([("workspace_id", ASC), ("first_reply_at", ASC)]),
            # the routing queue: open unassigned conversations, oldest first
            IndexModel(
                [("workspace_id", ASC), ("assignee_id", ASC), ("status", ASC), ("created_at", ASC)]
            ),
        ],
        "messages": [
            IndexModel(
                [("workspace_id", ASC), ("conversation_id", ASC), ("client_msg_id", ASC)],
                unique=True,
            ),
            IndexModel(
                [("workspace_id", ASC), ("conversation_id", ASC), ("seq", ASC)], unique=True
            ),
        ],
        "labels": [IndexModel([("workspace_id", ASC), ("name_key", ASC)], unique=True)],
        "reads": [
            IndexModel(
                [("workspace_id", ASC), ("conversation_id", ASC), ("agent_id", ASC)], unique=True
            ),
        ],
    }


def by_id(workspace_id: str, conversation_id: Any) -> dict[str, Any]:
    """A filter on conversation id(s) that carries the workspace; `_id` first, because
    SecantusDB's planner picks its index from the first key (shared/dialect.py)."""
    return {"_id": conversation_id, "workspace_id": workspace_id}


def new_conversation(
    workspace_id: str, visitor_id: str, distinct_id: str, at: datetime
) -> dict[str, Any]:
    person = person_terms(visitor=short_id(visitor_id))
    return {
        "_id": str(ObjectId()),
        "workspace_id": workspace_id,
        "visitor_id": visitor_id,
        "distinct_id": distinct_id,
        "profile_id": None,
        "email": None,
        "status": "open",
        "priority": "none",
        "assignee_id": None,
        "snoozed_until": None,
        "labels": [],
        "last_message": None,
        "last_seq": 0,
        "visitor_count": 0,
        "visitor_read_seq": 0,
        "agent_read_seq": 0,
        "recent_client_ids": [],
        "search_words": [],
        "search_person": person,
        "search_terms": person,
        "last_activity_at": at,
        "created_at": at,
        "updated_at": at,
    }


def alloc_field() -> str:
    """A field name no other reservation uses."""
    return "alloc_" + uuid.uuid4().hex[:16]


@dataclass
class Stored:
    message: dict[str, Any]
    conversation: dict[str, Any]
    created: bool
