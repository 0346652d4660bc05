"""The mail service's database: the only door to it (tests/unit/test_store_boundary.py)."""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorDatabase

from services.mail.store.erasure import Erasure
from services.mail.store.outbox import Outbox
from services.mail.store.pending import PendingBox
from services.mail.store.schema import INDEXES
from services.mail.store.threads import Threads

__all__ = ["INDEXES", "MailStore", "PendingBox"]


class MailStore(Outbox, Threads, Erasure):
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self.unseen = PendingBox(db["pending"])  # the visitor's: agent messages not seen
        self.unread = PendingBox(db["agent_pending"])  # the agents': visitor messages not read
        self.outbox = db["outbox"]
        self.threads = db["threads"]
        self.suppressed = db["suppressed"]
