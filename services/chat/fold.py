"""How stored messages change their conversation: one pipeline `$set`, for one or many.

Pure: message documents in, the update stage out. It reads only the document it
updates, so folding is safe beside concurrent writers (the preview moves only to
a higher seq, activity only forward).
"""

from __future__ import annotations

from typing import Any

from services.chat.model import PREVIEW, now


def fold_stage(
    messages: list[dict[str, Any]],
    email: str | None = None,
    distinct_id: str | None = None,
) -> dict[str, Any]:
    """The `$set` stage folding `messages` (stored, not yet applied) into their conversation.

    `distinct_id`: the visitor's current distinct id; a change clears the profile id
    so it is resolved again.
    """
    changes: dict[str, Any] = {"updated_at": now()}
    if messages:
        last = max(messages, key=lambda m: m["seq"])
        preview = {
            "text": last["text"][:PREVIEW],
            "author_kind": last["author"]["kind"],
            "created_at": last["created_at"],
            "seq": last["seq"],
            "internal": last["internal"],
        }
        newer = {"$gt": [last["seq"], {"$ifNull": ["$last_message.seq", 0]}]}
        changes["last_message"] = {"$cond": [newer, {"$literal": preview}, "$last_message"]}
        latest = max(m["created_at"] for m in messages)
        changes["last_activity_at"] = {"$max": ["$last_activity_at", latest]}
        visitors = sum(m["author"]["kind"] == "visitor" for m in messages)
        if visitors:
            changes["visitor_count"] = {"$add": [{"$ifNull": ["$visitor_count", 0]}, visitors]}
            wake = {"$in": ["$status", ["resolved", "snoozed"]]}
            changes["status"] = {"$cond": [wake, "open", "$status"]}
            changes["snoozed_until"] = {"$cond": [wake, None, "$snoozed_until"]}
        replier = next(
            (m for m in messages if m["author"]["kind"] == "agent" and not m["internal"]), None
        )
        if replier is not None:
            changes["assignee_id"] = {
                "$ifNull": ["$assignee_id", {"$literal": replier["author"]["id"]}]
            }
    if email:
        changes["email"] = {"$literal": email}
    if distinct_id is not None:
        same = {"$eq": ["$distinct_id", {"$literal": distinct_id}]}
        changes["profile_id"] = {"$cond": [same, "$profile_id", None]}
        changes["distinct_id"] = {"$literal": distinct_id}
    return {"$set": changes}
