"""How stored messages change their conversation: one pipeline `$set`, for one or many.

Pure: message documents in, the update stage out. A conversation lists in
`unfolded` the ids of messages whose seq it reserved and that are not folded in
yet; the stage counts and wakes only for ids still listed and removes them, so
folding the same message twice (a redelivery after a crash) changes nothing, and
no per-message "applied" write is needed. The preview moves only to a higher seq
and activity only forward, so folds beside concurrent writers are safe too.
"""

from __future__ import annotations

from typing import Any

from services.chat import search_terms as st
from services.chat.model import PREVIEW
from shared import clock

UNFOLDED = {"$ifNull": ["$unfolded", []]}
# the client ids of a conversation's latest messages, so a batch knows without a query
# that a message is new; null on a conversation from before the list (always asked)
RECENT_IDS = "recent_client_ids"
RECENT_KEPT = 50


def may_be_stored(conversation: dict[str, Any], client_msg_id: str) -> bool:
    """Could a message with this client id be stored in the conversation already?

    No when the conversation keeps its recent client ids, this one is not among them
    and nothing is half done (`unfolded` empty: no try stored without folding). An
    older retry than the list keeps is still stored once (the unique index refuses
    the copy), at the cost of a gap in the seqs.
    """
    recent = conversation.get(RECENT_IDS)
    if not isinstance(recent, list) or conversation.get("unfolded"):
        return True
    return client_msg_id in recent


def _remember(client_ids: list[str]) -> dict[str, Any]:
    field = f"${RECENT_IDS}"
    kept = {"$slice": [{"$concatArrays": [field, {"$literal": client_ids}]}, -RECENT_KEPT]}
    return {"$cond": [{"$isArray": field}, kept, None]}


def _pending(ids: list[str]) -> dict[str, Any]:
    """How many of `ids` the conversation still waits to fold."""
    return {"$size": {"$setIntersection": [UNFOLDED, {"$literal": ids}]}}


def _if_pending(ids: list[str], then: Any, otherwise: Any) -> dict[str, Any]:
    return {"$cond": [{"$gt": [_pending(ids), 0]}, then, otherwise]}


def fold_stage(
    messages: list[dict[str, Any]],
    email: str | None = None,
    distinct_id: str | None = None,
    dropped: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """The `$set` stage folding stored `messages` into their conversation.

    `email`: the last one the visitor gave in them. `distinct_id`: the visitor's
    current distinct id; a change clears the profile id so it is resolved again.
    `dropped`: reserved ids that were never stored (another worker stored the
    message first): forgotten without counting.
    """
    ids = [m["_id"] for m in messages]
    changes: dict[str, Any] = {"updated_at": clock.now()}
    said = [m for m in messages if m.get("kind") != "activity"]  # history lines move nothing
    if said:
        last = max(said, key=lambda m: m["seq"])
        preview = {
            "text": last["text"][:PREVIEW],
            "author_kind": last["author"]["kind"],
            "created_at": last["created_at"],
            "seq": last["seq"],
            "internal": last["internal"],
        }
        newer = {"$gt": [last["seq"], {"$ifNull": ["$last_message.seq", 0]}]}
        changes["last_message"] = {"$cond": [newer, {"$literal": preview}, "$last_message"]}
        latest = max(m["created_at"] for m in said)
        changes["last_activity_at"] = {"$max": ["$last_activity_at", latest]}
    if messages:
        changes[RECENT_IDS] = _remember([m["client_msg_id"] for m in messages])
        visitor_ids = [m["_id"] for m in messages if m["author"]["kind"] == "visitor"]
        if visitor_ids:
            changes["visitor_count"] = {
                "$add": [{"$ifNull": ["$visitor_count", 0]}, _pending(visitor_ids)]
            }
            wake = {
                "$and": [
                    {"$gt": [_pending(visitor_ids), 0]},
                    {"$in": ["$status", ["resolved", "snoozed"]]},
                ]
            }
            changes["status"] = {"$cond": [wake, "open", "$status"]}
            changes["snoozed_until"] = {"$cond": [wake, None, "$snoozed_until"]}
        replies = [m for m in messages if m["author"]["kind"] == "agent" and not m["internal"]]
        if replies:
            takes = {"$ifNull": ["$assignee_id", {"$literal": replies[0]["author"]["id"]}]}
            reply_ids = [m["_id"] for m in replies]
            changes["assignee_id"] = _if_pending(reply_ids, takes, "$assignee_id")
            # the first reply's time, once: what "usually replies in" is measured from
            first = min(m["created_at"] for m in replies)
            once = {"$ifNull": ["$first_reply_at", {"$literal": first}]}
            changes["first_reply_at"] = _if_pending(reply_ids, once, "$first_reply_at")
    if email:
        changes["email"] = _if_pending(ids, {"$literal": email}, "$email")
    changes.update(search_changes(messages, email))
    if distinct_id is not None:
        same = {"$eq": ["$distinct_id", {"$literal": distinct_id}]}
        changes["profile_id"] = {"$cond": [same, "$profile_id", None]}
        changes["distinct_id"] = {"$literal": distinct_id}
    if ids or dropped:
        changes["unfolded"] = {"$setDifference": [UNFOLDED, {"$literal": [*ids, *dropped]}]}
    return {"$set": changes}


def search_changes(messages: list[dict[str, Any]], email: str | None) -> dict[str, Any]:
    """The search terms' part of a fold: the messages' words join `search_words` (the
    first st.MAX_WORDS kept), a given email the person's terms, and `search_terms` (the
    indexed field) is the union of both (services/chat/search_terms.py)."""
    found = st.message_words(m["text"] for m in messages)
    if not found and not email:
        return {}
    words: Any = {"$ifNull": ["$search_words", []]}
    person: Any = {"$ifNull": ["$search_person", []]}
    changes: dict[str, Any] = {}
    if found:
        union = {"$setUnion": [words, {"$literal": found}]}
        words = changes["search_words"] = {"$slice": [union, st.MAX_WORDS]}
    if email:
        person = changes["search_person"] = {
            "$setUnion": [person, {"$literal": st.person_terms(email=email)}]
        }
    changes["search_terms"] = {"$setUnion": [words, person]}
    return changes
