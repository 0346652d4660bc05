"""Agents' messages (`agent.send`), stored a batch at a time like the visitors' (inbound.py).

Every request waits in one queue; a single worker takes whatever is waiting, reads
the conversations in one query and stores the lot through `store_batch` (a few round
trips per batch instead of about seven per message), then answers each request. At
low load a batch is one message and nothing waits; under load batches grow and the
database work per message falls. The client id makes a send idempotent: a retry (the
dashboard timed out, the agent pressed send again) answers the message stored first,
even when both are in the same batch.

Admission: once the oldest unanswered send has waited `MAX_WAIT` seconds (chat cannot
keep up; the dashboard gives up after 3 s), a new send is refused at once with `busy`
(stored nowhere, so the agent's retry stores it once) rather than timing out at the
dashboard while it is stored later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from services.chat import facts
from services.chat.inbound import Inbound, store_batch
from services.chat.model import message_out
from shared.errors import PermanentError
from shared.metrics import CHAT_MESSAGES
from shared.schema.chat_requests import AgentSend

if TYPE_CHECKING:
    from services.chat.context import ChatContext

log = logging.getLogger("parley.chat.agent_sends")

MAX_BATCH = 200
MAX_WAIT = 2.0


@dataclass(eq=False)
class _Waiting:
    send: AgentSend
    since: float = field(default_factory=time.monotonic)
    answer: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class AgentSends:
    def __init__(self, ctx: ChatContext, max_wait: float = MAX_WAIT) -> None:
        self.ctx = ctx
        self.max_wait = max_wait
        self._waiting: list[_Waiting] = []
        self._storing_since: float | None = None  # the batch being stored: its oldest
        self._wake = asyncio.Event()

    async def send(self, p: AgentSend) -> dict[str, Any]:
        """The `agent.send` handler: the stored message (MESSAGE), once per client id."""
        self.ctx.workspace(p.workspace_id)
        if self.behind() > self.max_wait:
            raise PermanentError("chat is busy: send again shortly", code="busy")
        waiting = _Waiting(p)
        self._waiting.append(waiting)
        self._wake.set()
        return await waiting.answer

    def behind(self) -> float:
        """How long the oldest unanswered send has waited (0 when none is waiting)."""
        oldest = self._waiting[0].since if self._waiting else self._storing_since
        return time.monotonic() - oldest if oldest is not None else 0.0

    async def run(self) -> None:
        """The worker: one batch at a time, until cancelled (then what waits hears so)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._waiting:
                    batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                    self._storing_since = batch[0].since
                    try:
                        await self._settle(batch)
                    finally:
                        self._storing_since = None
        finally:
            for waiting in self._waiting:
                _answer(waiting, PermanentError("chat is stopping", code="unavailable"))

    async def _settle(self, batch: list[_Waiting]) -> None:
        """Store a batch and answer each request; a failure answers all it touched."""
        by_ws: dict[str, list[_Waiting]] = defaultdict(list)
        for waiting in batch:
            by_ws[waiting.send.workspace_id].append(waiting)
        for ws, group in by_ws.items():
            try:
                await self._store(ws, group)
            except Exception as exc:  # noqa: BLE001 - each requester hears it (a 503 there)
                log.warning("agent sends failed: %r", exc)
                for waiting in group:
                    _answer(waiting, exc)

    async def _store(self, ws: str, group: list[_Waiting]) -> None:
        ctx = self.ctx
        wanted = list(dict.fromkeys(w.send.conversation_id for w in group))
        convs = await ctx.store.conversations_by_id(ws, wanted)
        items: dict[_Waiting, Inbound] = {}
        for waiting in group:
            conv = convs.get(waiting.send.conversation_id)
            if conv is None:
                _answer(waiting, PermanentError("conversation not found", code="not_found"))
                continue
            items[waiting] = _item(waiting.send, conv)
        by_visitor = {c["visitor_id"]: c for c in convs.values()}
        stored = await store_batch(ctx, ws, list(items.values()), by_visitor)
        for waiting, item in items.items():
            result = stored[item]
            await self._count_takeover(ws, convs[waiting.send.conversation_id], result.conversation)
            CHAT_MESSAGES.labels("out").inc(int(result.created and not item.internal))
            await ctx.live.message(result.message, result.conversation)
            await facts.agent_message(ctx.bus, result.message, result.conversation)
            _answer(waiting, message_out(result.message))

    async def _count_takeover(self, ws: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        """A first reply made the conversation the sender's: it counts in their load
        (services/chat/routing.py), like an assignment by hand."""
        taker = after.get("assignee_id")
        if taker and not before.get("assignee_id"):
            await self.ctx.store.take_slot(ws, taker, after["_id"], None)


def _answer(waiting: _Waiting, outcome: dict[str, Any] | Exception) -> None:
    """Answer once (a requester that went away has cancelled its future)."""
    if waiting.answer.done():
        return
    if isinstance(outcome, Exception):
        waiting.answer.set_exception(outcome)
    else:
        waiting.answer.set_result(outcome)


def _item(p: AgentSend, conversation: dict[str, Any]) -> Inbound:
    return Inbound(
        kind="agent.send",
        workspace_id=p.workspace_id,
        visitor_id=conversation["visitor_id"],
        distinct_id=conversation["distinct_id"],  # unchanged: an agent moves nobody
        client_msg_id=p.client_msg_id,
        text=p.text,
        author=p.agent.author("agent"),
        email=None,
        internal=p.internal,
    )
