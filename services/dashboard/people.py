"""Who is behind each conversation: identity's profile summaries, fetched in one request.

Chat's summaries carry ids only (`profile_id`, null until identity resolved the
visitor; `distinct_id`; the last `email` given). Rows need a name and a stage, so
the dashboard asks identity for the whole page at once and resolves the few
without a profile id by their distinct id, in the same request.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.dashboard.ask import TIMEOUT, Notices, ask
from shared.errors import BusError
from shared.schema.identity_requests import Summaries

MAX_ASK = 200  # identity's bulk limit per list


def short_id(value: str) -> str:
    """Enough of a long random id to tell visitors apart in a list."""
    return value if len(value) <= 12 else value[-6:]


def fallback_person(conversation: dict[str, Any]) -> dict[str, Any]:
    """What the conversation itself says when identity cannot be asked."""
    email = conversation.get("email")
    visitor = str(conversation.get("visitor_id") or conversation.get("distinct_id") or "")
    return {
        "id": conversation.get("profile_id"),
        "name": None,
        "email": email,
        "user_id": None,
        "stage": "contact" if email else "visitor",
        "label": email or (f"Visitor {short_id(visitor)}" if visitor else "Visitor"),
    }


def person_from(profile: dict[str, Any], conversation: dict[str, Any]) -> dict[str, Any]:
    person = fallback_person(conversation)
    person.update(
        {
            "id": profile.get("id") or person["id"],
            "name": profile.get("name"),
            "email": profile.get("email") or person["email"],
            "user_id": profile.get("user_id"),
            "stage": profile.get("stage") or person["stage"],
        }
    )
    person["label"] = person["name"] or person["email"] or person["user_id"] or person["label"]
    return person


def _keyed(found: Any) -> dict[str, dict[str, Any]]:
    """`{asked id: summary | null}` (a merged-away id maps to its survivor), or a plain list."""
    if isinstance(found, dict):
        return {k: v for k, v in found.items() if isinstance(v, dict)}
    if isinstance(found, list):
        return {p["id"]: p for p in found if isinstance(p, dict) and p.get("id")}
    return {}


async def _summaries(
    app: web.Application,
    workspace_id: str,
    ids: list[str],
    distinct_ids: list[str],
    timeout: float,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    if not ids and not distinct_ids:
        return {}, {}
    result = await ask(
        app,
        "identity",
        "profile.summaries",
        Summaries(workspace_id=workspace_id, ids=ids, distinct_ids=distinct_ids),
        timeout=timeout,
    )
    if not isinstance(result, dict):
        return {}, {}
    return _keyed(result.get("profiles")), _keyed(result.get("distinct_ids"))


async def people_for(
    app: web.Application,
    workspace_id: str,
    conversations: list[dict[str, Any]],
    notices: Notices | None = None,
    timeout: float = TIMEOUT,
) -> dict[str, dict[str, Any]]:
    """conversation id -> person {id, name, email, user_id, stage, label}."""
    people = {c["id"]: fallback_person(c) for c in conversations}
    ids = sorted({c["profile_id"] for c in conversations if c.get("profile_id")})
    # chat learns the profile id lazily: until then, ask by the visitor's distinct id
    dids = sorted(
        {
            c["distinct_id"]
            for c in conversations
            if not c.get("profile_id") and c.get("distinct_id")
        }
    )
    try:
        by_id, by_did = await _summaries(app, workspace_id, ids[:MAX_ASK], dids[:MAX_ASK], timeout)
    except BusError:
        if notices:
            notices.add("Identity is not answering right now: names and stages may be missing.")
        return people
    for conversation in conversations:
        profile = by_id.get(conversation.get("profile_id") or "") or (
            None
            if conversation.get("profile_id")
            else by_did.get(conversation.get("distinct_id") or "")
        )
        if profile:
            people[conversation["id"]] = person_from(profile, conversation)
    return people
