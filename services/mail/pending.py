"""The rules both pending boxes share (services/mail/store/pending.py): what is still
unseen, settling after an email (or a decision not to send one), looking again later."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.mail.store import PendingBox
from shared import clock


def parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def done_seq(pending: dict[str, Any]) -> int:
    return max(pending.get("seen_seq", 0), pending.get("mailed_seq", 0))


def unseen(pending: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages neither seen nor emailed yet, oldest first."""
    msgs = [m for m in (pending.get("msgs") or {}).values() if m["seq"] > done_seq(pending)]
    return sorted(msgs, key=lambda m: m["seq"])


async def hold(
    box: PendingBox,
    fact: dict[str, Any],
    delay_s: float,
    fields: tuple[str, ...],
    **kept: Any,
) -> bool:
    """The message of a chat fact into `box` (its conversation's `fields`, plus `kept`),
    due `delay_s` after chat wrote it; True when that is already now."""
    message = fact["message"]
    created = parse_time(message["created_at"])
    due = created + timedelta(seconds=delay_s)
    conversation = {k: fact.get(k) for k in fields}
    entry = {"seq": message["seq"], "text": message["text"], **kept, "created_at": created}
    await box.add_unseen(conversation, entry, due)
    return due <= clock.now()


async def settle(box: PendingBox, pending: dict[str, Any], mailed_seq: int, delay_s: int) -> None:
    """Forget what is seen or mailed; due again only for messages newer than that."""
    cid = pending["_id"]
    await box.settle(cid, mailed_seq, None)
    after = await box.pending_of(cid)
    if after is None:
        return
    stale = [m["seq"] for m in (after.get("msgs") or {}).values() if m["seq"] <= done_seq(after)]
    await box.forget_up_to(cid, stale)
    if rest := unseen(after):
        due = parse_time(rest[0]["created_at"]) + timedelta(seconds=delay_s)
        await box.add_unseen({"conversation_id": cid}, rest[0], due)


async def later(box: PendingBox, pending: dict[str, Any], seconds: float) -> None:
    await box.settle(pending["_id"], 0, clock.now() + timedelta(seconds=seconds))
