"""The chat service's database: the only door to it (tests/unit/test_store_boundary.py).

Every query carries the workspace id, except the ones named `..._all_workspaces`;
what differs between MongoDB and SecantusDB is decided by the `Dialect` given at
start (shared/dialect.py).
"""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorDatabase

from services.chat.store.batch import BatchWrites
from services.chat.store.conversations import Conversations
from services.chat.store.erasure import Erasure
from services.chat.store.labels import Labels
from services.chat.store.merging import Merging
from services.chat.store.messages import Messages
from services.chat.store.retention import Retention
from services.chat.store.schema import Stored, alloc_field, indexes, new_conversation
from services.chat.store.search import Search
from services.chat.store.slots import Slots
from shared.dialect import Dialect

__all__ = ["ChatStore", "Stored", "alloc_field", "indexes", "new_conversation"]


class ChatStore(
    Conversations, Messages, BatchWrites, Slots, Search, Labels, Merging, Erasure, Retention
):
    def __init__(self, db: AsyncIOMotorDatabase, dialect: Dialect) -> None:
        self.dialect = dialect
        self.conversations = db["conversations"]
        self.messages = db["messages"]
        self.reads = db["reads"]
        self.assign_state = db["assign_state"]
        self.agent_slots = db["agent_slots"]
        self.labels = db["labels"]
        self.inbox_counts = db["inbox_counts"]
