"""Visitor messages and email-prompt answers from the gateway, stored a batch at a time.

Per batch: store first (idempotent by client_msg_id, seqs in arrival order per
conversation), then the email events (durable), then the live frames. A failure
anywhere raises; the consumer then redoes the batch one message at a time, and a
retry finds what is stored and finishes the remaining steps.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

from services.chat import facts
from services.chat.context import ChatContext
from services.chat.email_detect import email_event, email_in
from services.chat.fold import fold_stage, may_be_stored
from services.chat.store import Stored, alloc_field, new_conversation
from shared import clock
from shared.errors import PermanentError
from shared.events import parse_time
from shared.identifiers import normalize_email
from shared.schema.chat_inbound import MailNote, MailReply, VisitorMessage, read_inbound
from shared.schema.live import VisitorContact

SYSTEM = {"kind": "system", "id": None, "name": "Parley", "avatar": None}


@dataclass(frozen=True, eq=False)  # each delivery is its own item
class Inbound:
    """One message to store: a visitor's (from the gateway) or an agent's (agent.send)."""

    kind: str
    workspace_id: str
    visitor_id: str
    distinct_id: str
    client_msg_id: str
    text: str
    author: dict[str, Any]
    email: str | None
    via: str | None = None  # "email": a reply by email (services/mail)
    internal: bool = False  # a note for the agents only (mail: another sender, a bounce)
    sent_at: datetime | None = None  # when the gateway took it (how long it waited)
    activity: dict[str, Any] | None = None  # an activity line's parts (services/chat/activity.py)


def _from_mail(record: MailReply | MailNote) -> tuple[str, dict[str, Any], bool]:
    """The text, author and internal flag of a record from the mail service."""
    if isinstance(record, MailNote):
        return record.text, SYSTEM, True
    if record.from_other_address:
        sender = normalize_email(record.sender) or "an unknown address"
        author = {**SYSTEM, "name": "Email from another address"}
        return f"From {sender} (not the address we emailed):\n{record.text}", author, True
    visitor = {"kind": "visitor", "id": record.visitor_id, "name": None, "avatar": None}
    return record.text, visitor, False


def parse_inbound(ctx: ChatContext, payload: dict[str, Any]) -> Inbound:
    """A checked inbound message, or a PermanentError saying why it can never apply."""
    record = read_inbound(payload)  # shared/schema/chat_inbound.py, as its sender built it
    ctx.workspace(record.workspace_id)
    if isinstance(record, MailReply | MailNote):
        text, author, internal = _from_mail(record)
        is_reply = isinstance(record, MailReply)
        return Inbound(
            "mail.reply" if is_reply else "mail.note",
            record.workspace_id,
            record.visitor_id,
            record.distinct_id,
            record.client_msg_id,
            text,
            author,
            None,
            "email" if is_reply else None,
            internal,
        )
    if isinstance(record, VisitorMessage):
        kind, text = "visitor.message", record.text
        # from a continue link's socket: it may post in the conversation, not change the person
        email = None if record.scope == "conversation" else email_in(text)
        author = {"kind": "visitor", "id": record.visitor_id, "name": None, "avatar": None}
    else:
        email = normalize_email(record.email)
        if email is None:
            raise PermanentError("email is not a valid address", code="bad_email")
        kind, text, author = "visitor.email", f"The visitor left their email: {email}", SYSTEM
    return Inbound(
        kind,
        record.workspace_id,
        record.visitor_id,
        record.distinct_id,
        record.client_msg_id,
        text,
        author,
        email,
        sent_at=parse_time(record.sent_at),
    )


async def apply_inbound(ctx: ChatContext, items: list[Inbound]) -> list[Stored]:
    """Store, announce and publish `items` (in arrival order); one Stored per item."""
    by_ws: dict[str, list[Inbound]] = defaultdict(list)
    for item in items:
        by_ws[item.workspace_id].append(item)
    stored: dict[Inbound, Stored] = {}
    for ws, group in by_ws.items():
        stored.update(await store_batch(ctx, ws, group))
    results = [stored[item] for item in items]
    await _announce_emails(ctx, items, results)
    for result in results:
        await ctx.live.message(result.message, result.conversation)
    pairs = [(r.message, r.conversation) for r in results]
    await facts.visitor_messages(ctx.bus, pairs)
    await facts.conversations_created(ctx.bus, pairs)
    await _confirm_emails(ctx, items)
    for conversation in {r.conversation["_id"]: r.conversation for r in results}.values():
        ctx.resolver.schedule(conversation)
    return results


MessageKey = tuple[str, str]  # (conversation id, client_msg_id)


@dataclass
class _Batch:
    """One workspace's share of a batch, as the phases of `_store` fill it in."""

    ws: str
    items: list[Inbound]
    visitors: list[str]  # in arrival order, once each
    latest: dict[str, str]  # visitor -> the distinct id its last message came with
    convs: dict[str, dict[str, Any]]  # visitor -> conversation
    known: dict[MessageKey, dict[str, Any]]  # messages stored before (or by another worker)
    fresh: dict[str, dict[str, Inbound]]  # visitor -> client id -> item not stored yet
    ids: dict[str, list[str]]  # visitor -> new message ids, one per fresh item
    born: dict[str, dict[str, Any]] = field(default_factory=dict)  # conversations we made
    reserved: dict[str, int] = field(default_factory=dict)  # conversation -> top seq


@dataclass
class _Inserted:
    """What `insert_messages` made of our new messages."""

    mine: dict[str, dict[str, Any]]  # message id -> ours, stored
    theirs: set[MessageKey]  # stored meanwhile by another worker
    dropped: dict[str, list[str]]  # conversation -> our message ids that lost


async def store_batch(
    ctx: ChatContext,
    ws: str,
    items: list[Inbound],
    convs: dict[str, dict[str, Any]] | None = None,
) -> dict[Inbound, Stored]:
    """Store one workspace's `items`, a few round trips for the whole batch; `convs`
    (visitor id -> conversation) when the caller has read them already."""
    batch = await _read(ctx, ws, items, convs)
    await _open_conversations(ctx, batch)
    field_name = alloc_field()
    tops = await _reserve_seqs(ctx, batch, field_name)
    inserted = await _insert(ctx, batch, tops)
    after = await _fold(ctx, batch, inserted, field_name)
    out: dict[Inbound, Stored] = {}
    for item in items:
        conv = batch.convs[item.visitor_id]
        msg = batch.known[(conv["_id"], item.client_msg_id)]
        out[item] = Stored(msg, after.get(conv["_id"]) or conv, msg["_id"] in inserted.mine)
    return out


async def _read(
    ctx: ChatContext, ws: str, items: list[Inbound], convs: dict[str, dict[str, Any]] | None
) -> _Batch:
    """The visitors' conversations, which messages are stored already, which are new."""
    visitors = list(dict.fromkeys(i.visitor_id for i in items))
    if convs is None:
        convs = await ctx.store.conversations_of(ws, visitors)
    asked: dict[str, set[str]] = defaultdict(set)
    for item in items:
        conv = convs.get(item.visitor_id)
        if conv is not None and may_be_stored(conv, item.client_msg_id):
            asked[conv["_id"]].add(item.client_msg_id)
    known = await ctx.store.existing_messages(ws, {c: sorted(ids) for c, ids in asked.items()})
    fresh: dict[str, dict[str, Inbound]] = defaultdict(dict)
    for item in items:
        conv = convs.get(item.visitor_id)
        if conv is None or (conv["_id"], item.client_msg_id) not in known:
            fresh[item.visitor_id].setdefault(item.client_msg_id, item)
    ids = {v: [str(ObjectId()) for _ in news] for v, news in fresh.items()}
    latest = {i.visitor_id: i.distinct_id for i in items}
    return _Batch(ws, items, visitors, latest, convs, known, fresh, ids)


async def _open_conversations(ctx: ChatContext, batch: _Batch) -> None:
    """New conversations are born with their seqs taken (another worker may be first)."""
    at = clock.now()
    born = {
        v: {
            **new_conversation(batch.ws, v, batch.latest[v], at),
            "last_seq": len(news),
            "unfolded": batch.ids[v],
        }
        for v, news in batch.fresh.items()
        if v not in batch.convs
    }
    if lost := await ctx.store.create_conversations(list(born.values())):
        for doc in lost:
            born.pop(doc["visitor_id"])
        lost_visitors = [d["visitor_id"] for d in lost]
        batch.convs.update(await ctx.store.conversations_of(batch.ws, lost_visitors))
    batch.convs.update(born)
    batch.born = born


async def _reserve_seqs(ctx: ChatContext, batch: _Batch, field_name: str) -> dict[str, int]:
    """The other conversations reserve their seqs in bulk; conversation -> top seq."""
    wanted = {batch.convs[v]["_id"]: batch.ids[v] for v in batch.fresh if v not in batch.born}
    batch.reserved = await ctx.store.reserve(batch.ws, wanted, field_name)
    return {**batch.reserved, **{doc["_id"]: doc["last_seq"] for doc in batch.born.values()}}


async def _insert(ctx: ChatContext, batch: _Batch, tops: dict[str, int]) -> _Inserted:
    docs: list[dict[str, Any]] = []
    for v, news in batch.fresh.items():
        cid = batch.convs[v]["_id"]
        first = tops[cid] - len(news) + 1
        for n, (mid, item) in enumerate(zip(batch.ids[v], news.values(), strict=True)):
            docs.append(_message(batch.ws, cid, mid, item, first + n))
    refused = await ctx.store.insert_messages(docs)
    if refused:  # stored meanwhile by another worker: theirs is the message
        lost_ids: dict[str, list[str]] = defaultdict(list)
        for doc in refused:
            lost_ids[doc["conversation_id"]].append(doc["client_msg_id"])
        batch.known.update(await ctx.store.existing_messages(batch.ws, lost_ids))
    dropped: dict[str, list[str]] = defaultdict(list)
    for doc in refused:
        dropped[doc["conversation_id"]].append(doc["_id"])
    refused_ids = {d["_id"] for d in refused}
    theirs = {(d["conversation_id"], d["client_msg_id"]) for d in refused}
    mine = {d["_id"]: d for d in docs if d["_id"] not in refused_ids}
    batch.known.update({(d["conversation_id"], d["client_msg_id"]): d for d in mine.values()})
    return _Inserted(mine, theirs, dropped)


async def _fold(
    ctx: ChatContext, batch: _Batch, inserted: _Inserted, field_name: str
) -> dict[str, dict[str, Any]]:
    """Fold ours, and any a failed try stored without folding (the fold counts each once);
    conversation id -> the conversation after."""
    folding: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    emails: dict[str, str] = {}
    for item in batch.items:
        conv = batch.convs[item.visitor_id]
        key = (conv["_id"], item.client_msg_id)
        msg = batch.known[key]
        ours = msg["_id"] in inserted.mine or msg["_id"] in conv.get("unfolded", ())
        if ours or key in inserted.theirs:
            folding[conv["_id"]][msg["_id"]] = msg
            if item.email:
                emails[conv["_id"]] = item.email
    stages = {}
    for v in batch.visitors:
        conv = batch.convs[v]
        cid = conv["_id"]
        moved = batch.latest[v] if conv.get("distinct_id") != batch.latest[v] else None
        if cid in folding or cid in batch.reserved or cid in inserted.dropped or moved:
            msgs = sorted(folding[cid].values(), key=lambda m: m["seq"])
            stages[cid] = fold_stage(msgs, emails.get(cid), moved, inserted.dropped.get(cid, ()))
    return await ctx.store.fold(batch.ws, stages, drop=field_name if batch.reserved else None)


def _message(ws: str, cid: str, mid: str, item: Inbound, seq: int) -> dict[str, Any]:
    return {
        "_id": mid,
        "workspace_id": ws,
        "conversation_id": cid,
        "client_msg_id": item.client_msg_id,
        "seq": seq,
        "author": item.author,
        "text": item.text,
        "created_at": clock.now(),
        # the prompt's record is the agents' line; the visitor gets a `contact` frame
        "internal": item.internal or item.kind == "visitor.email",
        **({"via": item.via} if item.via else {}),
        **({"kind": "activity", "activity": item.activity} if item.activity else {}),
    }


async def _confirm_emails(ctx: ChatContext, items: list[Inbound]) -> None:
    """Tell the visitor's widgets which address we will write to (the last one given)."""
    latest = {(i.workspace_id, i.visitor_id): i.email for i in items if i.email}
    for (ws, visitor_id), email in latest.items():
        await ctx.live.to_visitor(ws, visitor_id, VisitorContact(email=email))


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
