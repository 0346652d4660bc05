"""A person's export: one JSON document assembled from identity's and chat's parts.

Written as it is read (`chunks` yields pieces of one JSON object): the events come a
page at a time from identity, each conversation's messages a page at a time from chat,
so a person with a million events is never held in memory, here or in a service.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from shared import clock
from shared.bus import Bus

PAGE = 200
IDS_A_REQUEST = 100  # chat's conversations.by_profile takes at most 100 distinct ids
CONVERSATIONS_A_KEY = 100
TIMEOUT = 10.0


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


async def _ask(bus: Bus, service: str, verb: str, payload: dict[str, Any]) -> Any:
    return await bus.request(bus.subjects.request(service, verb), payload, timeout=TIMEOUT)


async def records(bus: Bus, workspace_id: str, profile_id: str) -> dict[str, Any]:
    """Identity's records of the person (raises BusError `not_found` for an unknown id)."""
    payload = {"workspace_id": workspace_id, "profile_id": profile_id}
    result: dict[str, Any] = await _ask(bus, "identity", "person.export", payload)
    return result


async def respond(
    request: web.Request, bus: Bus, workspace_id: str, found: dict[str, Any]
) -> web.StreamResponse:
    """The export as a download, written as it is assembled (a service failing midway
    cuts the document short: it does not parse, rather than looking complete)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Content-Disposition": f'attachment; filename="person-{file_name(found)}.json"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    async for chunk in chunks(bus, workspace_id, found):
        await response.write(chunk.encode())
    await response.write_eof()
    return response


def file_name(found: dict[str, Any]) -> str:
    """The person's id, safe in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(found["profile"]["id"]))[:100]


async def chunks(bus: Bus, workspace_id: str, found: dict[str, Any]) -> AsyncIterator[str]:
    """The export document of the person `records` found, in pieces."""
    profile = found["profile"]
    head = {"exported_at": clock.iso(clock.now()), "workspace_id": workspace_id, **found}
    yield _dump(head)[:-1] + ',"events":['
    async for i, event in _numbered(_events(bus, workspace_id, profile["id"])):
        yield ("," if i else "") + _dump(event)
    yield '],"conversations":['
    dids = [d["distinct_id"] for d in found["distinct_ids"]]
    summaries = await conversations(bus, workspace_id, [profile["id"], *found["merged_ids"]], dids)
    for i, summary in enumerate(summaries):
        yield ("," if i else "") + _dump(summary)[:-1] + ',"messages":['
        async for j, message in _numbered(messages(bus, workspace_id, summary["id"])):
            yield ("," if j else "") + _dump(message)
        yield "]}"
    yield "]}"


async def _numbered(items: AsyncIterator[Any]) -> AsyncIterator[tuple[int, Any]]:
    i = 0
    async for item in items:
        yield i, item
        i += 1


async def _events(bus: Bus, ws: str, profile_id: str) -> AsyncIterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        payload: dict[str, Any] = {"workspace_id": ws, "profile_id": profile_id, "limit": PAGE}
        if cursor:
            payload["cursor"] = cursor
        page = await _ask(bus, "identity", "person.export_events", payload)
        for event in page["events"]:
            yield event
        cursor = page.get("next_cursor")
        if not cursor:
            return


async def conversations(
    bus: Bus, ws: str, profile_ids: list[str], dids: list[str]
) -> list[dict[str, Any]]:
    """Every conversation of the person's profile ids and distinct ids (one per visitor)."""
    asks: list[dict[str, Any]] = [{"profile_id": pid} for pid in profile_ids]
    asks += [
        {"distinct_ids": dids[i : i + IDS_A_REQUEST]} for i in range(0, len(dids), IDS_A_REQUEST)
    ]
    found: dict[str, dict[str, Any]] = {}
    for key in asks:
        payload = {"workspace_id": ws, "limit": CONVERSATIONS_A_KEY, **key}
        answer = await _ask(bus, "chat", "conversations.by_profile", payload)
        for summary in answer["conversations"]:
            summary.pop("unread", None)  # per agent: not the person's
            found[summary["id"]] = summary
    return sorted(found.values(), key=lambda s: (s["created_at"] or "", s["id"]))


async def messages(bus: Bus, ws: str, conversation_id: str) -> AsyncIterator[dict[str, Any]]:
    """One conversation's messages in order, a page at a time."""
    after = 0
    while True:
        payload = {
            "workspace_id": ws,
            "conversation_id": conversation_id,
            "after_seq": after,
            "limit": PAGE,
        }
        page = await _ask(bus, "chat", "conversation.messages", payload)
        for message in page["messages"]:
            yield message
            after = max(after, message["seq"])
        if not page["has_more"] or not page["messages"]:
            return
