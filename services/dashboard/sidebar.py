"""The profile sidebar's data: the person, their recent events and previous conversations."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from services.dashboard import ua
from services.dashboard.ask import Notices, ask
from services.dashboard.people import fallback_person, person_from
from shared.errors import BusError
from shared.schema import chat_requests as chatq
from shared.schema import identity_requests as idq

EVENTS_SHOWN = 10
PREVIOUS_SHOWN = 10


def device(profile: dict[str, Any] | None) -> str:
    """Browser and OS of the person's most recently seen visitor (device)."""
    if not profile:
        return ""
    visitors = [v for v in profile.get("visitors") or [] if isinstance(v, dict)]
    visitors.sort(key=lambda v: str(v.get("last_visit") or ""), reverse=True)
    seen = next((v for v in visitors if v.get("user_agent") or v.get("browser")), None)
    return ua.describe(seen)


async def profile_for(
    notices: Notices, workspace_id: str, conversation: dict[str, Any]
) -> dict[str, Any] | None:
    """The full profile behind a conversation (a merged-away id answers with the survivor)."""
    profile_id = conversation.get("profile_id")
    if not profile_id and conversation.get("distinct_id"):
        summary = await notices.ask(
            "identity",
            "profile.resolve",
            idq.Resolve(workspace_id=workspace_id, distinct_id=conversation["distinct_id"]),
            None,
            "the visitor's profile",
        )
        profile_id = summary.get("id") if isinstance(summary, dict) else None
    if not profile_id:
        return None
    profile = await notices.ask(
        "identity",
        "profile.get",
        idq.Get(workspace_id=workspace_id, profile_id=profile_id),
        None,
        "the visitor's profile",
    )
    return profile if isinstance(profile, dict) else None


async def recent_events(
    notices: Notices, workspace_id: str, profile: dict[str, Any] | None
) -> dict[str, Any]:
    if not profile:
        return {"events": []}
    return await notices.ask(
        "identity",
        "profile.events",
        idq.Events(workspace_id=workspace_id, profile_id=profile["id"], limit=EVENTS_SHOWN),
        {"events": []},
        "recent events",
    )


async def email_replies_of(
    notices: Notices,
    workspace_id: str,
    profile: dict[str, Any] | None,
    conversation: dict[str, Any],
) -> str:
    """Whether the address gets conversation emails: "on", "off" (it unsubscribed),
    "none" (no address) or "unknown" (mail did not answer: a detail, no notice for it)."""
    email = (profile or {}).get("email") or conversation.get("email")
    if not email:
        return "none"
    try:
        payload = {"workspace_id": workspace_id, "email": email}
        status = await ask(notices.app, "mail", "status", payload, timeout=1.0)
    except BusError:
        return "unknown"
    return str(status.get("email_replies") or "unknown")


async def load(
    app: web.Application, workspace_id: str, conversation: dict[str, Any], notices: Notices
) -> dict[str, Any]:
    profile = await profile_for(notices, workspace_id, conversation)
    by_profile = chatq.ConversationsByProfile(
        workspace_id=workspace_id, exclude_id=conversation["id"], limit=PREVIOUS_SHOWN
    )
    if profile:
        by_profile.profile_id = profile["id"]
    else:
        by_profile.distinct_ids = [d for d in [conversation.get("distinct_id")] if d]
    previous_req = notices.ask(
        "chat",
        "conversations.by_profile",
        by_profile,
        {"conversations": []},
        "previous conversations",
    )
    events, previous = await asyncio.gather(
        recent_events(notices, workspace_id, profile), previous_req
    )
    person = person_from(profile, conversation) if profile else fallback_person(conversation)
    email_replies = await email_replies_of(notices, workspace_id, profile, conversation)
    return {
        "email_replies": email_replies,
        "profile": profile or {},
        "person": person,
        "events": (events or {}).get("events") or [],
        "previous": (previous or {}).get("conversations") or [],
        "conversation": conversation,
        "device": device(profile),
    }
