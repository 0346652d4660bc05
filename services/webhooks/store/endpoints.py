"""Endpoints: what an admin registered, the signing secrets, and the failing/disabled marks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

from shared import clock


class Endpoints:
    endpoints: AsyncIOMotorCollection

    async def add_endpoint(self, doc: dict[str, Any]) -> None:
        await self.endpoints.insert_one(doc)

    async def endpoint(self, workspace_id: str, endpoint_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.endpoints.find_one(
            {"_id": endpoint_id, "workspace_id": workspace_id}
        )
        return found

    async def endpoint_by_id(self, endpoint_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.endpoints.find_one({"_id": endpoint_id})
        return found

    async def endpoints_of(self, workspace_id: str, limit: int = 100) -> list[dict[str, Any]]:
        cursor = self.endpoints.find({"workspace_id": workspace_id}).sort("created_at", 1)
        return await cursor.to_list(limit)

    async def count_endpoints(self, workspace_id: str) -> int:
        return int(await self.endpoints.count_documents({"workspace_id": workspace_id}))

    async def subscribed(self, workspace_id: str, topic: str) -> list[dict[str, Any]]:
        """Enabled endpoints of the workspace listening to `topic`."""
        cursor = self.endpoints.find(
            {"workspace_id": workspace_id, "enabled": True, "topics": topic}
        )
        return await cursor.to_list(100)

    async def update_endpoint(
        self, workspace_id: str, endpoint_id: str, fields: dict[str, Any]
    ) -> bool:
        result = await self.endpoints.update_one(
            {"_id": endpoint_id, "workspace_id": workspace_id},
            {"$set": {**fields, "updated_at": clock.now()}},
        )
        return result.matched_count == 1

    async def delete_endpoint(self, workspace_id: str, endpoint_id: str) -> bool:
        result = await self.endpoints.delete_one({"_id": endpoint_id, "workspace_id": workspace_id})
        return result.deleted_count == 1

    async def failed_once(self, endpoint_id: str, at: datetime) -> None:
        """The first failure since the last success starts the endpoint's failing window."""
        await self.endpoints.update_one(
            {"_id": endpoint_id, "failing_since": None}, {"$set": {"failing_since": at}}
        )

    async def succeeded(self, endpoint_id: str) -> None:
        await self.endpoints.update_one(
            {"_id": endpoint_id, "failing_since": {"$ne": None}}, {"$set": {"failing_since": None}}
        )

    async def disable_failing(
        self, endpoint_id: str, failing_before: datetime, reason: str
    ) -> bool:
        """Disable the endpoint if it has failed since before `failing_before`; True if this
        call disabled it (one replica sends the admins' email)."""
        result = await self.endpoints.update_one(
            {"_id": endpoint_id, "enabled": True, "failing_since": {"$lte": failing_before}},
            {"$set": {"enabled": False, "disabled_reason": reason, "disabled_at": clock.now()}},
        )
        return result.modified_count == 1
