"""The webhooks service's database: the only door to it (tests/unit/test_store_boundary.py)."""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorDatabase

from services.webhooks.store.deliveries import Deliveries
from services.webhooks.store.endpoints import Endpoints
from services.webhooks.store.schema import INDEXES

__all__ = ["INDEXES", "WebhooksStore"]


class WebhooksStore(Endpoints, Deliveries):
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self.endpoints = db["endpoints"]
        self.deliveries = db["deliveries"]
        self.attempts = db["attempts"]
