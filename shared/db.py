"""MongoDB through motor: one client per process, one database per service."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo import IndexModel

log = logging.getLogger("parley.db")


def connect(url: str) -> AsyncIOMotorClient:
    return AsyncIOMotorClient(
        url, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000, tz_aware=True
    )


async def ping(client: AsyncIOMotorClient) -> bool:
    try:
        await client.admin.command("ping")
        return True
    except Exception:  # noqa: BLE001 - readiness only reports
        return False


async def ensure_indexes(db: AsyncIOMotorDatabase, spec: dict[str, Iterable[IndexModel]]) -> None:
    """Create the indexes a service declares; re-running is a no-op."""
    for collection, indexes in spec.items():
        models = list(indexes)
        if models:
            await db[collection].create_indexes(models)
    log.info("indexes ready", extra={"database": db.name, "collections": list(spec)})
