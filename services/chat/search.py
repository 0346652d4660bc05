"""`conversations.search`: the agents' conversation search (docs/bus-contract.md, chat).

Phases: read the query into terms and bounds, ask the store for a page, then find each
hit's matching message and cut its snippet into highlighted segments.
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.chat import search_terms as st
from services.chat.context import ChatContext
from services.chat.model import summary_of
from shared.events import parse_time
from shared.schema import builtins
from shared.schema import chat_requests as rq
from shared.schema.chat_replies import SearchHit, SearchPage


async def conversations_search(ctx: ChatContext, p: rq.ConversationsSearch) -> dict[str, Any]:
    ws = p.workspace_id
    ctx.workspace(ws)
    terms = st.query_terms(p.q)
    since = parse_time(p.since) if p.since else None
    until = parse_time(p.until) if p.until else None
    page, next_cursor = await ctx.store.search_page(
        ws, terms, p.page_size(), p.cursor, label=p.label, since=since, until=until
    )
    marks = (
        await ctx.store.read_marks(ws, p.agent_id, [d["_id"] for d in page]) if p.agent_id else {}
    )
    # each hit's message is its own small query: asked together, not one after another
    hits = await asyncio.gather(*(_hit(ctx, doc, terms, marks.get(doc["_id"], 0)) for doc in page))
    return builtins(SearchPage(hits=list(hits), terms=terms, next_cursor=next_cursor))


async def _hit(ctx: ChatContext, doc: dict[str, Any], terms: list[str], read: int) -> SearchHit:
    summary = summary_of(doc, max(0, doc.get("visitor_count", 0) - read))
    message = await ctx.store.matching_message(
        doc["workspace_id"], doc["_id"], terms, doc.get("last_seq", 0)
    )
    if message is None:
        preview = (doc.get("last_message") or {}).get("text") or ""
        return SearchHit(conversation=summary, message_seq=None, snippet=_cut(preview, terms))
    return SearchHit(
        conversation=summary, message_seq=message["seq"], snippet=_cut(message["text"], terms)
    )


def _cut(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    return st.highlight(st.snippet(text, terms), terms)
