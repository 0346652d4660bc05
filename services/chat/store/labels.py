"""Labels: the workspace's list (`labels`), and the label ids each conversation carries.

labels: `{_id: label id, workspace_id, name, colour}`; a name is unique in its
workspace (case-insensitively: `name_key`). conversations: `labels: [label id]`,
indexed with the inbox order for the inbox's label filter.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.errors import DuplicateKeyError

from services.chat.store.schema import by_id
from shared import clock

MAX_LABELS = 100


class LabelTaken(Exception):
    """Another label of the workspace has that name."""


class Labels:
    labels: AsyncIOMotorCollection
    conversations: AsyncIOMotorCollection

    async def labels_of(self, workspace_id: str) -> list[dict[str, Any]]:
        found = self.labels.find({"workspace_id": workspace_id}).sort("name_key", 1)
        return await found.to_list(MAX_LABELS)

    async def label(self, workspace_id: str, label_id: str) -> dict[str, Any] | None:
        return await self.labels.find_one(by_id(workspace_id, label_id))

    async def add_label(self, workspace_id: str, name: str, colour: str) -> dict[str, Any]:
        if await self.labels.count_documents({"workspace_id": workspace_id}) >= MAX_LABELS:
            raise ValueError(f"a workspace has at most {MAX_LABELS} labels")
        doc = {
            "_id": str(ObjectId()),
            "workspace_id": workspace_id,
            "name": name,
            "name_key": name.casefold(),
            "colour": colour,
            "created_at": clock.now(),
        }
        try:
            await self.labels.insert_one(doc)
        except DuplicateKeyError as exc:
            raise LabelTaken(name) from exc
        return doc

    async def edit_label(
        self, workspace_id: str, label_id: str, name: str, colour: str
    ) -> dict[str, Any] | None:
        """Rename and recolour; the label after, or None when there is no such label."""
        try:
            result = await self.labels.update_one(
                by_id(workspace_id, label_id),
                {"$set": {"name": name, "name_key": name.casefold(), "colour": colour}},
            )
        except DuplicateKeyError as exc:
            raise LabelTaken(name) from exc
        return await self.label(workspace_id, label_id) if result.matched_count else None

    async def delete_label(self, workspace_id: str, label_id: str) -> bool:
        """Delete the label and take it off every conversation carrying it."""
        result = await self.labels.delete_one(by_id(workspace_id, label_id))
        await self.conversations.update_many(
            {"workspace_id": workspace_id, "labels": label_id},
            {"$pull": {"labels": label_id}, "$set": {"updated_at": clock.now()}},
        )
        return result.deleted_count > 0

    async def relabel(
        self, workspace_id: str, conversation_ids: list[str], add: list[str], remove: list[str]
    ) -> list[dict[str, Any]]:
        """Add then remove label ids on each conversation; the documents after."""
        wanted = by_id(workspace_id, {"$in": conversation_ids})
        now = clock.now()
        if add:
            await self.conversations.update_many(
                wanted, {"$addToSet": {"labels": {"$each": add}}, "$set": {"updated_at": now}}
            )
        if remove:
            await self.conversations.update_many(
                wanted, {"$pull": {"labels": {"$in": remove}}, "$set": {"updated_at": now}}
            )
        return await self.conversations.find(wanted).to_list(None)
