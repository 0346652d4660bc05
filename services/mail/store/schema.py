"""The mail collections and their indexes.

threads: one per conversation (`_id` = the reply-address id, short and lower-case): the
  conversation it answers, the visitor, the address mailed, the Message-IDs sent (threading).
pending: one per conversation (`_id` = conversation id): agent messages the visitor has
  not seen (`msgs.<seq>`), the seen mark, the highest seq already emailed, when the next
  email is due (`due_at`) and a worker's lease on it.
agent_pending: the same per conversation for the agents: visitor messages no agent read.
outbox: one per email (`_id` = the idempotency key `<conversation>:<last seq>`), written
  before the send: `sending`, then `sent` or `failed`.
suppressed: addresses that unsubscribed, per workspace.
"""

from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import IndexModel

INDEXES: dict[str, list[IndexModel]] = {
    "threads": [IndexModel([("workspace_id", ASC), ("conversation_id", ASC)], unique=True)],
    "pending": [IndexModel([("due_at", ASC)])],
    "agent_pending": [IndexModel([("due_at", ASC)])],
    "outbox": [IndexModel([("workspace_id", ASC), ("conversation_id", ASC), ("created_at", ASC)])],
    "suppressed": [IndexModel([("workspace_id", ASC), ("email", ASC)], unique=True)],
}
