"""Visitor messages and email-prompt answers from the gateway, stored a batch at a time.

Per batch: store first (idempotent by client_msg_id, seqs in arrival order per
conversation), then the email events (durable), then the live frames. A failure
anywhere raises; the consumer then redoes the batch one message at a time, and a
retry finds what is stored and finishes the remaining steps.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from services.chat.context import ChatContext
from services.chat.email_detect import email_event, email_in
from services.chat.fold import fold_stage
from services.chat.model import now, req_id, req_text
from services.chat.store import Stored, alloc_field, new_conversation
from shared.errors import PermanentError
from shared.identifiers import normalize_email
from shared.schema.chat_requests import CLIENT_MSG_ID_PATTERN

CLIENT_MSG_ID = re.compile(CLIENT_MSG_ID_PATTERN)
SYSTEM = {"kind": "system", "id": None, "name": "Parley", "avatar": None}


def client_msg_id_of(payload: dict[str, Any]) -> str:
    """A sender's own id for a message: any short token (it names no person)."""
    value = payload.get("client_msg_id")
    if not isinstance(value, str) or not CLIENT_MSG_ID.match(value):
        raise PermanentError("client_msg_id must be 1-100 letters, digits, - _ : .", code="invalid")
    return value


@dataclass(frozen=True, eq=False)  # each delivery is its own item
class Inbound:
    kind: str
    workspace_id: str
    visitor_id: str
    distinct_id: str
    client_msg_id: str
    text: str
    author: dict[str, Any]
    email: str | None


def parse_inbound(ctx: ChatContext, payload: dict[str, Any]) -> Inbound:
    """A checked inbound message, or a PermanentError saying why it can never apply."""
    kind = payload.get("type")
    if kind not in ("visitor.message", "visitor.email"):
        raise PermanentError(f"unknown inbound type {kind!r}", code="bad_type")
    ws = req_id(payload, "workspace_id")
    ctx.workspace(ws)
    visitor_id = req_id(payload, "visitor_id")
    distinct_id = req_id(payload, "distinct_id")
    client_msg_id = client_msg_id_of(payload)
    if kind == "visitor.message":
        text = req_text(payload, "text")
        email = email_in(text)
        author = {"kind": "visitor", "id": visitor_id, "name": None, "avatar": None}
    else:
        email = normalize_email(payload.get("email"))
        if email is None:
            raise PermanentError("email is not a valid address", code="bad_email")
        text = f"The visitor left their email: {email}"
        author = SYSTEM
    return Inbound(kind, ws, visitor_id, distinct_id, client_msg_id, text, author, email)


async def apply_inbound(ctx: ChatContext, items: list[Inbound]) -> list[Stored]:
    """Store, announce and publish `items` (in arrival order); one Stored per item."""
    by_ws: dict[str, list[Inbound]] = defaultdict(list)
    for item in items:
        by_ws[item.workspace_id].append(item)
    stored: dict[Inbound, Stored] = {}
    for ws, group in by_ws.items():
        stored.update(await _store(ctx, ws, group))
    results = [stored[item] for item in items]
    await _announce_emails(ctx, items, results)
    for result in results:
        await ctx.live.message(result.message, result.conversation)
    for conversation in {r.conversation["_id"]: r.conversation for r in results}.values():
        ctx.resolver.schedule(conversation)
    return results


async def _store(ctx: ChatContext, ws: str, items: list[Inbound]) -> dict[Inbound, Stored]:
    store = ctx.store
    visitors = list(dict.fromkeys(i.visitor_id for i in items))
    convs = await store.conversations_of(ws, visitors)
    asked: dict[str, set[str]] = defaultdict(set)
    for item in items:
        if (conv := convs.get(item.visitor_id)) is not None:
            asked[conv["_id"]].add(item.client_msg_id)
    known = await store.existing_messages(ws, {c: sorted(ids) for c, ids in asked.items()})
    fresh: dict[str, dict[str, Inbound]] = defaultdict(dict)  # visitor -> client id -> item
    for item in items:
        conv = convs.get(item.visitor_id)
        if conv is None or (conv["_id"], item.client_msg_id) not in known:
            fresh[item.visitor_id].setdefault(item.client_msg_id, item)
    ids = {v: [str(ObjectId()) for _ in news] for v, news in fresh.items()}
    latest = {i.visitor_id: i.distinct_id for i in items}

    # new conversations are born with their seqs taken; the others reserve theirs in bulk
    at = now()
    born = {
        v: {**new_conversation(ws, v, latest[v], at), "last_seq": len(news), "unfolded": ids[v]}
        for v, news in fresh.items()
        if v not in convs
    }
    if lost := await store.create_conversations(list(born.values())):  # another worker was first
        for doc in lost:
            born.pop(doc["visitor_id"])
        convs.update(await store.conversations_of(ws, [d["visitor_id"] for d in lost]))
    convs.update(born)
    field = alloc_field()
    reserved = await store.reserve(
        ws, {convs[v]["_id"]: ids[v] for v in fresh if v not in born}, field
    )
    tops = {**reserved, **{doc["_id"]: doc["last_seq"] for doc in born.values()}}

    docs: list[dict[str, Any]] = []
    for v, news in fresh.items():
        cid = convs[v]["_id"]
        first = tops[cid] - len(news) + 1
        for n, (mid, item) in enumerate(zip(ids[v], news.values(), strict=True)):
            docs.append(_message(ws, cid, mid, item, first + n))
    refused = await store.insert_messages(docs)
    if refused:  # stored meanwhile by another worker: theirs is the message
        lost_ids: dict[str, list[str]] = defaultdict(list)
        for doc in refused:
            lost_ids[doc["conversation_id"]].append(doc["client_msg_id"])
        known.update(await store.existing_messages(ws, lost_ids))
    dropped: dict[str, list[str]] = defaultdict(list)
    for doc in refused:
        dropped[doc["conversation_id"]].append(doc["_id"])
    refused_ids = {d["_id"] for d in refused}
    theirs = {(d["conversation_id"], d["client_msg_id"]) for d in refused}
    mine = {d["_id"]: d for d in docs if d["_id"] not in refused_ids}
    known.update({(d["conversation_id"], d["client_msg_id"]): d for d in mine.values()})

    # fold ours, and any a failed try stored without folding (the fold counts each once)
    folding: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    emails: dict[str, str] = {}
    for item in items:
        conv = convs[item.visitor_id]
        key = (conv["_id"], item.client_msg_id)
        msg = known[key]
        if msg["_id"] in mine or msg["_id"] in conv.get("unfolded", ()) or key in theirs:
            folding[conv["_id"]][msg["_id"]] = msg
            if item.email:
                emails[conv["_id"]] = item.email
    stages = {}
    for v in visitors:
        cid = convs[v]["_id"]
        moved = latest[v] if convs[v].get("distinct_id") != latest[v] else None
        if cid in folding or cid in reserved or cid in dropped or moved:
            msgs = sorted(folding[cid].values(), key=lambda m: m["seq"])
            stages[cid] = fold_stage(msgs, emails.get(cid), moved, dropped.get(cid, ()))
    after = await store.fold(ws, stages, drop=field if reserved else None)

    out: dict[Inbound, Stored] = {}
    for item in items:
        conv = convs[item.visitor_id]
        msg = known[(conv["_id"], item.client_msg_id)]
        out[item] = Stored(msg, after.get(conv["_id"]) or conv, msg["_id"] in mine)
    return out


def _message(ws: str, cid: str, mid: str, item: Inbound, seq: int) -> dict[str, Any]:
    return {
        "_id": mid,
        "workspace_id": ws,
        "conversation_id": cid,
        "client_msg_id": item.client_msg_id,
        "seq": seq,
        "author": item.author,
        "text": item.text,
        "created_at": now(),
        "internal": False,
    }


async def _announce_emails(ctx: ChatContext, items: list[Inbound], results: list[Stored]) -> None:
    """An email written in a message: identity hears of it (the prompt's came from the gateway)."""
    publishing = []
    for item, result in zip(items, results, strict=True):
        if item.kind == "visitor.message" and item.email:
            msg = result.message
            event = email_event(
                ws := item.workspace_id, item.distinct_id, item.email, msg["_id"], msg["created_at"]
            )
            publishing.append(
                ctx.bus.publish_durable(
                    ctx.bus.subjects.events(ws, "email"),
                    event.to_dict(),
                    f"{ws}:{event.message_id}",
                )
            )
    await asyncio.gather(*publishing)
